package optim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/c-bata/goptuna"

	"github.com/mergetune/mergetune/search"
	"github.com/mergetune/mergetune/search/optim"
	"github.com/mergetune/mergetune/search/study"
)

// sobolPoints runs n trials of an in-memory goptuna study with the sobol
// sampler over space and returns each trial's parameters by number.
func sobolPoints(t *testing.T, space map[string]interface{}, n int) map[int]map[string]float64 {
	t.Helper()
	e, err := optim.Samplers().Lookup("sobol")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := e.Options(optim.Settings{Seed: 1, Space: space})
	if err != nil {
		t.Fatal(err)
	}
	s, err := goptuna.CreateStudy("sobol", append(opts, goptuna.StudyOptionLogger(nil))...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]map[string]float64{}
	err = s.Optimize(func(tr goptuna.Trial) (float64, error) {
		l, err := tr.SuggestFloat("lambda", 0, 2)
		if err != nil {
			return 0, err
		}
		d, err := tr.SuggestFloat("density", 0.5, 1)
		if err != nil {
			return 0, err
		}
		num, err := tr.Number()
		if err != nil {
			return 0, err
		}
		out[num] = map[string]float64{"lambda": l, "density": d}
		return l + d, nil
	}, n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSobol: the sobol sampler proposes point n+1 of the Sobol sequence
// for trial n (the first is the centre of the space), inside the bounds,
// never twice, and the same points in a second study: the proposal
// follows the trial's number.
func TestSobol(t *testing.T) {
	space := map[string]interface{}{
		"lambda":  goptuna.UniformDistribution{Low: 0, High: 2},
		"density": goptuna.UniformDistribution{Low: 0.5, High: 1},
	}
	a, b := sobolPoints(t, space, 16), sobolPoints(t, space, 16)
	if a[0]["lambda"] != 1 || a[0]["density"] != 0.75 {
		t.Errorf("trial 0: %v, want the centre lambda 1, density 0.75", a[0])
	}
	seen := map[[2]float64]int{}
	for n, p := range a {
		if p["lambda"] != b[n]["lambda"] || p["density"] != b[n]["density"] {
			t.Errorf("trial %d: %v in one study, %v in the other", n, p, b[n])
		}
		if p["lambda"] < 0 || p["lambda"] > 2 || p["density"] < 0.5 || p["density"] > 1 {
			t.Errorf("trial %d: %v outside the space", n, p)
		}
		k := [2]float64{p["lambda"], p["density"]}
		if m, dup := seen[k]; dup {
			t.Errorf("trials %d and %d share the point %v", n, m, k)
		}
		seen[k] = n
	}
	if len(a) != 16 {
		t.Errorf("%d trials, want 16", len(a))
	}
}

// TestSobolStudy runs a small study with sampler: sobol end to end (the
// tiny model family, the built-in runner, two workers): every trial
// completes, none repeats another's parameters, and the study records a
// best trial.
func TestSobolStudy(t *testing.T) {
	fam, err := filepath.Abs("../../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sobol.yml")
	text := fmt.Sprintf(`base_model: %[1]s/base
models:
  - {model: %[1]s/swapcase, tasks: [swapcase]}
  - {model: %[1]s/rot1, tasks: [rot1]}
method: ties
space:
  lambda: {type: float, low: 0.2, high: 1.5}
  density: {type: float, low: 0.3, high: 1, scope: shared}
tasks: [toy:swapcase@tune, toy:rot1@tune]
limit: 8
sampler: {type: sobol, seed: 2}
trials: 5
workers: 2
keep_best: 5
`, fam)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := study.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Sampler != "sobol" {
		t.Fatalf("sampler %q, want sobol", s.Sampler)
	}
	sum, err := search.Run(context.Background(), s, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := sum.Status
	if st.Complete != s.Trials || st.Failed != 0 || st.Best == nil {
		t.Fatalf("%d of %d trials complete, %d failed, best %v", st.Complete, s.Trials, st.Failed, st.Best)
	}
	seen := map[string]int{}
	for _, r := range st.Trials {
		if m, dup := seen[r.MergeYAML]; dup || r.DuplicateOf != nil {
			t.Errorf("trial %d repeats the merge of trial %d:\n%s", r.Number, m, r.MergeYAML)
		}
		seen[r.MergeYAML] = r.Number
	}
}
