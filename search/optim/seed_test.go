package optim

import (
	"fmt"
	"testing"
)

// TestTrialSeed checks that trial seeds differ by study seed, number and
// parameter, and are stable.
func TestTrialSeed(t *testing.T) {
	seen := map[int64]string{}
	for _, seed := range []int64{0, 1} {
		for n := range 50 {
			for _, name := range []string{"lambda", "weight[a]"} {
				v := TrialSeed(seed, n, name)
				k := fmt.Sprint(seed, n, name)
				if prev, dup := seen[v]; dup {
					t.Fatalf("seed of %s equals that of %s", k, prev)
				}
				seen[v] = k
				if TrialSeed(seed, n, name) != v {
					t.Fatalf("seed of %s is not stable", k)
				}
			}
		}
	}
}
