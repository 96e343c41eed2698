package eval

import "github.com/mergetune/mergetune/results"

// ClaimVerdict is the one rule of a paper claim's verdict (`mergetune
// reproduce`): the claim says the measured quantity lies above threshold
// (a difference above 0, a retention above 0.95, …). It holds when the
// whole 95% interval lies above the threshold, does not hold when the
// whole interval lies below it, and is inconclusive when the interval
// contains it.
func ClaimVerdict(e Estimate, threshold float64) string {
	switch {
	case e.Lo > threshold:
		return results.VerdictHolds
	case e.Hi < threshold:
		return results.VerdictDoesNotHold
	}
	return results.VerdictInconclusive
}

// MeanEstimate is the mean of xs with its 95% interval across them
// (MeanInterval): the estimate of a claim measured on several units (task
// subsets, seeds).
func MeanEstimate(xs []float64) Estimate {
	m, lo, hi := MeanInterval(xs)
	return Estimate{Value: m, Lo: lo, Hi: hi}
}
