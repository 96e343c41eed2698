package methods

// DELLA's keep-masks: each element of a row kept with a probability
// linear in its magnitude rank (sparsify.Ranker), drawn row by row with
// the rescale factor found on the way.

import (
	"fmt"
	"sync/atomic"

	"github.com/mergetune/mergetune/merge/sparsify"
	"github.com/mergetune/mergetune/merge/vec"
)

// dellaMasks draws DELLA's keep-masks and sets the rescale factors. Ranks
// run along axis 1 as in mergekit (a 1-D tensor is one row; for 3-D
// tensors the ranked vectors are [o, :, i]); each element is kept with a
// probability linear in its magnitude rank.
func dellaMasks(j *Job, tvs []*taskVector, n int) error {
	outer, length, inner := dellaAxes(j.Shape)
	var draws []*dellaDraw // one per DELLA model, in model order
	var models []*taskVector
	for mi, tv := range tvs {
		if tv.mask.kind != sparsifyDella {
			continue
		}
		if length == 1 && n > 1 {
			return fmt.Errorf("della: tensor %s has shape %v: ranks along axis 1 need more than one element (mergekit yields NaN)", j.Tensor, j.Shape)
		}
		m := &j.Models[mi]
		d := &dellaDraw{
			stream: sparsify.NewStream(j.Seed, j.Tensor, mi),
			thr:    dellaThresholds(length, m.Params.Get("density", 1), m.Params.Get("epsilon", DellaEpsilon)),
			bits:   make([]uint64, (n+63)/64),
			before: make([]float64, outer),
			after:  make([]float64, outer),
		}
		if j.Masks != nil {
			d.fixed = j.Masks(mi)
		}
		draws, models = append(draws, d), append(models, tv)
	}
	if len(draws) == 0 {
		return nil
	}
	workers := max(1, j.Workers)
	st := make([]*dellaRow, workers)
	for w := range st {
		st[w] = newDellaRow(length, inner)
	}
	// row by row, the base read once for every model
	each(outer, workers, func(w, o int) {
		s := st[w]
		start := o * length * inner
		j.Base.Input.Read(start, s.b)
		for k, d := range draws {
			models[k].in.Read(start, s.block)
			vec.Sub(s.block, s.block, s.b)
			d.before[o], d.after[o] = d.row(s, start, length, inner)
		}
	})
	rescaleOn := j.Params.Bool("rescale", false)
	for k, d := range draws {
		models[k].mask.bits = d.bits
		if rescaleOn {
			models[k].scale = l1Factor(d.before, d.after)
		}
	}
	return nil
}

// dellaThresholds returns, for each rank among length, the integer that a
// 24-bit draw must be below for the element to be kept: the draw's
// Uniform is below sparsify.Prob(rank, length, density, epsilon).
func dellaThresholds(length int, density, eps float64) []uint32 {
	lo, step := density, 0.0 // sparsify.Prob, hoisted out of the loop
	if length > 1 {
		lo, step = density-eps, 2*eps/float64(length-1)
	}
	thr := make([]uint32, length)
	for r := range thr {
		thr[r] = sparsify.Threshold24(float32(lo + float64(r)*step))
	}
	return thr
}

// dellaDraw is one model's DELLA draw over one tensor.
type dellaDraw struct {
	fixed         []float32 // test masks, instead of draws
	stream        sparsify.Stream
	thr           []uint32  // per rank, see dellaThresholds
	bits          []uint64  // the keep-mask being drawn
	before, after []float64 // per row: Σ|δ| and Σ|δ·mask|
}

// dellaRow is one worker's scratch for DELLA's rows.
type dellaRow struct {
	r        sparsify.Ranker
	b, block []float32
	vec      []float32
	draws    []uint32
	keep     []uint64 // the vector's keep bits, bit l for element l
}

func newDellaRow(length, inner int) *dellaRow {
	return &dellaRow{b: make([]float32, length*inner), block: make([]float32, length*inner),
		vec: make([]float32, length), draws: make([]uint32, length), keep: make([]uint64, (length+63)/64)}
}

// row draws the keep bits of the vectors of one row (s.block holds its
// deltas, elements from start on) and returns Σ|δ| and Σ|δ·mask| over it.
func (d *dellaDraw) row(s *dellaRow, start, length, inner int) (sumB, sumA float64) {
	keep := s.keep
	for in := 0; in < inner; in++ {
		vals := s.block
		if inner > 1 {
			vals = s.vec
			for l := 0; l < length; l++ {
				vals[l] = s.block[l*inner+in]
			}
		}
		vals = vals[:length]
		// the vector's elements are i = first + l*inner
		first := start + in
		if d.fixed != nil {
			clear(keep)
			for l := range vals {
				if d.fixed[first+l*inner] != 0 {
					keep[l>>6] |= 1 << (l & 63)
				}
			}
		} else {
			draws := s.draws[:length]
			if inner == 1 {
				d.stream.Draws(draws, first)
			} else {
				for l := range draws {
					draws[l] = d.stream.Bits24(first + l*inner)
				}
			}
			s.r.Keep(vals, draws, d.thr, keep)
		}
		all, kept := vec.AbsSums(vals, keep)
		sumB += all
		sumA += kept
		if inner > 1 {
			for l := range vals {
				if keep[l>>6]>>(l&63)&1 != 0 {
					i := first + l*inner
					atomic.OrUint64(&d.bits[i>>6], 1<<(uint(i)&63))
				}
			}
			continue
		}
		d.orRow(first, length, keep)
	}
	return sumB, sumA
}

// orRow sets the global mask's bits of elements [first, first+length)
// from a row's bits (bit l for element first+l). Rows share words only at
// their ends, but all words go through atomics: it costs one per 64
// elements.
func (d *dellaDraw) orRow(first, length int, keep []uint64) {
	w0, sh := first>>6, uint(first&63)
	words := keep[:(length+63)/64]
	if last := length & 63; last != 0 {
		words[len(words)-1] &= 1<<last - 1
	}
	for k, word := range words {
		if word == 0 {
			continue
		}
		atomic.OrUint64(&d.bits[w0+k], word<<sh)
		if sh != 0 && word>>(64-sh) != 0 {
			atomic.OrUint64(&d.bits[w0+k+1], word>>(64-sh))
		}
	}
}

// dellaAxes splits a shape into (outer, length of axis 1, inner) so that
// the ranked vectors are [o, :, i]. 0-D and 1-D tensors are one row.
func dellaAxes(shape []int) (outer, length, inner int) {
	switch len(shape) {
	case 0:
		return 1, 1, 1
	case 1:
		return 1, shape[0], 1
	}
	inner = 1
	for _, d := range shape[2:] {
		inner *= d
	}
	return shape[0], shape[1], inner
}

// DellaProbs returns DELLA's keep probabilities of one tensor's task vector
// (model - base), for tests and reports.
func DellaProbs(shape []int, delta []float32, density, epsilon float64) []float32 {
	outer, length, inner := dellaAxes(shape)
	out := make([]float32, len(delta))
	vec := make([]float32, length)
	p := make([]float32, length)
	var r sparsify.Ranker
	for o := 0; o < outer; o++ {
		start := o * length * inner
		for in := 0; in < inner; in++ {
			for l := 0; l < length; l++ {
				vec[l] = delta[start+l*inner+in]
			}
			r.Probs(vec, density, epsilon, p)
			for l := 0; l < length; l++ {
				out[start+l*inner+in] = p[l]
			}
		}
	}
	return out
}
