package sparsify

import (
	"hash/fnv"
	"math"

	"github.com/mergetune/mergetune/merge/vec"
)

// Stream identifies one model's draws on one tensor for a given seed. Each
// element's draw depends only on (seed, tensor, model, index), so a merge is
// reproducible bit for bit whatever the chunking or the number of workers.
type Stream uint64

// NewStream returns the stream of model (its position among the inputs) on
// the named tensor.
func NewStream(seed uint64, tensor string, model int) Stream {
	h := fnv.New64a()
	h.Write([]byte(tensor))
	return Stream(vec.Mix(seed ^ vec.Mix(h.Sum64()+uint64(model)*0x9e3779b97f4a7c15)))
}

// Uniform returns the draw of element i, uniform on [0, 1) with 24 bits.
func (s Stream) Uniform(i int) float32 {
	return float32(s.Bits24(i)) * (1.0 / (1 << 24))
}

// Bits24 returns the draw of element i as an integer in [0, 2^24):
// Uniform(i) == Bits24(i) / 2^24.
func (s Stream) Bits24(i int) uint32 { return vec.Draw24(uint64(s), i) }

// Draws stores Bits24(first+l) in dst[l].
func (s Stream) Draws(dst []uint32, first int) { vec.Draws(dst, uint64(s), first) }

// Threshold24 returns the integer T with Bits24(i) < T exactly when
// Uniform(i) < p, for branch-free comparisons.
func Threshold24(p float32) uint32 {
	switch {
	case !(p > 0):
		return 0
	case p >= 1:
		return 1 << 24
	}
	return uint32(math.Ceil(float64(p) * (1 << 24)))
}
