package eval

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/mergetune/mergetune/results"
)

func TestTransfer(t *testing.T) {
	for _, c := range []struct {
		name          string
		frozen, tuned Estimate
		holds, apart  bool
		keep          float64
	}{
		{"keeps 96%, intervals apart", Estimate{0.48, 0.475, 0.485}, Estimate{0.50, 0.49, 0.51}, true, true, 0.96},
		{"keeps exactly 95%", Estimate{0.95, 0.95, 0.95}, Estimate{1, 1, 1}, true, true, 0.95},
		{"keeps 90%, intervals apart", Estimate{0.45, 0.44, 0.46}, Estimate{0.50, 0.48, 0.52}, false, true, 0.9},
		{"keeps 50%, intervals overlap", Estimate{0.25, 0.05, 0.45}, Estimate{0.50, 0.40, 0.60}, true, false, 0.5},
		{"intervals touch", Estimate{0.3, 0.2, 0.4}, Estimate{0.5, 0.4, 0.6}, true, false, 0.6},
		{"frozen above re-tuned", Estimate{0.6, 0.59, 0.61}, Estimate{0.5, 0.49, 0.51}, true, true, 1.2},
		{"no interval, far below", Estimate{0.2, 0.2, 0.2}, Estimate{0.5, 0.5, 0.5}, false, true, 0.4},
		{"re-tuned at 0", Estimate{0, 0, 0}, Estimate{0, 0, 0}, true, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := Transfer(c.frozen, c.tuned)
			if v.Holds != c.holds || v.Overlap == c.apart || math.Abs(v.Keep-c.keep) > 1e-12 {
				t.Errorf("Transfer(%v, %v) = holds %v, overlap %v, keep %v; want holds %v, overlap %v, keep %v",
					c.frozen, c.tuned, v.Holds, v.Overlap, v.Keep, c.holds, !c.apart, c.keep)
			}
		})
	}
}

func TestCurveEstimate(t *testing.T) {
	for _, c := range []struct {
		name string
		p    results.CurvePoint
		want Estimate
	}{
		{"across subsets", results.CurvePoint{Normalized: 0.5, Subsets: 3, SubsetLo: 0.3, SubsetHi: 0.7, ItemLo: 0.45, ItemHi: 0.55}, Estimate{0.5, 0.3, 0.7}},
		{"one subset: the items", results.CurvePoint{Normalized: 0.5, Subsets: 1, SubsetLo: 0.5, SubsetHi: 0.5, ItemLo: 0.45, ItemHi: 0.55}, Estimate{0.5, 0.45, 0.55}},
		{"nothing measured", results.CurvePoint{Normalized: 0.5}, Estimate{0.5, 0.5, 0.5}},
	} {
		if got := CurveEstimate(c.p); got != c.want {
			t.Errorf("%s: CurveEstimate = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestCurveVerdicts: a verdict for each frozen aggregate with a re-tuned
// point of its method at its size, none elsewhere, and subsets ignored.
func TestCurveVerdicts(t *testing.T) {
	pts := []results.CurvePoint{
		{Method: "ties", Variant: results.VariantTuned, Study: "ties-4", Models: 4, Normalized: 0.8, ItemLo: 0.7, ItemHi: 0.9},
		{Method: "ties", Variant: results.VariantTuned, Study: "ties-8", Models: 8, Normalized: 0.5, ItemLo: 0.45, ItemHi: 0.55},
		{Method: "ties", Variant: results.VariantFrozen, Study: "ties-4", Rule: "fixed", Models: 4, Subsets: 1, Normalized: 0.79, ItemLo: 0.7, ItemHi: 0.88},
		{Method: "ties", Variant: results.VariantFrozen, Study: "ties-4", Rule: "fixed", Models: 8, Subsets: 1, Normalized: 0.3, ItemLo: 0.25, ItemHi: 0.35},
		{Method: "ties", Variant: results.VariantFrozen, Study: "ties-4", Rule: "sqrt", Models: 8, Subsets: 3, Normalized: 0.4, SubsetLo: 0.2, SubsetHi: 0.6},
		{Method: "ties", Variant: results.VariantFrozen, Study: "ties-4", Rule: "sqrt", Models: 8, Subset: 1, Subsets: 3, Normalized: 0.5},
		{Method: "ties", Variant: results.VariantFrozen, Study: "ties-4", Rule: "fixed", Models: 16, Subsets: 1, Normalized: 0.2},
		{Method: "dare", Variant: results.VariantFrozen, Study: "dare-4", Rule: "fixed", Models: 8, Subsets: 1, Normalized: 0.2},
	}
	got := CurveVerdicts(pts)
	type want struct {
		rule   string
		models int
		holds  bool
	}
	exp := []want{{"fixed", 4, true}, {"fixed", 8, false}, {"sqrt", 8, true}}
	if len(got) != len(exp) {
		t.Fatalf("got %d verdicts, want %d: %+v", len(got), len(exp), got)
	}
	for i, e := range exp {
		g := got[i]
		if g.Method != "ties" || g.Rule != e.rule || g.Models != e.models || g.Holds != e.holds || g.TunedStudy != fmt.Sprintf("ties-%d", e.models) {
			t.Errorf("verdict %d = %+v, want %+v", i, g, e)
		}
	}
}

// TestNormalizedInterval: the items' interval of the normalized score
// combines the tasks' standard errors (each read off its Wilson interval)
// as independent samples: it narrows as √T with T tasks, follows the
// weights and is cut at 0.
func TestNormalizedInterval(t *testing.T) {
	base := []results.Baseline{{Model: "m-a", Task: "a", Accuracy: 0.5}, {Model: "m-b", Task: "b", Accuracy: 1}}
	var same []TaskAccuracy
	for i := range 16 {
		task := fmt.Sprintf("t%d", i)
		base = append(base, results.Baseline{Model: "m-" + task, Task: task, Accuracy: 1})
		same = append(same, TaskAccuracy{Task: task, Accuracy: 0.5, Lo: 0.3, Hi: 0.7})
	}
	sc := Scoring{TaskModel: func(task string) string { return "m-" + task }, Baseline: BaselineList(base)}
	two := []TaskAccuracy{{Task: "a", Accuracy: 0.4, Lo: 0.2, Hi: 0.5}, {Task: "b", Accuracy: 0.6, Lo: 0.4, Hi: 0.9}}
	weighted := sc
	weighted.Weights = map[string]float64{"a": 3}
	for _, tc := range []struct {
		name   string
		sc     Scoring
		accs   []TaskAccuracy
		lo, hi float64
	}{
		// a: 0.8 ± 1.96·(0.3/3.92/0.5), b: 0.6 ± 1.96·(0.5/3.92): the
		// mean 0.7 ± √(0.3² + 0.25²)/2.
		{"two tasks", sc, two, 0.7 - math.Sqrt(0.1525)/2, 0.7 + math.Sqrt(0.1525)/2},
		// weights 3 and 1: (3·0.8 + 0.6)/4 ± √(9·0.09 + 0.0625)/4.
		{"weighted", weighted, two, 0.75 - math.Sqrt(0.8725)/4, 0.75 + math.Sqrt(0.8725)/4},
		{"one of the sixteen", sc, same[:1], 0.3, 0.7},
		{"sixteen alike: a quarter as wide", sc, same, 0.45, 0.55},
		{"cut at 0", sc, []TaskAccuracy{{Task: "b", Accuracy: 0.02, Lo: 0, Hi: 0.2}}, 0, 0.12},
	} {
		lo, hi, err := tc.sc.NormalizedInterval(context.Background(), tc.accs)
		if err != nil || math.Abs(lo-tc.lo) > 1e-12 || math.Abs(hi-tc.hi) > 1e-12 {
			t.Errorf("%s: NormalizedInterval = [%v, %v] (%v), want [%v, %v]", tc.name, lo, hi, err, tc.lo, tc.hi)
		}
	}
	if _, _, err := sc.NormalizedInterval(context.Background(), []TaskAccuracy{{Task: "c", Accuracy: 1}}); err == nil {
		t.Error("a task without a baseline: no error")
	}
}
