package eval

import (
	"context"
	"fmt"
	"math"

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
	div, err := s.divisors(ctx, accs)
	if err != nil {
		return 0, err
	}
	norm := make([]TaskAccuracy, len(accs))
	for i, a := range accs {
		norm[i] = a
		norm[i].Accuracy /= div[i]
	}
	return s.Mean(norm), nil
}

// divisors are what each task's accuracy is divided by in the normalized
// score: its own model's accuracy on it, or 1 when that is 0.
func (s Scoring) divisors(ctx context.Context, accs []TaskAccuracy) ([]float64, error) {
	div := make([]float64, len(accs))
	for i, a := range accs {
		model := ""
		if s.TaskModel != nil {
			model = s.TaskModel(a.Task)
		}
		if model == "" {
			return nil, fmt.Errorf("normalized accuracy: no model is tagged with task %s", a.Task)
		}
		if s.Baseline == nil {
			return nil, fmt.Errorf("normalized accuracy: no baselines to normalize task %s by", a.Task)
		}
		b, ok, err := s.Baseline(ctx, model, a.Task)
		if err != nil {
			return nil, fmt.Errorf("normalized accuracy: baseline of %s on %s: %w", model, a.Task, err)
		}
		if !ok {
			return nil, fmt.Errorf("normalized accuracy: no baseline of %s on %s", model, a.Task)
		}
		div[i] = 1
		if b.Accuracy > 0 {
			div[i] = b.Accuracy
		}
	}
	return div, nil
}

// NormalizedInterval returns the items' 95% interval of the normalized
// accuracy, the tasks held fixed: each task's items are an independent
// sample, its standard error is read off its Wilson interval (the
// width over 2 × 1.96, so a task at 0 or 100% still has one), and the
// weighted mean of the normalized tasks gets the normal interval of their
// combined error, cut at 0. (Taking every task at its interval's end at
// once, as this did before, treats the tasks' errors as one and gives an
// interval √T times too wide for T tasks.)
func (s Scoring) NormalizedInterval(ctx context.Context, accs []TaskAccuracy) (lo, hi float64, err error) {
	div, err := s.divisors(ctx, accs)
	if err != nil {
		return 0, 0, err
	}
	norm := make([]TaskAccuracy, len(accs))
	var variance, wsum float64
	for i, a := range accs {
		norm[i] = a
		norm[i].Accuracy /= div[i]
		w := s.weight(a.Task)
		se := (a.Hi - a.Lo) / (2 * Z95) / div[i]
		variance += w * w * se * se
		wsum += w
	}
	if wsum == 0 {
		return 0, 0, nil
	}
	mid, half := s.Mean(norm), Z95*math.Sqrt(variance)/wsum
	return max(0, mid-half), mid + half, nil
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
