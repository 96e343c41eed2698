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

// TestNormalizedInterval: the items' interval of the normalized score is
// the normalized score of the tasks' interval ends.
func TestNormalizedInterval(t *testing.T) {
	sc := Scoring{TaskModel: func(task string) string { return "m-" + task },
		Baseline: BaselineList([]results.Baseline{{Model: "m-a", Task: "a", Accuracy: 0.5}, {Model: "m-b", Task: "b", Accuracy: 1}})}
	lo, hi, err := sc.NormalizedInterval(context.Background(), []TaskAccuracy{{Task: "a", Accuracy: 0.4, Lo: 0.2, Hi: 0.5}, {Task: "b", Accuracy: 0.6, Lo: 0.4, Hi: 0.9}})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(lo-(0.4+0.4)/2) > 1e-12 || math.Abs(hi-(1+0.9)/2) > 1e-12 {
		t.Errorf("NormalizedInterval = [%v, %v], want [0.4, 0.95]", lo, hi)
	}
	if _, _, err := sc.NormalizedInterval(context.Background(), []TaskAccuracy{{Task: "c", Accuracy: 1}}); err == nil {
		t.Error("a task without a baseline: no error")
	}
}
