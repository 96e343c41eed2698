package methods

import (
	"math/rand"
	"testing"
)

func consensusInputs(models, k int) ([][]float32, []*taskVector) {
	rng := rand.New(rand.NewSource(1))
	wd := make([][]float32, models)
	tvs := make([]*taskVector, models)
	for t := range wd {
		wd[t] = make([]float32, k)
		for i := range wd[t] {
			if rng.Intn(2) == 0 {
				wd[t][i] = float32(rng.NormFloat64())
			}
		}
		tvs[t] = &taskVector{weight: 0.3 + float32(t)*0.1}
	}
	return wd, tvs
}

func BenchmarkConsensus(b *testing.B) {
	k := 1 << 18
	wd, tvs := consensusInputs(3, k)
	out := make([]float32, k)
	b.SetBytes(int64(k) * 4)
	for i := 0; i < b.N; i++ {
		combineConsensus(out, wd, tvs, k, true)
	}
}
