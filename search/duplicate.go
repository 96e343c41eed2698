package search

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/mergetune/mergetune/results"
)

// Duplicate parameter sets. A sampler may propose a point that an earlier
// trial already has (a small discrete space, a model-based sampler that
// converged). Merging and evaluating it again would only spend time and
// budget on a known answer, so the later trial takes the earlier one's
// result: it is recorded with DuplicateOf, its objective (or pruned value)
// copied, and it uses its unit of the budget as any trial does. An earlier
// trial still running is waited for; one that failed is no answer and does
// not count (the later trial runs in its own right). Only earlier trials
// (lower numbers) count, so two trials never wait for each other.

// duplicateOf returns the earliest trial numbered below this one, finished
// (complete or pruned) with the same parameters, waiting while such a
// trial is still running. It returns nil when there is none.
func (w *worker) duplicateOf(ctx context.Context, trialID int) (*goptuna.FrozenTrial, error) {
	h := w.h
	for {
		me, err := h.st.Storage.GetTrial(trialID)
		if err != nil {
			return nil, fmt.Errorf("read trial: %w", err)
		}
		trials, err := h.st.Storage.GetAllTrials(h.st.StudyID)
		if err != nil {
			return nil, fmt.Errorf("list trials: %w", err)
		}
		sort.Slice(trials, func(a, b int) bool { return trials[a].Number < trials[b].Number })
		running := false
		for i, t := range trials {
			if t.Number >= me.Number || !maps.Equal(t.InternalParams, me.InternalParams) {
				continue
			}
			switch t.State {
			case goptuna.TrialStateComplete, goptuna.TrialStatePruned:
				return &trials[i], nil
			case goptuna.TrialStateRunning:
				running = true
			}
		}
		if !running {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(h.s.Heartbeat, 500*time.Millisecond)):
		}
	}
}

// reuse completes a trial with the result of orig, the earlier trial with
// the same parameters.
func (w *worker) reuse(ctx context.Context, trial goptuna.Trial, rec *results.TrialRecord, orig *goptuna.FrozenTrial) (float64, error) {
	h := w.h
	n := orig.Number
	rec.DuplicateOf = &n
	prev, ok, err := h.st.Results.Trial(ctx, h.s.Name, n)
	if err != nil {
		return 0, err
	}
	if ok {
		rec.ModelDigest = prev.ModelDigest
	}
	h.logf("trial %d has the parameters of trial %d: its result is reused, nothing merged", rec.Number, n)
	if orig.State != goptuna.TrialStatePruned {
		return orig.Value, nil
	}
	steps := make([]int, 0, len(orig.IntermediateValues))
	for s := range orig.IntermediateValues {
		steps = append(steps, s)
	}
	sort.Ints(steps)
	for _, s := range steps {
		if err := h.st.Storage.SetTrialIntermediateValue(trial.ID, s, orig.IntermediateValues[s]); err != nil {
			return 0, fmt.Errorf("report step %d: %w", s, err)
		}
	}
	return orig.Value, goptuna.ErrTrialPruned
}
