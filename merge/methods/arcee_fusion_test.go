package methods

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// TestRowKLHandComputed: softmax([ln 3, 0]) = [3/4, 1/4] against
// softmax([0, 0]) = [1/2, 1/2]: KL = 3/4·ln(3/2) + 1/4·ln(1/2).
func TestRowKLHandComputed(t *testing.T) {
	got := rowKL([]float32{0, 0}, []float32{float32(math.Log(3)), 0})
	want := 0.75*math.Log(1.5) + 0.25*math.Log(0.5)
	if math.Abs(float64(got)-want) > 1e-6 {
		t.Errorf("KL = %v, want %v", got, want)
	}
	if got := rowKL([]float32{1, 2, 3}, []float32{1, 2, 3}); got != 0 {
		t.Errorf("KL of equal rows = %v, want 0", got)
	}
}

// TestArceeFusionHandComputed works mergekit's arcee_fusion.py through by
// hand on one row: a = 0, b = [0, 0.1, 0.2, 1]. The importances are
// |b - a|·KL = [0, 1, 2, 10]·0.1·KL; sorted, quantile q is element
// floor(q·3): Q(0.25) = 0, Q(0.5) = 0.1·KL, Q(0.75) = 0.2·KL, so the
// threshold is 0.1·KL + 1.5·0.2·KL = 0.4·KL and only the last element
// (1·KL) is fused.
func TestArceeFusionHandComputed(t *testing.T) {
	m := All()["arcee_fusion"]
	j := &Job{Tensor: "x", Shape: []int{1, 4}, Base: &Model{Name: "a", Input: Slice{0, 0, 0, 0}}, Models: []Model{{Name: "b", Input: Slice{0, 0.1, 0.2, 1}}}, Params: Params{}}
	got, err := mergeChunks(t, m, j, 4)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{0, 0, 0, 1}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// mergekit's quirk: when most importances are 0 (rows where the models
	// agree), the threshold is 0 and every element is fused: the result is b.
	b := Slice{1, 2, 3, 4, 5, 6, 7, 8.5}
	j = &Job{Tensor: "x", Shape: []int{4, 2}, Base: &Model{Input: Slice{1, 2, 3, 4, 5, 6, 7, 8}}, Models: []Model{{Input: b}}, Params: Params{}}
	if got, err = mergeChunks(t, m, j, 2); err != nil || !slices.Equal(got, b) {
		t.Errorf("threshold 0: got %v (%v), want %v", got, err, b)
	}
}

// fusionReference follows arcee_fusion.py literally: importances,
// a full sort, the quantile indices, the threshold, the mask.
func fusionReference(a, b []float32, cols int) []float32 {
	n := len(a)
	imp := make([]float32, n)
	for r := 0; r < n/cols; r++ {
		kl := rowKL(a[r*cols:(r+1)*cols], b[r*cols:(r+1)*cols])
		for e := r * cols; e < (r+1)*cols; e++ {
			imp[e] = float32(math.Abs(float64(b[e]-a[e]))) * kl
		}
	}
	sorted := slices.Clone(imp)
	slices.Sort(sorted)
	q := func(p float32) float32 { return sorted[int(p*float32(n-1))] }
	thr := q(0.5) + 1.5*(q(0.75)-q(0.25))
	out := make([]float32, n)
	for e := range out {
		d := b[e] - a[e]
		if imp[e] >= thr {
			out[e] = a[e] + d
		} else {
			out[e] = a[e] + d*0
		}
	}
	return out
}

// TestArceeFusionMatchesReference: on matrices, vectors and rows longer
// than a statistics chunk, the streamed radix-selected quantiles give the
// sorted reference's result bit for bit, whatever the worker count.
func TestArceeFusionMatchesReference(t *testing.T) {
	m := All()["arcee_fusion"]
	for _, shape := range [][]int{{37, 19}, {1000}, {3, passChunk + 5000}, {5}, {1}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		a, b := make([]float32, n), make([]float32, n)
		for e := range a {
			a[e] = float32(math.Sin(float64(e)*0.91)) * 0.3
			// a task vector of varying size, zero in places
			d := float32(math.Sin(float64(e)*0.13) * math.Cos(float64(e)*0.029) * 0.05)
			switch {
			case e%7 == 0:
				d = 0
			case e%53 == 0:
				d *= 8 // outliers
			}
			b[e] = a[e] + d
		}
		cols := shape[len(shape)-1]
		want := fusionReference(a, b, cols)
		fused := 0
		for e := range want {
			if want[e] != a[e] {
				fused++
			}
		}
		for _, workers := range []int{1, 4} {
			j := &Job{Tensor: "x", Shape: shape, Base: &Model{Input: Slice(a)}, Models: []Model{{Input: Slice(b)}}, Params: Params{}, Workers: workers}
			got, err := mergeChunks(t, m, j, max(cols, 4096/cols*cols))
			if err != nil {
				t.Fatal(err)
			}
			for e := range want {
				if math.Float32bits(got[e]) != math.Float32bits(want[e]) {
					t.Fatalf("shape %v workers %d: element %d = %v, want %v", shape, workers, e, got[e], want[e])
				}
			}
		}
		if n > 100 && (fused == 0 || fused == n) {
			t.Errorf("shape %v: %d of %d elements fused; the case does not test the threshold", shape, fused, n)
		}
	}
}

func TestArceeFusionErrors(t *testing.T) {
	m := All()["arcee_fusion"]
	x := Slice{1, 2}
	j := &Job{Tensor: "x", Shape: []int{2}, Base: &Model{Input: x}, Models: []Model{{Input: x}, {Input: x}}, Params: Params{}}
	if _, err := mergeChunks(t, m, j, 2); err == nil || !strings.Contains(err.Error(), "needs exactly one model besides the base, got 2") {
		t.Errorf("three models: %v", err)
	}
	j = &Job{Tensor: "x", Shape: []int{2}, Models: []Model{{Input: x}}, Params: Params{}}
	if _, err := mergeChunks(t, m, j, 2); err == nil || !strings.Contains(err.Error(), "base_model is required") {
		t.Errorf("no base: %v", err)
	}
	j = &Job{Tensor: "x", Shape: []int{2}, Base: &Model{Input: x}, Params: Params{}}
	if got, err := mergeChunks(t, m, j, 2); err != nil || !slices.Equal(got, x) {
		t.Errorf("base only: %v, %v", got, err)
	}
}
