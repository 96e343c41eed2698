package methods

// Magnitude cut-offs of the TIES and breadcrumbs methods: each model's
// k-th largest |delta| (and breadcrumbs' outlier cut), found over the whole
// tensor in joint passes with sparsify.Selector, ties at a cut-off broken
// by a seeded order.

import (
	"math"
	"sync/atomic"

	"github.com/mergetune/mergetune/merge/sparsify"
	"github.com/mergetune/mergetune/merge/vec"
)

// selectCuts finds the magnitude cut-offs of every model that needs one,
// in two joint passes over the tensor (base read once per chunk).
func (g *gtaSpec) selectCuts(j *Job, r *chunkReader, n int) error {
	var need []int
	for t, tv := range r.tvs {
		if tv.mask.kind == sparsifyMagnitude || tv.mask.kind == sparsifyOutliers {
			need = append(need, t)
		}
	}
	if len(need) == 0 {
		return nil
	}
	if n >= sampledSelectFrom && sampledCuts(j, r, n, need) {
		return nil
	}
	return exactCuts(j, r, n, need)
}

// exactCuts finds the cuts with two radix-selection passes.
func exactCuts(j *Job, r *chunkReader, n int, need []int) error {
	workers := max(1, j.Workers)
	local := make([][]*sparsify.Selector, workers)
	dbuf := make([][]float32, workers)
	kbuf := make([][]uint32, workers)
	for w := range local {
		local[w] = make([]*sparsify.Selector, len(need))
		for i := range need {
			local[w][i] = sparsify.NewSelector()
		}
		dbuf[w] = make([]float32, passChunk)
		kbuf[w] = make([]uint32, passChunk)
	}
	pass := func(add func(s *sparsify.Selector, keys []uint32), sel func(w, i int) *sparsify.Selector) {
		chunks(n, workers, func(w, _, lo, hi int) {
			b := r.bufs[w][:hi-lo]
			j.Base.Input.Read(lo, b)
			d, keys := dbuf[w][:hi-lo], kbuf[w][:hi-lo]
			for i, t := range need {
				r.delta(t, lo, b, d)
				for e, x := range d {
					keys[e] = sparsify.MagBits(x)
				}
				add(sel(w, i), keys)
			}
		})
	}
	pass((*sparsify.Selector).Add1, func(w, i int) *sparsify.Selector { return local[w][i] })
	total := make([]*sparsify.Selector, len(need))
	pass2 := false
	for i, t := range need {
		total[i] = sparsify.NewSelector()
		for w := range local {
			total[i].Merge1(local[w][i])
		}
		m := &r.tvs[t].mask
		if m.kind == sparsifyOutliers {
			total[i].Plan(m.in.K, m.out.K)
		} else {
			total[i].Plan(m.in.K)
		}
		pass2 = pass2 || total[i].NeedsPass2()
	}
	if pass2 {
		forks := make([][]*sparsify.Selector, workers)
		for w := range forks {
			forks[w] = make([]*sparsify.Selector, len(need))
			for i := range need {
				forks[w][i] = total[i].Fork()
			}
		}
		pass((*sparsify.Selector).Add2, func(w, i int) *sparsify.Selector { return forks[w][i] })
		for i := range need {
			for w := range forks {
				total[i].Merge2(forks[w][i])
			}
		}
	}
	for i, t := range need {
		cuts := total[i].Cuts()
		keys := magKeys(j.Base.Input, r.tvs[t].in)
		for c := range cuts {
			cuts[c].ResolveTies(n, tieOrder(j, t), keys)
		}
		m := &r.tvs[t].mask
		m.in = cuts[0]
		if len(cuts) > 1 {
			m.out = cuts[1]
		}
	}
	return nil
}

// tieOrder is the order among model t's elements of equal magnitude at a
// cut-off: a seeded hash of the element's index (see sparsify.TieOrder).
func tieOrder(j *Job, t int) sparsify.Stream { return sparsify.TieOrder(j.Seed, j.Tensor, t) }

// magKeys reads the magnitude keys of a task vector, sequentially.
func magKeys(base, model Input) func(off int, dst []uint32) {
	var b, d []float32
	return func(off int, dst []uint32) {
		if cap(b) < len(dst) {
			b, d = make([]float32, len(dst)), make([]float32, len(dst))
		}
		b, d = b[:len(dst)], d[:len(dst)]
		base.Read(off, b)
		model.Read(off, d)
		for i := range d {
			dst[i] = sparsify.MagBits(d[i] - b[i])
		}
	}
}

// sampledSelectFrom is the tensor size from which cut-offs are found from
// a sample first: one pass then settles them exactly instead of two.
const sampledSelectFrom = 1 << 22

// sampleEvery: the sample is every sampleEvery-th chunk of passChunk.
const sampleEvery = 16

// cutKs lists the cut sizes of a mask (one for TIES, two for breadcrumbs).
func cutKs(m *tvMask) []int {
	if m.kind == sparsifyOutliers {
		return []int{m.in.K, m.out.K}
	}
	return []int{m.in.K}
}

// setCuts stores found cuts in a mask, in cutKs order.
func setCuts(m *tvMask, cuts []sparsify.Cut) {
	m.in = cuts[0]
	if len(cuts) > 1 {
		m.out = cuts[1]
	}
}

// window brackets one cut: the cut's key lies in [lo, hi] when the sample
// does not mislead, which the full pass verifies.
type window struct {
	k      int
	lo, hi uint32
	exact  bool // trivial cut (k <= 0 or k >= n): no window needed
}

// sampledCuts finds the cuts in about 1.06 passes: the keys of a sample of
// chunks bracket each cut-off in a narrow key window; one full pass counts
// the keys above the window and collects those inside it; an exact
// selection among the collected keys finishes. It returns false, having
// set nothing, when a window missed its cut (the caller then runs the two
// exact passes), so results never depend on the sample.
func sampledCuts(j *Job, r *chunkReader, n int, need []int) bool {
	count := (n + passChunk - 1) / passChunk
	var sampleChunks []int
	for c := 0; c < count; c += sampleEvery {
		sampleChunks = append(sampleChunks, c)
	}
	workers := max(1, j.Workers)
	// sample keys per model
	size := 0
	for _, c := range sampleChunks {
		size += min(n, (c+1)*passChunk) - c*passChunk
	}
	wins := make([][]window, len(need))
	each(len(need), workers, func(_ int, i int) {
		keys := magKeys(j.Base.Input, r.tvs[need[i]].in)
		buf := make([]uint32, size)
		at := 0
		for _, c := range sampleChunks {
			lo, hi := c*passChunk, min(n, (c+1)*passChunk)
			keys(lo, buf[at:at+hi-lo])
			at += hi - lo
		}
		wins[i] = sampleWindows(buf, cutKs(&r.tvs[need[i]].mask), n)
	})
	// one pass: count above each window, collect the keys inside it
	type acc struct {
		above []int
		cands [][]uint64 // key<<32 | element index
	}
	accs := make([][]acc, workers)
	for w := range accs {
		accs[w] = make([]acc, len(need))
		for i := range need {
			accs[w][i] = acc{above: make([]int, len(wins[i])), cands: make([][]uint64, len(wins[i]))}
		}
	}
	dbuf := make([][]float32, workers)
	for w := range dbuf {
		dbuf[w] = make([]float32, passChunk)
	}
	chunks(n, workers, func(w, _, lo, hi int) {
		b := r.bufs[w][:hi-lo]
		j.Base.Input.Read(lo, b)
		d := dbuf[w][:hi-lo]
		for i, t := range need {
			r.tvs[t].in.Read(lo, d)
			a := &accs[w][i]
			for c, win := range wins[i] {
				if win.exact {
					continue
				}
				above, cands := vec.Window(d, b, lo, win.lo, win.hi, a.cands[c])
				a.above[c] += above
				a.cands[c] = cands
			}
		}
	})
	found := make([][]sparsify.Cut, len(need))
	var missed atomic.Bool
	each(len(need), workers, func(_ int, i int) {
		for c, win := range wins[i] {
			if win.exact {
				s := sparsify.NewSelector()
				s.Plan(win.k)
				found[i] = append(found[i], s.Cuts()[0])
				continue
			}
			above := 0
			var cands []uint64
			for w := range accs {
				above += accs[w][i].above[c]
				cands = append(cands, accs[w][i].cands[c]...)
			}
			want := win.k - above
			if want < 1 || want > len(cands) {
				missed.Store(true) // the window missed the cut
				return
			}
			keys := make([]uint32, len(cands))
			for e, v := range cands {
				keys[e] = uint32(v >> 32)
			}
			s := sparsify.NewSelector()
			s.Add1(keys)
			s.Plan(want)
			if s.NeedsPass2() {
				s.Add2(keys)
			}
			cut := s.Cuts()[0]
			cut.K = win.k
			if cut.NeedsOrder() {
				// every element equal to the cut's key is a candidate
				var tied []int
				for _, v := range cands {
					if uint32(v>>32) == cut.Bits {
						tied = append(tied, int(uint32(v)))
					}
				}
				cut.ChooseTies(n, tieOrder(j, need[i]), tied)
			}
			found[i] = append(found[i], cut)
		}
	})
	if missed.Load() {
		return false
	}
	for i, t := range need {
		setCuts(&r.tvs[t].mask, found[i])
	}
	return true
}

// sampleWindows brackets each cut (of size k among n) in a window of keys
// from a sample of the magnitude keys: with the sample's quantiles six
// standard deviations (plus 64 ranks) either side of the cut's.
func sampleWindows(sample []uint32, ks []int, n int) []window {
	var wins []window
	m := len(sample)
	for _, k := range ks {
		w := window{k: k}
		if k <= 0 || k >= n {
			w.exact = true
			wins = append(wins, w)
			continue
		}
		q := float64(k) / float64(n)
		rank := q * float64(m)
		d := 6*math.Sqrt(float64(m)*q*(1-q)) + 64
		rHi := max(1, int(rank-d))   // fewer above: the window's upper key
		rLo := min(m, int(rank+d)+1) // more above: the window's lower key
		s := sparsify.NewSelector()
		s.Add1(sample)
		s.Plan(rHi, rLo)
		if s.NeedsPass2() {
			s.Add2(sample)
		}
		cs := s.Cuts()
		w.hi, w.lo = cs[0].Bits, cs[1].Bits
		if rHi <= 1 {
			w.hi = math.MaxUint32
		}
		if rLo >= m {
			w.lo = 0
		}
		wins = append(wins, w)
	}
	return wins
}
