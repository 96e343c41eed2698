package search

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/merge/methods"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/study"
)

// TestRefitChoosesOnSelectTasks checks that refit with select tasks picks
// its factor by the score on them and reports the chosen factor's score on
// the point's own tasks: the factor is the one refit picks when the select
// tasks are all it sees, and the score is what a plain merge at that
// factor scores on the tasks.
func TestRefitChoosesOnSelectTasks(t *testing.T) {
	fam := family(t)
	ctx := context.Background()
	db, err := results.Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	names := []string{"swapcase", "rot1", "succ", "rotleft"}
	load := func(spec string) []*datasets.Task {
		ts, err := study.LoadTasks(spec, "", 6)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	var both, tuneOnly []ExtendModel
	for _, n := range names {
		p := filepath.Join(fam, n)
		both = append(both, ExtendModel{Path: p, Tasks: load("toy:" + n), Select: load("toy:" + n + "@tune")})
		tuneOnly = append(tuneOnly, ExtendModel{Path: p, Tasks: load("toy:" + n + "@tune")})
	}
	recipe := func(lambda float64) *Recipe {
		return &Recipe{Study: "tuned-on-2", Trial: 3, Method: "task_arithmetic", BaseModel: filepath.Join(fam, "base"),
			Parameters: map[string]any{"lambda": lambda}, ModelParameters: map[string]any{"weight": 1.0},
			Tuned: map[string]map[string]any{both[0].Path: {"weight": 1.0}, both[1].Path: {"weight": 1.0}}}
	}
	const lambda, trials = 0.6, 4
	point := func(r *Recipe, models []ExtendModel, rule string) CurvePoint {
		t.Helper()
		rules, err := ParseScaleRules(rule)
		if err != nil {
			t.Fatal(err)
		}
		curve, err := Extend(ctx, r, models, ExtendOptions{DB: db, WorkDir: t.TempDir(), Rules: rules, Sizes: []int{4},
			RefitTrials: trials, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(curve) != 2 || curve[0].Subset != 1 {
			t.Fatalf("curve %+v: want one subset and its aggregate", curve)
		}
		return curve[0]
	}
	got := point(recipe(lambda), both, "refit")
	if got.Merges != trials+1 {
		t.Errorf("refit with select tasks made %d merges, want %d (one per factor, then the chosen one again)", got.Merges, trials+1)
	}
	if want := trials*len(names)*6 + len(names)*6; got.Items != want {
		t.Errorf("refit evaluated %d items, want %d (%d factors on the select tasks, the chosen one on the tasks)", got.Items, want, trials)
	}
	// The same draws scored on the tune split alone pick the same factor.
	if picked := point(recipe(lambda), tuneOnly, "refit"); picked.Factor != got.Factor {
		t.Errorf("refit picked factor %v with select tasks, %v scoring the select tasks alone", got.Factor, picked.Factor)
	}
	// Its reported score is the test split's at that factor.
	if fixed := point(recipe(lambda*got.Factor), both, "fixed"); fixed.Normalized != got.Normalized || fixed.Mean != got.Mean ||
		fixed.ItemLo != got.ItemLo || fixed.ItemHi != got.ItemHi {
		t.Errorf("refit reported normalized %v (mean %v), a merge at its factor %v scores %v (mean %v) on the tasks",
			got.Normalized, got.Mean, got.Factor, fixed.Normalized, fixed.Mean)
	}
	// Select tasks for some models only are refused.
	mixed := append([]ExtendModel{tuneOnly[0]}, both[1:]...)
	if _, err := Extend(ctx, recipe(lambda), mixed, ExtendOptions{DB: db, WorkDir: t.TempDir(), Sizes: []int{4}}); err == nil {
		t.Error("extend took select tasks for some models and not others")
	}
}

// TestSuggestedDraw checks reproduce's random settings come from the
// methods' registered search ranges: inside them, spread over them (on a
// log scale where the range says so), and an error for a parameter
// without one.
func TestSuggestedDraw(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		method, param string
		log           bool
	}{{"breadcrumbs", "lambda", false}, {"breadcrumbs", "density", false}, {"breadcrumbs", "gamma", true}, {"task_arithmetic", "lambda", false}} {
		m, _ := methods.All().Lookup(tc.method)
		d, _ := m.Param(tc.param)
		lo, hi, log, ok := d.Suggested()
		if !ok || log != tc.log {
			t.Fatalf("%s %s: registered range [%v, %v] log %v (%v)", tc.method, tc.param, lo, hi, log, ok)
		}
		// The median of the draws: the middle of the range, or of its
		// logarithm.
		var vs []float64
		for range 2000 {
			v, err := suggestedDraw(tc.method, tc.param, rng)
			if err != nil || v < lo || v > hi {
				t.Fatalf("%s %s: drew %v (%v), want within [%v, %v]", tc.method, tc.param, v, err, lo, hi)
			}
			vs = append(vs, v)
		}
		slices.Sort(vs)
		mid := (lo + hi) / 2
		if tc.log {
			mid = math.Sqrt(lo * hi)
		}
		if med := vs[len(vs)/2]; math.Abs(med-mid) > 0.1*(hi-lo) {
			t.Errorf("%s %s: median draw %v, want near %v", tc.method, tc.param, med, mid)
		}
	}
	for _, bad := range [][2]string{{"task_arithmetic", "gamma"}, {"nosuch", "lambda"}} {
		if _, err := suggestedDraw(bad[0], bad[1], rng); err == nil {
			t.Errorf("%s %s: drew a value, want an error", bad[0], bad[1])
		}
	}
}
