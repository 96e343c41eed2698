package methods

import (
	"math"
	"math/rand"
	"testing"
)

// TestSampledCutsEqualExact: the one-pass sampled selection finds exactly
// the cuts of the two-pass selection, for TIES and breadcrumbs masks, on
// smooth data, heavy-tailed data and data full of ties.
func TestSampledCutsEqualExact(t *testing.T) {
	n := 40 * passChunk
	rng := rand.New(rand.NewSource(7))
	base := make(Slice, n)
	for i := range base {
		base[i] = float32(rng.NormFloat64())
	}
	models := map[string]Slice{}
	for _, dist := range []string{"normal", "heavy", "ties"} {
		m := make(Slice, n)
		for i := range m {
			switch dist {
			case "normal":
				m[i] = base[i] + float32(rng.NormFloat64()*0.01)
			case "heavy":
				m[i] = base[i] + float32(math.Exp(rng.NormFloat64()*3)*1e-3)
			case "ties":
				m[i] = base[i] + float32(rng.Intn(7)-3)*0.25
			}
		}
		models[dist] = m
	}
	for _, kind := range []sparsifyKind{sparsifyMagnitude, sparsifyOutliers} {
		for dist, m := range models {
			for _, workers := range []int{1, 3} {
				mk := func() (*Job, *chunkReader, []int) {
					j := &Job{Tensor: "w", Shape: []int{n}, Base: &Model{Input: base}, Workers: workers,
						Models: []Model{{Name: dist, Input: m, Params: Params{"weight": 1, "density": 0.3, "gamma": 0.01}}}}
					tv := &taskVector{in: m, weight: 1, scale: 1}
					g := &gtaSpec{name: "t", kind: kind}
					if err := g.setMask(j, 0, tv, n); err != nil {
						t.Fatal(err)
					}
					return j, newChunkReader(j, []*taskVector{tv}), []int{0}
				}
				j1, r1, need := mk()
				if err := exactCuts(j1, r1, n, need); err != nil {
					t.Fatal(err)
				}
				j2, r2, _ := mk()
				ok := sampledCuts(j2, r2, n, need)
				if dist != "ties" && !ok {
					t.Fatalf("%v %s: the sample missed the cut on smooth data", kind, dist)
				}
				if !ok {
					continue // fell back: the caller runs exactCuts
				}
				a, b := r1.tvs[0].mask, r2.tvs[0].mask
				if !a.in.Same(&b.in, n) || !a.out.Same(&b.out, n) {
					t.Fatalf("%v %s workers %d: sampled cuts %+v %+v, exact %+v %+v", kind, dist, workers, b.in, b.out, a.in, a.out)
				}
			}
		}
	}
}
