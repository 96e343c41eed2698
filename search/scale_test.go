package search

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func TestScaleRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		k, n  int
		want  float64
		refit bool
	}{
		{"fixed", 4, 16, 1, false},
		{"", 4, 16, 1, false}, // a recipe without a rule: fixed
		{"mean", 4, 16, 0.25, false},
		{"sqrt", 4, 16, 0.5, false},
		{"refit", 4, 16, 0, true},
	} {
		r, err := LookupScaleRule(tc.name)
		if err != nil {
			t.Fatalf("%q: %v", tc.name, err)
		}
		if r.Refit != tc.refit || (!tc.refit && math.Abs(r.Factor(tc.k, tc.n)-tc.want) > 1e-12) {
			t.Errorf("%q: refit %v, factor at %d of %d: want %v", tc.name, r.Refit, tc.k, tc.n, tc.want)
		}
	}
	_, err := ParseScaleRules("fixed, half")
	if err == nil || err.Error() != `unknown scale rule "half" (known: fixed, mean, refit, sqrt)` {
		t.Errorf("unknown rule: %v", err)
	}
	rs, err := ParseScaleRules("mean,fixed,mean")
	if err != nil || len(rs) != 2 || rs[0].Name != "mean" || rs[1].Name != "fixed" {
		t.Errorf("parse: %v %v", rs, err)
	}
}

func TestScaledAssignment(t *testing.T) {
	for _, tc := range []struct {
		name       string
		r          Recipe
		factor     float64
		wantLambda any // nil: none set
		wantWeight any // every model's weight
		err        string
	}{
		{"recipe lambda", Recipe{Method: "ties", Parameters: map[string]any{"lambda": 0.9}, ModelParameters: map[string]any{"weight": 0.8}},
			0.5, 0.45, 0.8, ""},
		{"unchanged at 1", Recipe{Method: "ties", Parameters: map[string]any{"lambda": 0.9}, ModelParameters: map[string]any{"weight": 0.8}},
			1, 0.9, 0.8, ""},
		{"method's lambda", Recipe{Method: "ties", ModelParameters: map[string]any{"weight": 0.8}}, 0.25, 0.25, 0.8, ""},
		{"weights", Recipe{Method: "linear", ModelParameters: map[string]any{"weight": []any{1, 0.5}}}, 0.5, nil, []any{0.5, 0.25}, ""},
		{"nothing to scale", Recipe{Method: "slerp", Study: "s", Parameters: map[string]any{"t": 0.5}}, 0.5, nil, nil,
			"recipe s: method slerp has neither a lambda nor per-model weights to scale"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tc.r.ScaledAssignment(3, tc.factor)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Global["lambda"]; !reflect.DeepEqual(got, tc.wantLambda) {
				t.Errorf("lambda %v, want %v", got, tc.wantLambda)
			}
			for i, m := range a.Models {
				if !reflect.DeepEqual(m["weight"], tc.wantWeight) {
					t.Errorf("model %d weight %v, want %v", i, m["weight"], tc.wantWeight)
				}
			}
			if tc.factor != 1 && tc.r.Parameters["lambda"] != nil && a.Global["lambda"] == tc.r.Parameters["lambda"] {
				t.Errorf("the recipe itself was changed")
			}
		})
	}
}

func TestDrawSubsets(t *testing.T) {
	nested := drawSubsets(8, 4, 1, 99)
	if !reflect.DeepEqual(nested, [][]int{{0, 1, 2, 3}}) {
		t.Errorf("one subset: %v, want the first 4", nested)
	}
	for _, tc := range []struct{ n, k, want, got int }{
		{8, 2, 5, 5}, {8, 4, 5, 5}, {8, 8, 5, 1}, {4, 3, 10, 4}, {16, 8, 3, 3},
	} {
		a := drawSubsets(tc.n, tc.k, tc.want, 7)
		if len(a) != tc.got {
			t.Errorf("%d of %d, %d wanted: %d subsets, want %d", tc.k, tc.n, tc.want, len(a), tc.got)
		}
		seen := map[string]bool{}
		for _, s := range a {
			key := fmt.Sprint(s)
			if len(s) != tc.k || !slices.IsSorted(s) || s[len(s)-1] >= tc.n || seen[key] {
				t.Errorf("%d of %d: bad or repeated subset %v in %v", tc.k, tc.n, s, a)
			}
			seen[key] = true
		}
		if b := drawSubsets(tc.n, tc.k, tc.want, 7); !reflect.DeepEqual(a, b) {
			t.Errorf("%d of %d: seed 7 drew %v, then %v", tc.k, tc.n, a, b)
		}
	}
	if a, b := drawSubsets(16, 4, 3, 7), drawSubsets(16, 4, 3, 8); reflect.DeepEqual(a, b) {
		t.Errorf("seeds 7 and 8 drew the same subsets %v", a)
	}
}

func TestRefitFactors(t *testing.T) {
	draw := func(seed uint64) []float64 { return refitFactors(4, 16, 6, rand.New(rand.NewPCG(seed, 1))) }
	f := draw(3)
	if len(f) != 6 || f[0] != 1 || f[1] != 0.5 || f[2] != 0.25 {
		t.Fatalf("factors %v: want 6, starting with fixed's, sqrt's and mean's (1, 0.5, 0.25)", f)
	}
	for _, x := range f[3:] {
		if x < 0.125 || x > 2 {
			t.Errorf("draw %v outside [0.125, 2]", x)
		}
	}
	if !reflect.DeepEqual(f, draw(3)) || reflect.DeepEqual(f, draw(4)) {
		t.Errorf("seeded draws: %v, %v, %v", f, draw(3), draw(4))
	}
	// At the tuned size the three rules agree: one factor 1, then draws.
	if g := refitFactors(4, 4, 3, rand.New(rand.NewPCG(1, 1))); len(g) != 3 || g[0] != 1 || g[1] == 1 {
		t.Errorf("at k = n: %v", g)
	}
}
