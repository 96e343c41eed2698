package search

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/c-bata/goptuna"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/merge"
	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/optim"
	"github.com/mergetune/mergetune/search/study"
)

// BaseName is the name baselines of the base model are recorded under.
const BaseName = results.BaseName

// evaluate scores m on the tune tasks and returns the results and the
// objective. With a pruner the tune set is scored in chunks; after each
// chunk but the last the objective on the items so far is reported as an
// intermediate value, and goptuna.ErrTrialPruned is returned (with the
// partial results) when the pruner stops the trial.
func (w *worker) evaluate(ctx context.Context, m eval.Model, trial goptuna.Trial) ([]*eval.TaskResult, float64, error) {
	h := w.h
	opts := eval.Options{Parallel: h.s.Parallel, Cache: eval.DBCache{DB: h.st.Results}}
	chunks := 1
	if h.s.Pruner != optim.NoPruner {
		chunks = h.s.Chunks
	}
	items := make([][]eval.ItemResult, len(h.s.Tune))
	var res []*eval.TaskResult
	for c := range chunks {
		for i, t := range h.s.Tune {
			lo, hi := len(t.Items)*c/chunks, len(t.Items)*(c+1)/chunks
			if lo == hi {
				continue
			}
			sub := *t
			sub.Items = t.Items[lo:hi]
			r, err := eval.Evaluate(ctx, m, &sub, opts)
			if err != nil {
				return nil, 0, fmt.Errorf("evaluate task %s: %w", t.Name, err)
			}
			items[i] = append(items[i], r.Items...)
		}
		res = res[:0]
		for i, t := range h.s.Tune {
			res = append(res, eval.NewTaskResult(t, items[i]))
		}
		value, err := h.objectiveValue(ctx, res)
		if err != nil {
			return nil, 0, err
		}
		if c == chunks-1 {
			return res, value, nil
		}
		if err := trial.ShouldPrune(c, value); err != nil {
			if errors.Is(err, goptuna.ErrTrialPruned) {
				return res, value, err
			}
			return nil, 0, fmt.Errorf("pruner at step %d: %w", c, err)
		}
	}
	return res, 0, nil
}

// objectiveValue is the study's objective over task results (see
// Scoring).
func (h *harness) objectiveValue(ctx context.Context, res []*eval.TaskResult) (float64, error) {
	v, err := Scoring(h.s, eval.BaselineDB(h.st.Results, h.s.Name)).Objective(ctx, eval.Accuracies(res))
	if err != nil {
		return 0, fmt.Errorf("objective: %w", err)
	}
	return v, nil
}

// Scoring is a study's scoring rule: its objective (mean or normalized
// accuracy), its task weights and its task models, with its baselines
// looked up by baseline (eval.BaselineDB or eval.BaselineList).
func Scoring(s *study.Study, baseline func(context.Context, string, string) (results.Baseline, bool, error)) eval.Scoring {
	return eval.Scoring{Normalize: s.Objective == study.ObjectiveNormalized, Weights: s.Weights,
		TaskModel: s.TaskModel, Baseline: baseline}
}

// baselines evaluates the base model and every task model on every task
// (tune and holdout) once per study; cached baselines are kept.
func (h *harness) baselines(ctx context.Context) error {
	models := append([]study.Model{{Path: h.s.BaseModel, Name: BaseName}}, h.s.Models...)
	tasks := append(append([]*datasets.Task{}, h.s.Tune...), h.s.Holdout...)
	be, host, err := h.backend(ctx, 0)
	if err != nil {
		return err
	}
	err = Baselines(ctx, BaselineMatrix{DB: h.st.Results, Set: h.s.Name, Models: models, Tasks: tasks, Backend: be, Host: host, WorkDir: h.s.WorkDir,
		Options: eval.Options{Parallel: h.s.Parallel, Cache: eval.DBCache{DB: h.st.Results}},
		Done: func(_ int, m study.Model, res []*eval.TaskResult) {
			h.logf("baselines of %s: %d tasks", m.Name, len(res))
		}})
	if err != nil {
		return fmt.Errorf("search: study %s: %w", h.s.Name, err)
	}
	return nil
}

// holdout evaluates the best complete trial on the holdout tasks, once:
// from its kept merge, or merged again from its recorded configuration.
func (h *harness) holdout(ctx context.Context) ([]results.TaskScore, error) {
	if len(h.s.Holdout) == 0 {
		return nil, nil
	}
	best, err := bestOf(ctx, h.s, h.st.Results)
	if err != nil || best == nil {
		return nil, err
	}
	scores, err := h.st.Results.TrialTaskScores(ctx, h.s.Name, best.Number)
	if err != nil {
		return nil, fmt.Errorf("search: study %s: scores of trial %d: %w", h.s.Name, best.Number, err)
	}
	have := holdoutScores(scores)
	if len(have) >= len(h.s.Holdout) {
		return have, nil
	}
	dir := h.trialDir(best.Number)
	var cfg *config.Config // nil: the kept merge
	if _, err := os.Stat(dir); err != nil {
		dir += "-holdout"
		cfg, err = config.Parse([]byte(best.MergeYAML), fmt.Sprintf("%s-trial-%d.yml", h.s.Name, best.Number))
		if err != nil {
			return nil, fmt.Errorf("search: study %s: trial %d config: %w", h.s.Name, best.Number, err)
		}
		defer os.RemoveAll(dir)
	}
	key := best.Key()
	return h.scoreHoldout(ctx, cfg, dir, &key, fmt.Sprintf("holdout of trial %d", best.Number))
}

// BestTrial returns the complete trial with the highest objective (the
// lowest number on ties; results.BestTrial), or nil when none has
// completed.
func BestTrial(ctx context.Context, db *results.DB, name string) (*results.TrialRecord, error) {
	recs, err := db.Trials(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("search: study %s: list records: %w", name, err)
	}
	best, ok := results.BestTrial(recs)
	if !ok {
		return nil, nil
	}
	return &best, nil
}

// recipeHoldout freezes the best trial into a recipe, merges the recipe
// over the study's models and scores the merge on the holdout tasks, so
// the settings that extend will reuse are checked on data the search never
// saw. The run is recorded (not linked to a trial).
func (h *harness) recipeHoldout(ctx context.Context) ([]results.TaskScore, error) {
	// A greedy soup's best is a subset of the models, which a recipe
	// (settings for every model) cannot say: its holdout is the best
	// trial's own.
	if len(h.s.Holdout) == 0 || h.s.Search == study.SearchGreedySoup {
		return nil, nil
	}
	best, err := bestOf(ctx, h.s, h.st.Results)
	if err != nil || best == nil {
		return nil, err
	}
	r, err := FreezeYAML(best.MergeYAML)
	if err != nil {
		return nil, fmt.Errorf("search: study %s: freeze trial %d: %w", h.s.Name, best.Number, err)
	}
	paths := make([]string, len(h.s.Models))
	for i, m := range h.s.Models {
		paths[i] = m.Path
	}
	cfg, err := r.Config(paths, h.s.Name+"-recipe.yml", fmt.Sprintf("frozen recipe of %s trial %d", h.s.Name, best.Number))
	if err != nil {
		return nil, fmt.Errorf("search: study %s: recipe config: %w", h.s.Name, err)
	}
	dir := filepath.Join(h.s.WorkDir, "recipe-holdout")
	defer os.RemoveAll(dir)
	return h.scoreHoldout(ctx, cfg, dir, nil, "holdout of the frozen recipe")
}

// scoreHoldout scores a candidate (merged from cfg into dir, or the merge
// dir holds when cfg is nil) on the study's holdout tasks, records the
// evaluation (tied to trial when it is not nil) and returns the recorded
// scores.
func (h *harness) scoreHoldout(ctx context.Context, cfg *config.Config, dir string, trial *results.TrialKey, what string) ([]results.TaskScore, error) {
	be, host, err := h.backend(ctx, 0)
	if err != nil {
		return nil, err
	}
	c, err := openCandidate(ctx, cfg, dir, merge.Options{Seed: h.s.Seed, Force: true, Workers: h.opt.MergeWorkers}, be)
	if err != nil {
		return nil, fmt.Errorf("search: study %s: %s: %w", h.s.Name, what, err)
	}
	defer c.Close()
	res, err := evalTasks(ctx, c, h.s.Holdout, eval.Options{Parallel: h.s.Parallel, Cache: eval.DBCache{DB: h.st.Results}})
	if err != nil {
		return nil, fmt.Errorf("search: study %s: %s: %w", h.s.Name, what, err)
	}
	runID, err := c.record(ctx, h.st.Results, host, res, trial)
	if err != nil {
		return nil, fmt.Errorf("search: study %s: %s: %w", h.s.Name, what, err)
	}
	return h.st.Results.TaskScores(ctx, runID)
}
