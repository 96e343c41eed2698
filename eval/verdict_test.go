package eval

import (
	"testing"

	"github.com/mergetune/mergetune/results"
)

// TestClaimVerdict: the interval above the threshold holds, below it does
// not hold, across it (or touching it) is inconclusive.
func TestClaimVerdict(t *testing.T) {
	for _, c := range []struct {
		e         Estimate
		threshold float64
		want      string
	}{
		{Estimate{0.05, 0.01, 0.09}, 0, results.VerdictHolds},
		{Estimate{-0.05, -0.09, -0.01}, 0, results.VerdictDoesNotHold},
		{Estimate{0.02, -0.01, 0.05}, 0, results.VerdictInconclusive},
		{Estimate{0.02, 0, 0.05}, 0, results.VerdictInconclusive},
		{Estimate{0.99, 0.97, 1}, 0.95, results.VerdictHolds},
		{Estimate{0.9, 0.85, 0.94}, 0.95, results.VerdictDoesNotHold},
		{Estimate{1, 1, 1}, 0.95, results.VerdictHolds},
		{Estimate{0, 0, 0}, 0, results.VerdictInconclusive},
	} {
		if got := ClaimVerdict(c.e, c.threshold); got != c.want {
			t.Errorf("ClaimVerdict(%v, %v) = %q, want %q", c.e, c.threshold, got, c.want)
		}
	}
}
