package methods

// The L1 rescale of the DARE methods (and of any sparsified task vector
// with rescale on): Σ|δ| / Σ|δ·mask| over the whole tensor, with DARE's
// keep draws made in the same pass.

import (
	"math"

	"github.com/mergetune/mergetune/merge/sparsify"
	"github.com/mergetune/mergetune/merge/vec"
)

// rescale sets each sparsified model's L1 rescale factor, mergekit's
// Σ|δ| / Σ|δ·mask| over the whole tensor (1 when either sum is below
// 1e-7), in one joint pass. DELLA's factor is found while drawing its mask.
func rescale(j *Job, r *chunkReader, n int) {
	var need []int
	for t, tv := range r.tvs {
		if tv.mask.kind != sparsifyNone && tv.mask.kind != sparsifyDella {
			need = append(need, t)
		}
	}
	if len(need) == 0 {
		return
	}
	count := (n + passChunk - 1) / passChunk
	before := make([][]float64, len(need))
	after := make([][]float64, len(need))
	for i := range need {
		before[i], after[i] = make([]float64, count), make([]float64, count)
	}
	workers := max(1, j.Workers)
	dbuf := make([][]float32, workers)
	for w := range dbuf {
		dbuf[w] = make([]float32, passChunk)
	}
	// DARE's draws are made once, here, and kept as bits for the kernel
	// (chunks start on multiples of 64, so workers never share a word).
	for _, t := range need {
		if m := &r.tvs[t].mask; m.kind == sparsifyBernoulli && m.fixed == nil {
			m.pending = make([]uint64, (n+63)/64)
		}
	}
	draws, band := make([][]uint32, workers), make([][]uint64, workers)
	for w := range draws {
		draws[w], band[w] = make([]uint32, passChunk), make([]uint64, passChunk/64)
	}
	chunks(n, workers, func(w, c, lo, hi int) {
		b := r.bufs[w][:hi-lo]
		j.Base.Input.Read(lo, b)
		d := dbuf[w][:hi-lo]
		for i, t := range need {
			r.delta(t, lo, b, d)
			m := &r.tvs[t].mask
			if m.pending != nil {
				// keep where the draw is below the threshold, as bits
				dr := draws[w][:hi-lo]
				m.stream.Draws(dr, lo)
				th := sparsify.Threshold24(m.p)
				vec.Split(m.pending[lo>>6:], band[w], dr, th, th)
				before[i][c], after[i][c] = vec.AbsSums(d, m.pending[lo>>6:])
				continue
			}
			var s float64
			for _, x := range d {
				s += math.Abs(float64(x))
			}
			before[i][c] = s
			m.apply(lo, d)
			s = 0
			for _, x := range d {
				s += math.Abs(float64(x))
			}
			after[i][c] = s
		}
	})
	for i, t := range need {
		r.tvs[t].scale = l1Factor(before[i], after[i])
		if m := &r.tvs[t].mask; m.pending != nil {
			m.bits, m.pending = m.pending, nil
		}
	}
}

// l1Factor reduces per-chunk sums, in chunk order, to the rescale factor.
func l1Factor(before, after []float64) float32 {
	var b, a float64
	for c := range before {
		b += before[c]
		a += after[c]
	}
	if b < 1e-7 || a < 1e-7 {
		return 1
	}
	return float32(b / a)
}
