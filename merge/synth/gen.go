package synth

import (
	"hash/fnv"
	"math"
	"strconv"
	"strings"
)

// golden is the splitmix64 increment (2^64 / φ).
const golden = 0x9E3779B97F4A7C15

// mix64 is the splitmix64 output function: a bijective avalanche of x.
func mix64(x uint64) uint64 {
	x = (x ^ x>>30) * 0xBF58476D1CE4E5B9
	x = (x ^ x>>27) * 0x94D049BB133111EB
	return x ^ x>>31
}

// at returns the counter-th value of the stream keyed by key.
func at(key, counter uint64) uint64 { return mix64(key + (counter+1)*golden) }

// Irwin–Hall constants: the sum of four 16-bit uniforms has mean
// 4·(2^16-1)/2 and variance 4·(2^32-1)/12; ihInv is 1/sqrt of the latter.
const (
	ihMean = 2 * (1<<16 - 1)
	ihInv  = 2.6428997921303014e-05
)

// normal maps 64 random bits to an approximately standard normal value:
// the standardized sum of four 16-bit uniforms (Irwin–Hall, |z| < 3.47).
func normal(x uint64) float32 {
	s := x&0xffff + x>>16&0xffff + x>>32&0xffff + x>>48
	return (float32(s) - ihMean) * ihInv
}

// key derives a stream key from a seed and labels.
func key(seed uint64, labels ...string) uint64 {
	h := fnv.New64a()
	for _, l := range labels {
		h.Write([]byte(l))
		h.Write([]byte{0})
	}
	return mix64(mix64(seed^golden) ^ h.Sum64())
}

// generator computes the values of one tensor of one model.
type generator struct {
	base      uint64  // stream of the base weights
	offset    float32 // 1 for norm weights, else 0
	fineTune  bool
	shared    uint64 // stream of the shared delta component
	own       uint64 // stream of the individual delta component
	outlier   uint64 // stream choosing the outliers
	threshold uint64 // an element is an outlier when its outlier draw is below
	scale     float32
}

// newGenerator returns the generator of tensor name for the base model
// (index < 0) or fine-tune index.
func newGenerator(opt Options, index int, name string) generator {
	g := generator{base: key(opt.Seed, "base", name)}
	if strings.HasSuffix(name, "norm.weight") {
		g.offset = 1
	}
	if index >= 0 {
		i := strconv.Itoa(index)
		g.fineTune = true
		g.shared = key(opt.Seed, "shared", name)
		g.own = key(opt.Seed, "own", i, name)
		g.outlier = key(opt.Seed, "outlier", i, name)
		g.scale = float32(opt.Noise / math.Sqrt2)
		if opt.Outliers >= 1 {
			g.threshold = math.MaxUint64
		} else {
			g.threshold = uint64(opt.Outliers * (1 << 64))
		}
	}
	return g
}

// fill writes elements [off, off+len(out)) of the tensor into out.
func (g *generator) fill(off int, out []float32) {
	c := uint64(off)
	if !g.fineTune {
		for i := range out {
			out[i] = g.offset + InitStd*normal(at(g.base, c+uint64(i)))
		}
		return
	}
	for i := range out {
		n := c + uint64(i)
		d := g.scale * (normal(at(g.shared, n)) + normal(at(g.own, n)))
		if at(g.outlier, n) < g.threshold {
			d *= OutlierScale
		}
		out[i] = g.offset + InitStd*normal(at(g.base, n)) + d
	}
}
