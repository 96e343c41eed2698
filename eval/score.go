package eval

import (
	"context"
	"fmt"

	"github.com/mergetune/mergetune/results"
)

// Objectives a study may maximise (a study file's objective type):
// Scoring.Mean or Scoring.Normalized.
const (
	ObjectiveMean       = "mean"
	ObjectiveNormalized = "normalized"
)

// TaskAccuracy is one task's accuracy, the input of a Scoring, with
// its items' 95% interval (Wilson; both 0 when unknown).
type TaskAccuracy struct {
	Task     string
	Accuracy float64
	Lo, Hi   float64
}

// Accuracies lists task results' accuracies.
func Accuracies(res []*TaskResult) []TaskAccuracy {
	out := make([]TaskAccuracy, len(res))
	for i, r := range res {
		out[i] = TaskAccuracy{Task: r.Task, Accuracy: r.Accuracy, Lo: r.CI95[0], Hi: r.CI95[1]}
	}
	return out
}

// ScoreAccuracies lists recorded task scores' accuracies.
func ScoreAccuracies(scores []results.TaskScore) []TaskAccuracy {
	out := make([]TaskAccuracy, len(scores))
	for i, s := range scores {
		out[i] = TaskAccuracy{Task: s.Task, Accuracy: s.Accuracy, Lo: s.CILo, Hi: s.CIHi}
	}
	return out
}

// Scoring reduces task accuracies to one number: the one rule for a
// study's objective, extend's curve, the demo and the report.
//
// The mean is the weighted mean accuracy. The normalized accuracy is the
// weighted mean of each task's accuracy divided by the accuracy of the
// task's own model (the model tuned for it) on the task; a task whose own
// model scores 0 contributes its raw accuracy. A task without a model, or
// whose model has no recorded baseline on it, is an error: a normalized
// score that silently mixed raw and normalized accuracies would not be the
// number a study maximised.
type Scoring struct {
	// Normalize makes Objective the normalized accuracy (else the mean).
	Normalize bool
	// Weights are the tasks' weights by task name; a task not listed
	// (or listed with 0) weighs 1.
	Weights map[string]float64
	// TaskModel names the model tuned for a task ("" when none is).
	TaskModel func(task string) string
	// Baseline looks up a model's recorded accuracy on a task; ok is
	// false when there is none.
	Baseline func(ctx context.Context, model, task string) (b results.Baseline, ok bool, err error)
}

// weight is a task's weight.
func (s Scoring) weight(task string) float64 {
	if w := s.Weights[task]; w != 0 {
		return w
	}
	return 1
}

// Mean returns the weighted mean accuracy (0 without tasks).
func (s Scoring) Mean(accs []TaskAccuracy) float64 {
	var sum, wsum float64
	for _, a := range accs {
		w := s.weight(a.Task)
		sum += w * a.Accuracy
		wsum += w
	}
	if wsum == 0 {
		return 0
	}
	return sum / wsum
}

// Normalized returns the weighted mean normalized accuracy (0 without
// tasks), or an error naming the first task without a baseline.
func (s Scoring) Normalized(ctx context.Context, accs []TaskAccuracy) (float64, error) {
	norm := make([]TaskAccuracy, len(accs))
	for i, a := range accs {
		model := ""
		if s.TaskModel != nil {
			model = s.TaskModel(a.Task)
		}
		if model == "" {
			return 0, fmt.Errorf("normalized accuracy: no model is tagged with task %s", a.Task)
		}
		if s.Baseline == nil {
			return 0, fmt.Errorf("normalized accuracy: no baselines to normalize task %s by", a.Task)
		}
		b, ok, err := s.Baseline(ctx, model, a.Task)
		if err != nil {
			return 0, fmt.Errorf("normalized accuracy: baseline of %s on %s: %w", model, a.Task, err)
		}
		if !ok {
			return 0, fmt.Errorf("normalized accuracy: no baseline of %s on %s", model, a.Task)
		}
		norm[i] = a
		if b.Accuracy > 0 {
			norm[i].Accuracy /= b.Accuracy
		}
	}
	return s.Mean(norm), nil
}

// NormalizedInterval returns the items' 95% interval of the normalized
// accuracy: the normalized score of the tasks' interval ends (Lo, Hi),
// the tasks held fixed.
func (s Scoring) NormalizedInterval(ctx context.Context, accs []TaskAccuracy) (lo, hi float64, err error) {
	los, his := make([]TaskAccuracy, len(accs)), make([]TaskAccuracy, len(accs))
	for i, a := range accs {
		los[i] = TaskAccuracy{Task: a.Task, Accuracy: a.Lo}
		his[i] = TaskAccuracy{Task: a.Task, Accuracy: a.Hi}
	}
	if lo, err = s.Normalized(ctx, los); err != nil {
		return 0, 0, err
	}
	if hi, err = s.Normalized(ctx, his); err != nil {
		return 0, 0, err
	}
	return lo, hi, nil
}

// Objective returns the normalized accuracy with Normalize, else the
// mean.
func (s Scoring) Objective(ctx context.Context, accs []TaskAccuracy) (float64, error) {
	if s.Normalize {
		return s.Normalized(ctx, accs)
	}
	return s.Mean(accs), nil
}

// BaselineList serves Scoring.Baseline from baselines already read (of
// one study or baseline set).
func BaselineList(bs []results.Baseline) func(context.Context, string, string) (results.Baseline, bool, error) {
	return func(_ context.Context, model, task string) (results.Baseline, bool, error) {
		for _, b := range bs {
			if b.Model == model && b.Task == task {
				return b, true, nil
			}
		}
		return results.Baseline{}, false, nil
	}
}

// BaselineDB serves Scoring.Baseline from the baselines recorded in db
// under study (a study's name or a baseline set's).
func BaselineDB(db *results.DB, study string) func(context.Context, string, string) (results.Baseline, bool, error) {
	return func(ctx context.Context, model, task string) (results.Baseline, bool, error) {
		return db.Baseline(ctx, study, model, task)
	}
}
