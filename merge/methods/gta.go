package methods

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/mergetune/mergetune/merge/sparsify"
	"github.com/mergetune/mergetune/merge/vec"
)

// sparsifyKind is how a generalized-task-arithmetic method thins each task
// vector before combining them.
type sparsifyKind int

const (
	sparsifyNone      sparsifyKind = iota
	sparsifyMagnitude              // keep the density largest |δ| (TIES)
	sparsifyOutliers               // drop the gamma largest and the smallest, keep density (breadcrumbs)
	sparsifyBernoulli              // keep each element with probability density (DARE)
	sparsifyDella                  // keep with a probability growing with |δ|'s rank in its row (DELLA)
)

// DellaEpsilon is the default epsilon of della and della_linear
// (mergekit's): keep probabilities spread over density ± epsilon.
const DellaEpsilon = 0.15

// gta builds one method of mergekit's generalized task arithmetic family:
// base + λ · combine(w_i · sparsify(δ_i)), with an optional sign consensus.
func gta(name string, kind sparsifyKind, consensus, normalize, rescale bool) *Method {
	// A search starts density at 0.5, the value of mergekit's examples;
	// breadcrumbs at 0.9, since its gamma removes another 1%; task
	// arithmetic, which never thins, at its default (1).
	densityStart := Search{Start: 0.5, HasStart: true, Low: 0.1, High: 1}
	switch kind {
	case sparsifyNone:
		densityStart = Search{}
	case sparsifyOutliers:
		densityStart.Start = 0.9
	}
	params := []ParamDef{
		{Name: "int8_mask", Default: 0, Range: boolean},
		{Name: "normalize", Default: b2f(normalize), Range: boolean},
		{Name: "rescale", Default: b2f(rescale), Range: boolean},
		{Name: "lambda", Default: 1, Range: anyNumber, Search: Search{Low: 0.1, High: 1.5}},
		{Name: "weight", PerModel: true, Required: true, Range: anyNumber,
			Search: Search{Start: 1, HasStart: true, Low: 0.2, High: 1}},
		{Name: "density", PerModel: true, Default: 1, Range: density01,
			Search: densityStart},
	}
	switch kind {
	case sparsifyOutliers:
		params = append(params, ParamDef{Name: "gamma", PerModel: true, Default: 0.01, Range: gammaRng,
			Search: Search{Low: 0.001, High: 0.05, Log: true}})
	case sparsifyDella:
		// density ± epsilon must stay inside (0, 1), so epsilon < 0.5;
		// validate checks the pair.
		params = append(params, ParamDef{Name: "epsilon", PerModel: true, Default: DellaEpsilon,
			Range:  Range{HasLo: true, HasHi: true, Hi: 0.5, HiOpen: true},
			Search: Search{Low: 0.01, High: 0.2}})
	}
	g := &gtaSpec{name: name, kind: kind, consensus: consensus}
	return &Method{
		Name:     name,
		Params:   params,
		Base:     BaseRequired,
		Rectify:  RectifyToBase,
		Validate: g.validate,
		Prepare:  g.prepare,
		Parallel: true,
	}
}

type gtaSpec struct {
	name      string
	kind      sparsifyKind
	consensus bool
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (g *gtaSpec) validate(j *Job) error {
	if j.Base == nil {
		return fmt.Errorf("%s: a base_model is required", g.name)
	}
	// The ranges of density, gamma, epsilon and weight are declared with
	// the parameters; here only what ties them together.
	for _, m := range j.Models {
		d := m.Params.Get("density", 1)
		if g.kind == sparsifyDella {
			if err := sparsify.CheckDella(g.name, m.Name, d, m.Params.Get("epsilon", DellaEpsilon)); err != nil {
				return err
			}
		}
		if g.kind == sparsifyMagnitude && d < 1 && sparsify.Count(d, j.Len()) < 1 {
			return fmt.Errorf("%s: density %v keeps no element of tensor %s (%d elements) for model %s; raise density",
				g.name, d, j.Tensor, j.Len(), m.Name)
		}
	}
	return nil
}

// taskVector is one model's task vector with its sparsification.
type taskVector struct {
	in     Input
	weight float32
	scale  float32 // L1 rescale factor (1 when off)
	mask   tvMask
}

// tvMask decides which elements of a task vector survive. It holds no
// running state, so chunks can be masked concurrently and in any order.
type tvMask struct {
	kind    sparsifyKind // sparsifyNone keeps everything
	in, out sparsify.Cut // magnitude: keep `in`; outliers: keep `in` minus `out`
	stream  sparsify.Stream
	p       float32
	fixed   []float32 // test masks (1 keep, 0 drop)
	bits    []uint64  // drawn mask (DELLA; DARE once its rescale pass drew it)
	pending []uint64  // DARE's draws while the rescale pass makes them
}

// apply zeroes the dropped elements of d, the task vector's elements
// [off, off+len(d)).
func (m *tvMask) apply(off int, d []float32) {
	switch {
	case m.kind == sparsifyNone:
	case m.kind == sparsifyMagnitude:
		for i, x := range d {
			b := math.Float32bits(x)
			d[i] = math.Float32frombits(b & m.in.Mask(off+i, b&^(1<<31)))
		}
	case m.kind == sparsifyOutliers:
		for i, x := range d {
			b := math.Float32bits(x)
			k := b &^ (1 << 31)
			d[i] = math.Float32frombits(b & m.in.Mask(off+i, k) &^ m.out.Mask(off+i, k))
		}
	case m.bits != nil: // DELLA, and DARE once its rescale pass drew it
		for i := range d {
			e := off + i
			keep := uint32(-int32(m.bits[e>>6] >> (uint(e) & 63) & 1)) // all ones when kept
			d[i] = math.Float32frombits(math.Float32bits(d[i]) & keep)
		}
	case m.fixed != nil:
		fixed := m.fixed[off : off+len(d)]
		for i := range d {
			if fixed[i] == 0 {
				d[i] = 0
			}
		}
	case m.kind == sparsifyBernoulli:
		s, t := m.stream, sparsify.Threshold24(m.p)
		for i := range d {
			// keep when Bits24 < t: the difference is negative, its sign
			// spread over all bits is the keep mask.
			keep := uint32(int32(s.Bits24(off+i)-t) >> 31)
			d[i] = math.Float32frombits(math.Float32bits(d[i]) & keep)
		}
	}
}

// chunkReader reads task-vector chunks with per-worker scratch.
type chunkReader struct {
	base Input
	tvs  []*taskVector
	bufs [][]float32 // per worker: base chunk
}

func newChunkReader(j *Job, tvs []*taskVector) *chunkReader {
	r := &chunkReader{base: j.Base.Input, tvs: tvs, bufs: make([][]float32, max(1, j.Workers))}
	for w := range r.bufs {
		r.bufs[w] = make([]float32, passChunk)
	}
	return r
}

// delta fills d with task vector t's unmasked elements [lo, lo+len(d)),
// given the base chunk b.
func (r *chunkReader) delta(t int, lo int, b, d []float32) {
	r.tvs[t].in.Read(lo, d)
	vec.Sub(d, d, b)
}

func (g *gtaSpec) prepare(_ context.Context, j *Job) (Kernel, error) {
	n := j.Len()
	tvs := make([]*taskVector, len(j.Models))
	for mi := range j.Models {
		m := &j.Models[mi]
		tvs[mi] = &taskVector{in: m.Input, weight: float32(m.Params.Get("weight", 0)), scale: 1}
		if err := g.setMask(j, mi, tvs[mi], n); err != nil {
			return nil, err
		}
	}
	r := newChunkReader(j, tvs)
	if err := g.selectCuts(j, r, n); err != nil {
		return nil, err
	}
	if err := dellaMasks(j, tvs, n); err != nil {
		return nil, err
	}
	if j.Params.Bool("rescale", false) {
		rescale(j, r, n)
	}
	c := &combiner{consensus: g.consensus, normalize: j.Params.Bool("normalize", false),
		lambda: float32(j.Params.Get("lambda", 1))}
	for _, tv := range tvs {
		c.weights = append(c.weights, tv.weight)
	}
	bufs := newScratch()
	return func(off int, out []float32) error {
		nt := len(tvs)
		buf := bufs.get((nt + 2) * kernelBlock)
		defer bufs.put(buf)
		b, d, x := buf[:kernelBlock], buf[kernelBlock:2*kernelBlock], buf[2*kernelBlock:]
		for lo := 0; lo < len(out); lo += kernelBlock {
			n := min(kernelBlock, len(out)-lo)
			b := b[:n]
			j.Base.Input.Read(off+lo, b)
			for t, tv := range tvs {
				d := d[:n]
				tv.in.Read(off+lo, d)
				tv.weighBlock(off+lo, b, d, x[t*n:(t+1)*n])
			}
			c.combine(out[lo:lo+n], x[:n*nt], b)
		}
		return nil
	}, nil
}

// kernelBlock is how many elements the GTA kernel carries through all its
// steps at once: small enough that the base, one model and the weighted
// deltas of every model stay in the core's cache.
const kernelBlock = 2048

// weighBlock stores into x the model's weighted, sparsified task vector
// over elements [off, off+len(d)), given its block d and the base block b:
// (mask(d-b)·scale)·weight, mergekit's order.
func (tv *taskVector) weighBlock(off int, b, d, x []float32) {
	m := &tv.mask
	switch {
	case m.kind == sparsifyNone:
		vec.WeighCut(x, d, b, off, vec.All(), vec.None(), tv.scale, tv.weight)
	case m.kind == sparsifyMagnitude:
		vec.WeighCut(x, d, b, off, vecCut(&m.in), vec.None(), tv.scale, tv.weight)
		tv.addTies(&m.in, off, b, d, x)
	case m.kind == sparsifyOutliers:
		vec.WeighCut(x, d, b, off, vecCut(&m.in), vecCut(&m.out), tv.scale, tv.weight)
		tv.addTies(&m.in, off, b, d, x)
		tv.dropTies(&m.out, off, x, len(d))
	case m.bits != nil:
		vec.WeighBits(x, d, b, m.bits, off, tv.scale, tv.weight)
	default:
		vec.Sub(d, d, b)
		m.apply(off, d)
		tv.weigh(d, x)
	}
}

// addTies puts into x the kept elements of the cut's tie group in the
// block (vecCut leaves them out when only some are kept), weighted as
// vec.WeighCut weighs every element.
func (tv *taskVector) addTies(c *sparsify.Cut, off int, b, d, x []float32) {
	c.KeptTies(off, off+len(d), func(i int) {
		x[i-off] = (d[i-off] - b[i-off]) * tv.scale * tv.weight
	})
}

// dropTies zeroes in x the elements of the outlier cut's tie group that
// it removes (vecCut leaves them in when only some are removed), as
// vec.WeighCut zeroes a dropped element.
func (tv *taskVector) dropTies(c *sparsify.Cut, off int, x []float32, n int) {
	c.KeptTies(off, off+n, func(i int) {
		x[i-off] = 0 * tv.scale * tv.weight
	})
}

// vecCut is c for vec's loops.
func vecCut(c *sparsify.Cut) vec.Cut {
	above, end := c.Span()
	if above > math.MaxInt32 { // above every key: an empty cut
		return vec.None()
	}
	return vec.Cut{Above: int32(above), End: end}
}

// weigh stores (d·scale)·weight, mergekit's order, into x.
func (tv *taskVector) weigh(d, x []float32) {
	sc, w := tv.scale, tv.weight
	x = x[:len(d)]
	for i, v := range d {
		x[i] = v * sc * w
	}
}

// combiner turns the weighted deltas of every model, one block after the
// other in x (model t's element i at x[t*len(out)+i]), into output
// elements.
type combiner struct {
	consensus bool
	normalize bool
	lambda    float32
	weights   []float32 // each model's weight
}

// combine writes base + λ·combined into out, given the base block b.
func (c *combiner) combine(out, x, b []float32) {
	if len(c.weights) == 0 {
		copy(out, b)
		return
	}
	if c.consensus {
		vec.Consensus(out, x, c.weights, c.normalize)
	} else {
		c.sum(out, x)
	}
	vec.AddScaled(out, b, c.lambda)
}

// sum: Σ w·δ, divided by Σ w when normalizing (|Σ w| < 1e-8 → 1).
func (c *combiner) sum(out, x []float32) {
	n := len(out)
	copy(out, x[:n])
	for t := 1; t < len(c.weights); t++ {
		y := x[t*n : (t+1)*n]
		for i := range out {
			out[i] += y[i]
		}
	}
	if !c.normalize {
		return
	}
	var div float32
	for _, w := range c.weights {
		div += w
	}
	if float32(math.Abs(float64(div))) < 1e-8 {
		return
	}
	for i := range out {
		out[i] /= div
	}
}

// setMask sets up model mi's mask, short of the statistics passes.
func (g *gtaSpec) setMask(j *Job, mi int, tv *taskVector, n int) error {
	m := &j.Models[mi]
	density := m.Params.Get("density", 1)
	if g.kind == sparsifyNone || density >= 1 {
		return nil
	}
	tv.mask.kind = g.kind
	switch g.kind {
	case sparsifyMagnitude:
		k := sparsify.Count(density, n)
		if k < 1 {
			return fmt.Errorf("%s: density %v keeps no element of tensor %s (%d elements) for model %s; raise density",
				g.name, density, j.Tensor, n, m.Name)
		}
		tv.mask.in.K = k
	case sparsifyOutliers:
		target := sparsify.Count(density, n)
		nTop := sparsify.Count(m.Params.Get("gamma", 0.01), n)
		if nBot := n - target - nTop; nBot < 0 {
			nTop += nBot
		}
		if nTop == 0 {
			// mergekit's slice idx[n_bot:-0] keeps nothing here and zeroes the
			// task vector; mergetune removes no outlier and keeps density.
			j.Warnf("%s: gamma %v removes no outlier from %s (%d elements); keeping the %d largest magnitudes (mergekit would zero the task vector)",
				g.name, m.Params.Get("gamma", 0.01), j.Tensor, n, target)
		}
		tv.mask.in.K, tv.mask.out.K = nTop+target, nTop
	case sparsifyBernoulli:
		tv.mask.p = float32(density)
		tv.mask.stream = sparsify.NewStream(j.Seed, j.Tensor, mi)
		if j.Masks != nil {
			tv.mask.fixed = j.Masks(mi)
		}
	}
	return nil
}

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
