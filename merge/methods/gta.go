package methods

// The generalized task arithmetic family (task_arithmetic, ties,
// dare_linear, dare_ties, breadcrumbs, breadcrumbs_ties, della,
// della_linear; declared in taskvector.go): its parameters and the shared
// kernel, base + λ · combine(w_i · sparsify(δ_i)). The sparsifications'
// whole-tensor passes live beside it: gta_cuts.go (TIES and breadcrumbs
// magnitude cut-offs), gta_rescale.go (DARE draws and the L1 rescale),
// gta_della.go (DELLA's rank-based masks).

import (
	"context"
	"fmt"
	"math"

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
		vec.AddScaled(out, x[t*n:(t+1)*n], 1) // out[i] += y[i]
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
