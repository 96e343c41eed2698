package search

import (
	"slices"
	"testing"
)

// TestReproduceGrid: the λ values a TIES arm is tuned over spread over
// its list, both ends kept.
func TestReproduceGrid(t *testing.T) {
	ls := []float64{0.3, 0.5, 0.8, 1.0}
	for _, c := range []struct {
		n    int
		want []float64
	}{
		{1, []float64{0.3}}, {2, []float64{0.3, 1.0}}, {3, []float64{0.3, 0.5, 1.0}}, {4, ls}, {6, ls},
	} {
		if got := grid(ls, c.n); !slices.Equal(got, c.want) {
			t.Errorf("grid(%v, %d) = %v, want %v", ls, c.n, got, c.want)
		}
	}
}

// TestReproduceCurve: a series' points are the means over its units at
// each x with their interval, in the order the series and xs came.
func TestReproduceCurve(t *testing.T) {
	c := newCurve()
	c.add("a", 0.5, 1)
	c.add("b", 0.5, 0.2)
	c.add("a", 0.5, 0.8)
	c.add("a", 0.9, 0.4)
	pts := c.points(false)
	if len(pts) != 3 || pts[0].Series != "a" || pts[0].X != 0.5 || pts[1].X != 0.9 || pts[2].Series != "b" {
		t.Fatalf("points %+v", pts)
	}
	if p := pts[0]; p.Y < 0.9-1e-12 || p.Y > 0.9+1e-12 || p.Lo >= p.Y || p.Hi <= p.Y {
		t.Errorf("mean of 1 and 0.8: %+v", p)
	}
	if p := pts[1]; p.Y != 0.4 || p.Lo != 0.4 || p.Hi != 0.4 {
		t.Errorf("one unit: %+v", p)
	}
	bars := c.bars(func(x float64) string { return map[float64]string{0.5: "half", 0.9: "most"}[x] })
	if bars[0].Label != "half" || bars[1].Label != "most" || bars[2].Label != "half" {
		t.Errorf("bar labels %+v", bars)
	}
}
