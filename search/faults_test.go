package search

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFailingTrialRecorded(t *testing.T) {
	dir := t.TempDir()
	s := writeStudy(t, dir, `method: breadcrumbs
parameters: {gamma: 2}
space:
  lambda: {type: float, low: 0.3, high: 1.5}
trials: 2
`)
	sum, err := Run(context.Background(), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := sum.Status
	if st.Failed != 2 || st.Complete != 0 {
		t.Fatalf("%d failed, %d complete; want 2, 0", st.Failed, st.Complete)
	}
	for _, r := range st.Trials {
		if r.State != "failed" || !strings.Contains(r.Failure, "gamma") || r.MergeYAML == "" {
			t.Errorf("trial %d: state %s, failure %q", r.Number, r.State, r.Failure)
		}
	}
	if st.Best != nil {
		t.Errorf("best = trial %d, want none", st.Best.Number)
	}
}

func TestPruning(t *testing.T) {
	dir := t.TempDir()
	s := writeStudy(t, dir, `method: task_arithmetic
space:
  lambda: {type: float, low: 0.05, high: 3}
sampler: {type: random, seed: 5}
pruner: {type: median, chunks: 3, startup: 1}
trials: 8
`)
	sum, err := Run(context.Background(), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := sum.Status
	if st.Pruned == 0 || st.Done() != 8 {
		t.Fatalf("%d pruned of %d done; want some pruned of 8", st.Pruned, st.Done())
	}
	for _, r := range st.Trials {
		if r.State != "pruned" {
			continue
		}
		if r.Objective == nil {
			t.Errorf("pruned trial %d has no value", r.Number)
		}
		n := queryInt(t, s.Storage, `SELECT count(*) FROM trial_values v JOIN trials t ON t.trial_id = v.trial_id WHERE t.number = ?`, r.Number)
		if n == 0 {
			t.Errorf("pruned trial %d has no intermediate values", r.Number)
		}
		if _, err := os.Stat(filepath.Join(s.WorkDir, fmt.Sprintf("trial-%05d", r.Number))); err == nil {
			t.Errorf("pruned trial %d's model was kept", r.Number)
		}
	}
}

func TestCancelCleansUp(t *testing.T) {
	dir := t.TempDir()
	s := writeStudy(t, dir, `method: task_arithmetic
space:
  lambda: {type: float, low: 0.3, high: 1.5}
trials: 6
workers: 2
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Run(ctx, s, Options{Progress: func(Progress) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	st, err := ReadStatus(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if st.Running != 0 {
		t.Errorf("%d trials left running", st.Running)
	}
	if n := queryInt(t, s.Storage, `SELECT count(*) FROM trials WHERE state = 'RUNNING'`); n != 0 {
		t.Errorf("%d goptuna trials left running", n)
	}
	for _, r := range st.Trials {
		if r.State == "failed" {
			if !strings.HasPrefix(r.Failure, "interrupted") {
				t.Errorf("trial %d failure %q", r.Number, r.Failure)
			}
			if _, err := os.Stat(filepath.Join(s.WorkDir, fmt.Sprintf("trial-%05d", r.Number))); err == nil {
				t.Errorf("interrupted trial %d's model was kept", r.Number)
			}
		}
	}
	sum, err := Run(context.Background(), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status.Complete != 6 || sum.Status.Done() != 6 {
		t.Errorf("after resume: %d complete, %d done; want 6, 6", sum.Status.Complete, sum.Status.Done())
	}
}

// TestSamplersAndASHA runs short studies with the CMA-ES sampler (two
// parameters, so it has a covariance to adapt) and with the ASHA pruner,
// and checks they finish their budget with a best trial.
func TestSamplersAndASHA(t *testing.T) {
	cases := []struct{ name, body string }{
		{"cmaes", `method: ties
space:
  lambda: {type: float, low: 0.2, high: 1.5}
  density: {type: float, low: 0.3, high: 1, scope: shared}
sampler: {type: cmaes, seed: 2}
trials: 6
`},
		{"asha", `method: task_arithmetic
space:
  lambda: {type: float, low: 0.05, high: 3}
sampler: {type: random, seed: 4}
pruner: {type: asha, chunks: 3}
trials: 8
`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := writeStudy(t, t.TempDir(), c.body)
			sum, err := Run(context.Background(), s, Options{})
			if err != nil {
				t.Fatal(err)
			}
			st := sum.Status
			if st.Done() != s.Trials || st.Best == nil || st.Failed != 0 {
				t.Fatalf("%d of %d trials done, %d failed, best %v", st.Done(), s.Trials, st.Failed, st.Best)
			}
			seen := map[float64]bool{}
			for _, r := range st.Trials {
				if r.Objective != nil {
					seen[*r.Objective] = true
				}
			}
			if len(seen) < 2 {
				t.Errorf("the sampler proposed no variety: objectives %v", seen)
			}
			if c.name == "asha" && st.Pruned == 0 {
				t.Errorf("ASHA pruned no trial (the seeded random sampler proposes some λ far from the best)")
			}
		})
	}
}
