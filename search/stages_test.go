package search

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/results"
)

// TestTrialStages runs a study on the toy family with the built-in runner:
// every finished trial records its merge, load and evaluate stages, each
// taking time, together within the trial's wall time; the status shows
// their medians and the last trial's breakdown.
func TestTrialStages(t *testing.T) {
	s := writeStudy(t, t.TempDir(), `method: linear
space:
  weight: {type: float, low: 0.3, high: 1.0, scope: per_model}
sampler: {type: random, seed: 5}
trials: 3
workers: 1
`)
	ctx := context.Background()
	sum, err := Run(ctx, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := sum.Status
	if st.Complete != 3 {
		t.Fatalf("%d complete trials, want 3", st.Complete)
	}
	for _, r := range st.Trials {
		var names []string
		for _, x := range r.Stages {
			names = append(names, x.Name)
			if x.Time <= 0 {
				t.Errorf("trial %d: stage %s took %v", r.Number, x.Name, x.Time)
			}
		}
		if got := strings.Join(names, ","); got != "merge,load,evaluate" {
			t.Errorf("trial %d: stages %s, want merge,load,evaluate", r.Number, got)
		}
		if wall := r.FinishedAt.Sub(r.StartedAt); r.Stages.Total() > wall {
			t.Errorf("trial %d: stages sum to %v, more than its wall time %v", r.Number, r.Stages.Total(), wall)
		}
		if m, _ := r.Stages.Get("merge"); m != r.MergeTime {
			t.Errorf("trial %d: merge stage %v, merge time %v", r.Number, m, r.MergeTime)
		}
	}
	var out bytes.Buffer
	if err := st.Write(&out); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	last, _ := results.LastStages(st.Trials)
	for _, want := range []string{"time per trial, median of 3 finished: merge ", ", load ", ", evaluate ",
		fmt.Sprintf("last finished trial %d: merge ", last.Number)} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}
