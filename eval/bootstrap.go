package eval

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Bootstrap settings used by Evaluate for every task score.
const (
	// BootstrapResamples is the number of resamples of a task's CI95.
	BootstrapResamples = 1000
	// BootstrapSeed seeds the resampling, so a score's interval depends
	// only on its items' outcomes.
	BootstrapSeed = 1234
)

// Bootstrap returns the 95% percentile bootstrap interval of the accuracy
// (the mean of correct): resamples resamples of len(correct) items drawn
// with replacement by a PCG generator seeded with seed, and the 2.5% and
// 97.5% quantiles of their means (linear interpolation between order
// statistics). The result depends only on its arguments. No items, or
// resamples < 1, give (0, 0).
func Bootstrap(correct []bool, resamples int, seed uint64) (lo, hi float64) {
	n := len(correct)
	if n == 0 || resamples < 1 {
		return 0, 0
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	means := make([]float64, resamples)
	for i := range means {
		k := 0
		for range n {
			if correct[r.IntN(n)] {
				k++
			}
		}
		means[i] = float64(k) / float64(n)
	}
	slices.Sort(means)
	return quantile(means, 0.025), quantile(means, 0.975)
}

// quantile returns the q-quantile of sorted values (numpy's "linear"
// method).
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(math.Floor(pos))
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	f := pos - float64(i)
	return sorted[i] + f*(sorted[i+1]-sorted[i])
}
