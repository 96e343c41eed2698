package search

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/merge"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/study"
)

// ExtendModel is one model to merge with a frozen recipe, with the tasks
// it was tuned for.
type ExtendModel struct {
	Path  string
	Tasks []*datasets.Task
}

// ExtendOptions tune Extend.
type ExtendOptions struct {
	// DB records every evaluation (runs, scores, items) and caches
	// answers; required.
	DB *results.DB
	// WorkDir receives the merged models (deleted after evaluation).
	WorkDir string
	// Backend evaluates the merges (nil: the built-in runner; cmd opens
	// the one its evaluator flags name, see package eval/backends) and
	// Host names it in the records.
	Backend eval.Backend
	Host    string
	// Compare also merges task arithmetic (its start values, lambda
	// 0.3: compareLambda) and TIES (its start values: weight 1, density
	// 0.5, lambda 1 by default) at each size.
	Compare bool
	// Parallel is the evaluation's concurrent requests (0:
	// eval.DefaultParallel).
	Parallel int
	// Seed seeds the random merge methods.
	Seed uint64
	// Progress, when set, receives each curve point as it is measured.
	Progress func(CurvePoint)
}

// CurvePoint is one merge of the extension curve.
type CurvePoint struct {
	Models     int     // models merged
	Method     string  // "recipe", "task_arithmetic" or "ties"
	Tasks      int     // tasks evaluated (those of the merged models)
	Mean       float64 // mean accuracy over the tasks
	Normalized float64 // normalized accuracy (eval.Scoring, unweighted): each task by its model's own accuracy
	MergeTime  time.Duration
	EvalTime   time.Duration
}

// Sizes are the numbers of models an extension merges: 2, 4, 8, … and n
// itself when it is not a power of two (1 when n is 1).
func Sizes(n int) []int {
	if n < 2 {
		return []int{n}
	}
	var out []int
	k := 2
	for ; k <= n; k *= 2 {
		out = append(out, k)
	}
	if out[len(out)-1] != n {
		out = append(out, n)
	}
	return out
}

// Extend merges the first 2, 4, 8, … models with the recipe (and, with
// Compare, with task arithmetic and TIES at their defaults), evaluates
// each merge on the tasks of the models merged so far and returns the
// curve of scores against the number of merged models. Each task model is
// also evaluated on its own tasks, for the normalized score.
func Extend(ctx context.Context, r *Recipe, models []ExtendModel, opt ExtendOptions) ([]CurvePoint, error) {
	if opt.DB == nil {
		return nil, fmt.Errorf("extend: no results database")
	}
	if len(models) == 0 {
		return nil, fmt.Errorf("extend: no models")
	}
	be := opt.Backend
	if be == nil {
		var err error
		if be, opt.Host, err = backends.All().Open(ctx, backends.Builtin, backends.Config{}); err != nil {
			return nil, fmt.Errorf("extend: %w", err)
		}
	}
	parallel := opt.Parallel
	if parallel < 1 {
		parallel = eval.DefaultParallel
	}
	evOpts := eval.Options{Parallel: parallel, Cache: eval.DBCache{DB: opt.DB}}
	// Each task model's own score on its tasks: the baselines of the
	// normalized score.
	own := extendScoring{model: map[string]string{}}
	for _, m := range models {
		c, err := openCandidate(ctx, nil, m.Path, merge.Options{}, be)
		if err != nil {
			return nil, fmt.Errorf("extend: %s: %w", m.Path, err)
		}
		res, err := evalTasks(ctx, c, m.Tasks, evOpts)
		if err == nil {
			_, err = c.record(ctx, opt.DB, opt.Host, res, nil)
		}
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("extend: %s: %w", m.Path, err)
		}
		for _, r := range res {
			own.model[r.Task] = m.Path
			own.baselines = append(own.baselines, results.Baseline{Model: m.Path, Task: r.Task, Accuracy: r.Accuracy})
		}
	}
	variants := []variant{{"recipe", r.Assignment}}
	if opt.Compare {
		variants = append(variants,
			variant{"task_arithmetic", func(n int) *study.Assignment {
				return study.Start("task_arithmetic", n, map[string]any{"lambda": compareLambda})
			}},
			variant{"ties", func(n int) *study.Assignment { return study.Start("ties", n, nil) }})
	}
	var curve []CurvePoint
	for _, k := range Sizes(len(models)) {
		paths := make([]string, k)
		var tasks []*datasets.Task
		for i, m := range models[:k] {
			paths[i] = m.Path
			tasks = append(tasks, m.Tasks...)
		}
		for _, v := range variants {
			p, err := extendOne(ctx, r, v.name, v.a(k), paths, tasks, own, be, evOpts, opt)
			if err != nil {
				return curve, err
			}
			curve = append(curve, p)
			if opt.Progress != nil {
				opt.Progress(p)
			}
		}
	}
	return curve, nil
}

// extendScoring holds each task's model (by task name) and the task
// models' scores on their own tasks.
type extendScoring struct {
	model     map[string]string
	baselines []results.Baseline
}

// scoring is the rule extend scores a merge by: unweighted, normalized by
// each task's own model.
func (e extendScoring) scoring() eval.Scoring {
	return eval.Scoring{Normalize: true, TaskModel: func(task string) string { return e.model[task] },
		Baseline: eval.BaselineList(e.baselines)}
}

// variant is one merge recipe of the extension curve.
type variant struct {
	name string
	a    func(n int) *study.Assignment
}

// compareLambda is task arithmetic's lambda in the comparison: 0.3,
// FusionBench's default for merging many task models, where the method's
// own default (1) adds every task vector in full.
const compareLambda = 0.3

func extendOne(ctx context.Context, r *Recipe, name string, a *study.Assignment, paths []string, tasks []*datasets.Task,
	own extendScoring, be eval.Backend, evOpts eval.Options, opt ExtendOptions) (CurvePoint, error) {
	k := len(paths)
	p := CurvePoint{Models: k, Method: name, Tasks: len(tasks)}
	d, err := a.Document(r.BaseModel, paths, r.Dtype)
	if err != nil {
		return p, fmt.Errorf("extend %s, %d models: %w", name, k, err)
	}
	cfg, err := d.Config(fmt.Sprintf("extend-%s-%d.yml", name, k), fmt.Sprintf("extend: %s, %d models", name, k))
	if err != nil {
		return p, fmt.Errorf("extend %s, %d models: config: %w", name, k, err)
	}
	dir := filepath.Join(opt.WorkDir, fmt.Sprintf("extend-%s-%d", name, k))
	defer os.RemoveAll(dir)
	c, err := openCandidate(ctx, cfg, dir, merge.Options{Seed: opt.Seed, Force: true}, be)
	if err != nil {
		return p, fmt.Errorf("extend %s, %d models: %w", name, k, err)
	}
	defer c.Close()
	p.MergeTime = c.mergeTime
	t0 := time.Now()
	res, err := evalTasks(ctx, c, tasks, evOpts)
	if err != nil {
		return p, fmt.Errorf("extend %s, %d models: %w", name, k, err)
	}
	p.EvalTime = time.Since(t0)
	sc := own.scoring()
	p.Mean = sc.Mean(eval.Accuracies(res))
	if p.Normalized, err = sc.Normalized(ctx, eval.Accuracies(res)); err != nil {
		return p, fmt.Errorf("extend %s, %d models: %w", name, k, err)
	}
	if _, err := c.record(ctx, opt.DB, opt.Host, res, nil); err != nil {
		return p, fmt.Errorf("extend %s, %d models: %w", name, k, err)
	}
	return p, nil
}

// CurveRecords converts Extend's curve of a recipe from study s (method
// m) into frozen curve points for the records (results.PutCurve). Points
// of Extend's comparison variants keep their own method name.
func CurveRecords(s, m string, pts []CurvePoint) []results.CurvePoint {
	out := make([]results.CurvePoint, 0, len(pts))
	for _, p := range pts {
		method := m
		if p.Method != "recipe" {
			method = p.Method
		}
		out = append(out, results.CurvePoint{Method: method, Variant: results.VariantFrozen, Study: s, Models: p.Models, Tasks: p.Tasks,
			Mean: p.Mean, Normalized: p.Normalized, MergeTime: p.MergeTime, EvalTime: p.EvalTime})
	}
	return out
}

// WriteCurveCSV writes the curve as CSV: models, method, tasks, mean,
// normalized, merge_s, eval_s.
func WriteCurveCSV(w io.Writer, curve []CurvePoint) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"models", "method", "tasks", "mean", "normalized", "merge_s", "eval_s"})
	for _, p := range curve {
		cw.Write([]string{strconv.Itoa(p.Models), p.Method, strconv.Itoa(p.Tasks),
			strconv.FormatFloat(p.Mean, 'f', 4, 64), strconv.FormatFloat(p.Normalized, 'f', 4, 64),
			strconv.FormatFloat(p.MergeTime.Seconds(), 'f', 3, 64), strconv.FormatFloat(p.EvalTime.Seconds(), 'f', 3, 64)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("extend: write curve: %w", err)
	}
	return nil
}

// ParseModelList splits a comma-separated list, dropping blanks.
func ParseModelList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
