package study

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/merge/config/yamllimit"
)

// bomb returns a YAML "billion laughs" anchored at a0 whose last level
// (a<depth>) stands for 9^depth scalars.
func bomb(depth int) string {
	var b strings.Builder
	b.WriteString("x-a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= depth; i++ {
		fmt.Fprintf(&b, "x-a%d: &a%d [", i, i)
		for j := 0; j < 9; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// TestAliasBombRefused checks that a study whose yaml.Node fields (space,
// method, objective, evaluator) refer to an alias bomb is refused at once,
// naming the file, instead of being expanded.
func TestAliasBombRefused(t *testing.T) {
	for _, field := range []string{"space", "method", "objective", "evaluator"} {
		t.Run(field, func(t *testing.T) {
			// The anchors are written inside the field's own value, a
			// list whose items define each level of the bomb.
			var b strings.Builder
			fmt.Fprintf(&b, "%s:\n", field)
			for _, line := range strings.Split(strings.TrimSpace(bomb(9)), "\n") {
				_, value, _ := strings.Cut(line, ": ")
				b.WriteString("  - " + value + "\n")
			}
			// The refusal must be yamllimit's, made before any field is
			// walked; its cost is counted (not timed) in yamllimit's
			// tests. An expanding walk of 9^10 nodes would not return.
			_, err := Parse([]byte(b.String()), "bomb.yml")
			if err == nil || !strings.Contains(err.Error(), yamllimit.ErrExcessiveAliasing.Error()) {
				t.Fatalf("err = %v, want excessive aliasing refused", err)
			}
			if !strings.Contains(err.Error(), "bomb.yml") {
				t.Errorf("err = %v, want the file named", err)
			}
		})
	}
}
