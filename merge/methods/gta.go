package methods

import (
	"fmt"
	"math"

	"github.com/mergetune/mergetune/merge/sparsify"
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

// gta builds one method of mergekit's generalized task arithmetic family:
// base + λ · combine(sparsify(w_i · δ_i)), with an optional sign consensus.
func gta(name string, kind sparsifyKind, consensus, normalize, rescale bool) *Method {
	params := []ParamDef{
		{Name: "int8_mask", Default: 0},
		{Name: "normalize", Default: b2f(normalize)},
		{Name: "rescale", Default: b2f(rescale)},
		{Name: "lambda", Default: 1},
		{Name: "weight", PerModel: true, Required: true},
		{Name: "density", PerModel: true, Default: 1},
	}
	switch kind {
	case sparsifyOutliers:
		params = append(params, ParamDef{Name: "gamma", PerModel: true, Default: 0.01})
	case sparsifyDella:
		params = append(params, ParamDef{Name: "epsilon", PerModel: true, Default: 0.15})
	}
	g := &gtaSpec{name: name, kind: kind, consensus: consensus}
	return &Method{
		Name:     name,
		Params:   params,
		Base:     BaseRequired,
		Rectify:  RectifyToBase,
		Validate: g.validate,
		Prepare:  g.prepare,
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
	for _, m := range j.Models {
		d := m.Params.Get("density", 1)
		switch g.kind {
		case sparsifyMagnitude, sparsifyOutliers, sparsifyBernoulli:
			if err := sparsify.CheckDensity(g.name, m.Name, d); err != nil {
				return err
			}
		case sparsifyDella:
			if err := sparsify.CheckDella(g.name, m.Name, d, m.Params.Get("epsilon", 0.15)); err != nil {
				return err
			}
		}
		if g.kind == sparsifyOutliers {
			if gm := m.Params.Get("gamma", 0.01); !(gm >= 0 && gm < 1) {
				return fmt.Errorf("%s: gamma %v for model %s is outside [0, 1)", g.name, gm, m.Name)
			}
		}
		if w := m.Params.Get("weight", 0); math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("%s: weight %v for model %s is not a finite number", g.name, w, m.Name)
		}
	}
	return nil
}

// taskVector is one model's sparsified, rescaled task vector, produced
// chunk by chunk in index order.
type taskVector struct {
	in     Input
	weight float32
	scale  float32 // L1 rescale factor (1 when off)
	mask   func() masker
	live   masker
}

// masker decides, element by element in index order, whether to keep δ.
type masker interface {
	keep(i int, delta float32) bool
}

type keepAll struct{}

func (keepAll) keep(int, float32) bool { return true }

type topMask struct{ in, out *sparsify.Keeper }

// keep: in the top `in` cut but not in the top `out` cut (out may be nil).
func (m topMask) keep(_ int, d float32) bool {
	b := sparsify.MagBits(d)
	k := m.in.Keep(b)
	if m.out != nil && m.out.Keep(b) {
		return false
	}
	return k
}

type randMask struct {
	s sparsify.Stream
	p float32
}

func (m randMask) keep(i int, _ float32) bool { return m.s.Uniform(i) < m.p }

type fixedMask []float32

func (m fixedMask) keep(i int, _ float32) bool { return m[i] != 0 }

type bitMask []uint64

func (m bitMask) keep(i int, _ float32) bool { return m[i>>6]&(1<<(uint(i)&63)) != 0 }

func (g *gtaSpec) prepare(j *Job) (Kernel, error) {
	n := j.Len()
	base := j.Base.Input
	tvs := make([]*taskVector, 0, len(j.Models))
	for mi := range j.Models {
		m := &j.Models[mi]
		tv, err := g.taskVector(j, mi, m, n)
		if err != nil {
			return nil, err
		}
		if tv != nil {
			tvs = append(tvs, tv)
		}
	}
	normalize := j.Params.Bool("normalize", false)
	lambda := float32(j.Params.Get("lambda", 1))
	for _, tv := range tvs {
		tv.live = tv.mask()
	}
	var baseBuf, buf []float32
	var wd [][]float32
	return func(off int, out []float32) error {
		k := len(out)
		if cap(baseBuf) < k {
			baseBuf, buf = make([]float32, k), make([]float32, k)
			wd = make([][]float32, len(tvs))
			for i := range wd {
				wd[i] = make([]float32, k)
			}
		}
		b := baseBuf[:k]
		base.Read(off, b)
		for t, tv := range tvs {
			x := wd[t][:k]
			tv.in.Read(off, buf[:k])
			if _, all := tv.live.(keepAll); all {
				sw := tv.scale * tv.weight
				if tv.scale == 1 {
					sw = tv.weight
				}
				for i := range x {
					x[i] = (buf[i] - b[i]) * sw
				}
				continue
			}
			for i := range x {
				d := buf[i] - b[i]
				if !tv.live.keep(off+i, d) {
					x[i] = 0
					continue
				}
				x[i] = d * tv.scale * tv.weight
			}
		}
		if len(tvs) == 0 {
			copy(out, b)
			return nil
		}
		if g.consensus {
			combineConsensus(out, wd, tvs, k, normalize)
		} else {
			combineSum(out, wd, tvs, k, normalize)
		}
		for i := range out {
			if lambda != 1 {
				out[i] *= lambda
			}
			out[i] += b[i]
		}
		return nil
	}, nil
}

// combineSum: Σ w·δ, divided by Σ w when normalizing (|Σ w| < 1e-8 → 1).
func combineSum(out []float32, wd [][]float32, tvs []*taskVector, k int, normalize bool) {
	div := float32(1)
	if normalize {
		var s float32
		for _, tv := range tvs {
			s += tv.weight
		}
		if float32(math.Abs(float64(s))) >= 1e-8 {
			div = s
		}
	}
	for i := 0; i < k; i++ {
		var s float32
		for t := range wd {
			s += wd[t][i]
		}
		if normalize {
			s /= div
		}
		out[i] = s
	}
}

// combineConsensus: mergekit's sign election on the weighted task vectors.
// The majority sign is + when Σ w·δ >= 0; an element agrees when its sign
// equals the majority (zeros never agree).
func combineConsensus(out []float32, wd [][]float32, tvs []*taskVector, k int, normalize bool) {
	for i := 0; i < k; i++ {
		var sum float32
		for t := range wd {
			sum += wd[t][i]
		}
		pos := sum >= 0
		var mixed, div float32
		for t := range wd {
			x := wd[t][i]
			if (pos && x > 0) || (!pos && x < 0) {
				mixed += x
				div += tvs[t].weight
			}
		}
		if normalize {
			if div == 0 {
				div = 1
			}
			mixed /= div
		}
		out[i] = mixed
	}
}

// taskVector prepares model m's task vector: its mask, found by scanning
// the tensor when the method needs a magnitude cut-off, DELLA ranks or an
// L1 rescale factor. It returns nil for a model whose vector is all dropped.
func (g *gtaSpec) taskVector(j *Job, mi int, m *Model, n int) (*taskVector, error) {
	density := m.Params.Get("density", 1)
	tv := &taskVector{in: m.Input, weight: float32(m.Params.Get("weight", 0)), scale: 1}
	tv.mask = func() masker { return keepAll{} }
	if g.kind == sparsifyNone || density >= 1 {
		return tv, nil
	}
	delta := (&deltaReader{base: j.Base.Input, model: m.Input}).read
	switch g.kind {
	case sparsifyMagnitude:
		k := sparsify.Count(density, n)
		if k < 1 {
			return nil, fmt.Errorf("%s: density %v keeps no element of tensor %s (%d elements) for model %s; raise density",
				g.name, density, j.Tensor, n, m.Name)
		}
		cut := sparsify.TopK(n, magKeys(delta), k)[0]
		tv.mask = func() masker { return topMask{in: cut.Keeper()} }
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
		cuts := sparsify.TopK(n, magKeys(delta), nTop+target, nTop)
		tv.mask = func() masker { return topMask{in: cuts[0].Keeper(), out: cuts[1].Keeper()} }
	case sparsifyBernoulli:
		if j.Masks != nil {
			fm := fixedMask(j.Masks(mi))
			tv.mask = func() masker { return fm }
		} else {
			rm := randMask{s: sparsify.NewStream(j.Seed, j.Tensor, mi), p: float32(density)}
			tv.mask = func() masker { return rm }
		}
	case sparsifyDella:
		bits, err := dellaMask(j, mi, m, n, density)
		if err != nil {
			return nil, err
		}
		tv.mask = func() masker { return bits }
	}
	if j.Params.Bool("rescale", false) {
		tv.scale = l1Factor(n, delta, tv.mask())
	}
	return tv, nil
}

// deltaReader reads a task vector (model - base) chunk by chunk, reusing
// its scratch buffer.
type deltaReader struct {
	base, model Input
	scratch     []float32
}

// read fills dst with model - base over [off, off+len(dst)).
func (r *deltaReader) read(off int, dst []float32) {
	if cap(r.scratch) < len(dst) {
		r.scratch = make([]float32, len(dst))
	}
	b := r.scratch[:len(dst)]
	r.base.Read(off, b)
	r.model.Read(off, dst)
	for i := range dst {
		dst[i] -= b[i]
	}
}

// magKeys turns a delta reader into a magnitude-key reader.
func magKeys(delta func(off int, dst []float32)) func(off int, dst []uint32) {
	var buf []float32
	return func(off int, dst []uint32) {
		if cap(buf) < len(dst) {
			buf = make([]float32, len(dst))
		}
		d := buf[:len(dst)]
		delta(off, d)
		for i, x := range d {
			dst[i] = sparsify.MagBits(x)
		}
	}
}

// l1Factor is mergekit's rescale: Σ|δ| / Σ|δ·mask| over the whole tensor,
// or 1 when either sum is below 1e-7.
func l1Factor(n int, delta func(off int, dst []float32), mask masker) float32 {
	var before, after float64
	buf := make([]float32, min(n, 1<<16))
	for off := 0; off < n; off += len(buf) {
		d := buf[:min(len(buf), n-off)]
		delta(off, d)
		for i, x := range d {
			a := math.Abs(float64(x))
			before += a
			if mask.keep(off+i, x) {
				after += a
			}
		}
	}
	if before < 1e-7 || after < 1e-7 {
		return 1
	}
	return float32(before / after)
}

// dellaMask draws DELLA's keep-mask: along axis 1 (a 1-D tensor is one
// row; for 3-D tensors the vectors run along axis 1 as in mergekit), each
// element is kept with a probability linear in its magnitude rank.
func dellaMask(j *Job, mi int, m *Model, n int, density float64) (bitMask, error) {
	eps := m.Params.Get("epsilon", 0.15)
	outer, length, inner := dellaAxes(j.Shape)
	if length == 1 && n > 1 {
		return nil, fmt.Errorf("della: tensor %s has shape %v: ranks along axis 1 need more than one element (mergekit yields NaN)", j.Tensor, j.Shape)
	}
	bits := make(bitMask, (n+63)/64)
	block := make([]float32, length*inner)
	vec := make([]float32, length)
	p := make([]float32, length)
	var fixed []float32
	if j.Masks != nil {
		fixed = j.Masks(mi)
	}
	stream := sparsify.NewStream(j.Seed, j.Tensor, mi)
	var r sparsify.Ranker
	dr := &deltaReader{base: j.Base.Input, model: m.Input}
	for o := 0; o < outer; o++ {
		start := o * length * inner
		dr.read(start, block)
		for in := 0; in < inner; in++ {
			for l := 0; l < length; l++ {
				vec[l] = block[l*inner+in]
			}
			r.Probs(vec, density, eps, p)
			for l := 0; l < length; l++ {
				i := start + l*inner + in
				var keep bool
				if fixed != nil {
					keep = fixed[i] != 0
				} else {
					keep = stream.Uniform(i) < p[l]
				}
				if keep {
					bits[i>>6] |= 1 << (uint(i) & 63)
				}
			}
		}
	}
	return bits, nil
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
