package eval

import (
	"math"
)

// Z95 is the standard normal quantile of 0.975: the half-width, in standard
// errors, of every 95% interval this package computes.
const Z95 = 1.959963984540054

// Wilson returns the 95% Wilson score interval of an accuracy of k correct
// out of n items. It is the one interval rule of mergetune's scores: unlike
// a bootstrap or the normal approximation it does not collapse to a point
// at 0 or n correct (0 of 40 gives [0, 0.088]), it stays inside [0, 1],
// and it depends only on k and n. No items (n ≤ 0) give [0, 1]: nothing
// is known.
func Wilson(k, n int) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	k = min(max(k, 0), n)
	nf := float64(n)
	p := float64(k) / nf
	z2 := Z95 * Z95
	den := 1 + z2/nf
	centre := (p + z2/(2*nf)) / den
	half := Z95 * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf)) / den
	lo, hi = max(centre-half, 0), min(centre+half, 1)
	// Exact ends: 0 correct has lower bound 0, all correct upper bound 1.
	if k == 0 {
		lo = 0
	}
	if k == n {
		hi = 1
	}
	return lo, hi
}

// PairedDiff returns the 95% interval of the difference A − B of two
// accuracies measured on the same items: both is the number of items both
// models got right, onlyA and onlyB those only A or only B got right,
// neither the rest. It is Newcombe's hybrid score interval for paired
// proportions (Newcombe 1998, method 10), which combines the Wilson
// intervals of both accuracies with their correlation, the correlation's
// numerator reduced by n/2 when positive as Newcombe proposes; like
// Wilson it does not collapse when the models agree on every item. No
// items give [-1, 1].
func PairedDiff(both, onlyA, onlyB, neither int) (lo, hi float64) {
	n := both + onlyA + onlyB + neither
	if n <= 0 {
		return -1, 1
	}
	nf := float64(n)
	p1, p2 := float64(both+onlyA)/nf, float64(both+onlyB)/nf
	l1, u1 := Wilson(both+onlyA, n)
	l2, u2 := Wilson(both+onlyB, n)
	// phi: the correlation of the two outcomes (0 when a margin is
	// empty), its numerator reduced by n/2 when positive as Newcombe
	// proposes, so that full agreement does not collapse the interval.
	phi := 0.0
	den := float64(both+onlyA) * float64(onlyB+neither) * float64(both+onlyB) * float64(onlyA+neither)
	if den > 0 {
		num := float64(both)*float64(neither) - float64(onlyA)*float64(onlyB)
		if num > 0 {
			num = max(num-nf/2, 0)
		}
		phi = num / math.Sqrt(den)
	}
	d := p1 - p2
	dl := math.Sqrt(max((p1-l1)*(p1-l1)-2*phi*(p1-l1)*(u2-p2)+(u2-p2)*(u2-p2), 0))
	du := math.Sqrt(max((u1-p1)*(u1-p1)-2*phi*(u1-p1)*(p2-l2)+(p2-l2)*(p2-l2), 0))
	return max(d-dl, -1), min(d+du, 1)
}

// McNemarExact returns the two-sided p-value of McNemar's exact test: under
// the hypothesis that two models are equally accurate, each item only one
// of them answers right (onlyA + onlyB discordant items) is A's with
// probability 1/2, and p is twice the smaller binomial tail, at most 1. No
// discordant items give 1; p underflows to 0 past about a thousand
// discordant items all one way.
func McNemarExact(onlyA, onlyB int) float64 {
	m := onlyA + onlyB
	if m <= 0 {
		return 1
	}
	k := min(onlyA, onlyB)
	// P(X ≤ k) for X ~ Binomial(m, 1/2), summed in log space.
	logHalf := float64(m) * math.Log(0.5)
	tail := 0.0
	for i := 0; i <= k; i++ {
		tail += math.Exp(logChoose(m, i) + logHalf)
	}
	return min(2*tail, 1)
}

// logChoose returns log(n choose k).
func logChoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// t95 are Student's t quantiles of 0.975 for 1 to 30 degrees of freedom.
var t95 = [...]float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
	2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
	2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}

// MeanInterval returns the mean of xs and its 95% interval across them:
// mean ± t·s/√n, with Student's t quantile of n−1 degrees of freedom (the
// normal quantile Z95 past 30) and s the sample standard deviation. It is
// the interval of a score averaged over random draws (extend's subsets of
// task models). One value gives the value itself as both ends (nothing
// measures the spread), none gives zeros.
func MeanInterval(xs []float64) (mean, lo, hi float64) {
	n := len(xs)
	if n == 0 {
		return 0, 0, 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(n)
	if n == 1 {
		return mean, mean, mean
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	t := Z95
	if n-1 <= len(t95) {
		t = t95[n-2]
	}
	half := t * math.Sqrt(ss/float64(n-1)/float64(n))
	return mean, mean - half, mean + half
}
