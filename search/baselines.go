package search

import (
	"context"
	"fmt"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/study"
)

// BaselineMatrix is a set of unmerged models to score on a set of tasks:
// a study's base and task models on its tune and holdout tasks, or the
// demo's matrix of every model on every task.
type BaselineMatrix struct {
	DB  *results.DB
	Set string // the name the baselines are recorded under (a study's name)
	// Models are scored in order, each under its Name.
	Models  []study.Model
	Tasks   []*datasets.Task
	Backend eval.Backend
	Host    string // names the backend in the records
	Options eval.Options
	// WorkDir is where a model is written in the backend's candidate form
	// (a GGUF for Ollama: openReference) before it is opened, and removed
	// after ("": the temporary directory).
	WorkDir string
	// Done, when set, is called after model i was evaluated, with its
	// results (not for a model whose baselines were all recorded).
	Done func(i int, m study.Model, res []*eval.TaskResult)
}

// Baselines evaluates each model of the matrix on each task whose baseline
// is not recorded yet, records each score as a baseline of the set and
// each model's evaluation as a run (through the candidate path with
// nothing to merge).
func Baselines(ctx context.Context, b BaselineMatrix) error {
	for i, mdl := range b.Models {
		var todo []*datasets.Task
		for _, t := range b.Tasks {
			_, ok, err := b.DB.Baseline(ctx, b.Set, mdl.Name, t.Name)
			if err != nil {
				return fmt.Errorf("baseline %s on %s: %w", mdl.Name, t.Name, err)
			}
			if !ok {
				todo = append(todo, t)
			}
		}
		if len(todo) == 0 {
			continue
		}
		c, cleanup, err := openReference(ctx, mdl.Path, b.WorkDir, b.Backend)
		if err != nil {
			return fmt.Errorf("baseline model %s (%s): %w", mdl.Name, mdl.Path, err)
		}
		res, err := evalTasks(ctx, c, todo, b.Options)
		if err == nil {
			err = putBaselines(ctx, b, mdl.Name, c.Digest(), res)
		}
		if err == nil {
			_, err = c.record(ctx, b.DB, b.Host, res, nil)
		}
		c.Close()
		cleanup()
		if err != nil {
			return fmt.Errorf("baselines of %s: %w", mdl.Name, err)
		}
		if b.Done != nil {
			b.Done(i, mdl, res)
		}
	}
	return nil
}

// putBaselines records a model's results as baselines of the set.
func putBaselines(ctx context.Context, b BaselineMatrix, model, digest string, res []*eval.TaskResult) error {
	for _, r := range res {
		if err := b.DB.PutBaseline(ctx, results.Baseline{Study: b.Set, Model: model, Task: r.Task,
			Accuracy: r.Accuracy, N: r.N, CILo: r.CI95[0], CIHi: r.CI95[1], ModelDigest: digest}); err != nil {
			return err
		}
	}
	return nil
}
