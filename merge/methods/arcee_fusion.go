package methods

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/mergetune/mergetune/merge/sparsify"
)

// arceeFusionMethod returns arcee_fusion (Arcee AI, https://arcee.ai;
// mergekit merge_methods/arcee_fusion.py): the base a takes the other
// model b's value where b's change matters most. Each element's importance
// is |b - a| times the KL divergence of softmax(b) from softmax(a) over its
// row (the last axis); elements whose importance reaches median + 1.5·IQR
// of all importances are fused (a + (b - a)), the rest keep a.
//
// mergekit estimates the quantiles from a random sample of 10⁶ elements
// on larger tensors; mergetune uses the exact quantiles of every element
// (radix selection over the streamed importances), which is what the
// sample estimates, is reproducible, and is the same below 10⁶ elements.
func arceeFusionMethod() *Method {
	return &Method{
		Name:     "arcee_fusion",
		Base:     BaseRequired,
		Rectify:  RectifyCommon,
		Validate: validateArceeFusion,
		Prepare:  prepareArceeFusion,
		Parallel: true,
	}
}

func validateArceeFusion(j *Job) error {
	if j.Base == nil {
		return errors.New("arcee_fusion: a base_model is required")
	}
	if len(j.Models) > 1 {
		return fmt.Errorf("arcee_fusion: needs exactly one model besides the base, got %d", len(j.Models))
	}
	return nil
}

// fusionEps is added to both softmaxes before the KL divergence.
const fusionEps = 1e-8

// fusionQuantiles are the quantiles of the importances the threshold uses.
var fusionQuantiles = [3]float32{0.25, 0.5, 0.75}

// orderKey maps x to a key whose unsigned order is x's order (negative
// values below positive ones).
func orderKey(x float32) uint32 {
	b := math.Float32bits(x)
	if b>>31 != 0 {
		return ^b
	}
	return b | 1<<31
}

// fromOrderKey inverts orderKey.
func fromOrderKey(k uint32) float32 {
	if k>>31 != 0 {
		return math.Float32frombits(k &^ (1 << 31))
	}
	return math.Float32frombits(^k)
}

// rowKL is Σ p·log(p/q) over one row, p = softmax(b) + eps, q = softmax(a)
// + eps, each element in float32 as torch computes it (the sums in
// float64).
func rowKL(a, b []float32) float32 {
	softmaxSum := func(x []float32) (float64, float64) {
		m := math.Inf(-1)
		for _, v := range x {
			m = math.Max(m, float64(v))
		}
		var s float64
		for _, v := range x {
			s += math.Exp(float64(v) - m)
		}
		return m, s
	}
	ma, sa := softmaxSum(a)
	mb, sb := softmaxSum(b)
	var kl float64
	for i := range a {
		p := float32(math.Exp(float64(b[i])-mb)/sb) + fusionEps
		q := float32(math.Exp(float64(a[i])-ma)/sa) + fusionEps
		kl += float64(p * float32(math.Log(float64(p/q))))
	}
	return float32(kl)
}

// importance is one element's importance: |b - a| · KL of its row.
func importance(a, b, kl float32) float32 { return float32(math.Abs(float64(b-a))) * kl }

func prepareArceeFusion(ctx context.Context, j *Job) (Kernel, error) {
	if err := validateArceeFusion(j); err != nil {
		return nil, err
	}
	base := j.Base.Input
	if len(j.Models) == 0 {
		return func(off int, out []float32) error { base.Read(off, out); return nil }, nil
	}
	other := j.Models[0].Input
	n, cols := j.Len(), j.RowLen()
	rows := n / cols
	per := max(1, passChunk/cols) // rows per group
	groups := (rows + per - 1) / per
	workers := max(1, j.Workers)
	kl := make([]float32, rows)
	type scratch struct {
		a, b []float32
		keys []uint32
		sel  *sparsify.Selector
	}
	ws := make([]*scratch, workers)
	for w := range ws {
		ws[w] = &scratch{a: make([]float32, per*cols), b: make([]float32, per*cols), keys: make([]uint32, per*cols), sel: sparsify.NewSelector()}
	}
	// pass streams the importances of every row group to add.
	pass := func(first bool, add func(s *scratch, keys []uint32)) error {
		each(groups, workers, func(w, g int) {
			if ctx.Err() != nil {
				return
			}
			s := ws[w]
			r0, r1 := g*per, min(rows, (g+1)*per)
			k := (r1 - r0) * cols
			a, b, keys := s.a[:k], s.b[:k], s.keys[:k]
			base.Read(r0*cols, a)
			other.Read(r0*cols, b)
			for r := r0; r < r1; r++ {
				lo, hi := (r-r0)*cols, (r-r0+1)*cols
				if first {
					kl[r] = rowKL(a[lo:hi], b[lo:hi])
				}
				for e := lo; e < hi; e++ {
					keys[e] = orderKey(importance(a[e], b[e], kl[r]))
				}
			}
			add(s, keys)
		})
		return ctx.Err()
	}
	if err := pass(true, func(s *scratch, keys []uint32) { s.sel.Add1(keys) }); err != nil {
		return nil, err
	}
	sel := ws[0].sel
	for _, s := range ws[1:] {
		sel.Merge1(s.sel)
	}
	// Sorted ascending, quantile q is element floor(q·(n-1)) (q and the
	// product in float32, as in mergekit), the (n - index)-th largest.
	ks := make([]int, len(fusionQuantiles))
	for i, q := range fusionQuantiles {
		ks[i] = n - int(q*float32(n-1))
	}
	sel.Plan(ks...)
	if sel.NeedsPass2() {
		for _, s := range ws {
			s.sel = sel.Fork()
		}
		if err := pass(false, func(s *scratch, keys []uint32) { s.sel.Add2(keys) }); err != nil {
			return nil, err
		}
		for _, s := range ws {
			sel.Merge2(s.sel)
		}
	}
	var qv [3]float32
	for i, c := range sel.Cuts() {
		if c.All() {
			// K = n (tensors of a few elements): the smallest importance
			qv[i] = smallestImportance(base, other, kl, cols, n)
			continue
		}
		qv[i] = fromOrderKey(c.Bits)
	}
	q1, median, q3 := qv[0], qv[1], qv[2]
	iqr := q3 - q1
	threshold := median + float32(1.5)*iqr
	bufs := newScratch()
	return func(off int, out []float32) error {
		b := bufs.get(len(out))
		defer bufs.put(b)
		base.Read(off, out)
		other.Read(off, b)
		for e, a := range out {
			delta := b[e] - a
			if importance(a, b[e], kl[(off+e)/cols]) >= threshold {
				out[e] = a + delta
			} else {
				out[e] = a + delta*0
			}
		}
		return nil
	}, nil
}

// smallestImportance is the smallest importance of the tensor: the
// quantiles whose index floor(q·(n-1)) is 0, on tensors of a few
// elements, where the top-K cut keeps everything and names no value.
func smallestImportance(base, other Input, kl []float32, cols, n int) float32 {
	low := float32(math.Inf(1))
	a, b := make([]float32, 1), make([]float32, 1)
	for i := range n {
		base.Read(i, a)
		other.Read(i, b)
		low = min(low, importance(a[0], b[0], kl[i/cols]))
	}
	return low
}
