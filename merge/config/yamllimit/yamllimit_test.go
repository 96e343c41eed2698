package yamllimit

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Bomb returns a "billion laughs" document of the given depth: each level
// is a list of nine aliases to the level below, so the last level stands
// for 9^(depth+1) scalars while the text stays under a kilobyte.
func bomb(depth int) string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= depth; i++ {
		p := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "a%d: &a%d [%s, %s, %s, %s, %s, %s, %s, %s, %s]\n", i, i, p, p, p, p, p, p, p, p, p)
	}
	return b.String()
}

func parse(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	return &doc
}

func TestCheck(t *testing.T) {
	reuse := "p: &p {weight: 0.5, density: [1, 0.7, 0.3]}\nmodels:\n" + strings.Repeat("  - {model: m, parameters: *p}\n", 200)
	tests := []struct {
		name string
		src  string
		ok   bool
	}{
		{"no aliases", "a: [1, 2, 3]\nb: {c: d}\n", true},
		{"a block reused 200 times", reuse, true},
		{"bomb depth 3", bomb(3), true}, // 9^4 = 6561 scalars
		{"bomb depth 5", bomb(5), false},
		{"bomb depth 7", bomb(7), false},
		{"bomb depth 9", bomb(9), false},
		{"bomb depth 30", bomb(30), false}, // sizes saturate, never overflow
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := parse(t, tt.src)
			c := checker{size: map[*yaml.Node]int{}}
			err := c.check(doc)
			// The work is linear in the nodes written, whatever the
			// aliases expand to: each node is entered once from its
			// parent and once more from each alias to it, by each of
			// the two walks. Counted, not timed: a busy machine makes
			// any elapsed-time threshold fail at random.
			if n := nodes(doc); c.calls > 3*n {
				t.Errorf("Check made %d calls for %d written nodes, want at most %d", c.calls, n, 3*n)
			}
			if got := Check(doc); (got == nil) != (err == nil) {
				t.Errorf("Check = %v, check = %v", got, err)
			}
			if tt.ok && err != nil {
				t.Fatalf("Check: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrExcessiveAliasing) {
				t.Fatalf("Check = %v, want ErrExcessiveAliasing", err)
			}
			if err2 := CheckBytes([]byte(tt.src)); (err2 == nil) != tt.ok {
				t.Errorf("CheckBytes = %v, Check = %v", err2, err)
			}
		})
	}
}

// nodes counts the nodes written under n, alias nodes included, without
// following aliases.
func nodes(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	s := 1
	if n.Kind != yaml.AliasNode {
		for _, ch := range n.Content {
			s += nodes(ch)
		}
	}
	return s
}

func TestCheckBytes(t *testing.T) {
	if err := CheckBytes([]byte("a: 1\n---\n" + bomb(8))); !errors.Is(err, ErrExcessiveAliasing) {
		t.Errorf("second document: %v, want ErrExcessiveAliasing", err)
	}
	if err := CheckBytes([]byte("a: [1, 2\n")); err == nil || errors.Is(err, ErrExcessiveAliasing) {
		t.Errorf("syntax error: %v", err)
	}
	if err := CheckBytes(nil); err != nil {
		t.Errorf("empty: %v", err)
	}
}

// TestCheckSelfReference builds a node that holds an alias to itself,
// which yaml.v3 refuses to parse but a caller could build by hand.
func TestCheckSelfReference(t *testing.T) {
	seq := &yaml.Node{Kind: yaml.SequenceNode, Anchor: "a"}
	seq.Content = []*yaml.Node{{Kind: yaml.AliasNode, Value: "a", Alias: seq, Line: 3}}
	err := Check(seq)
	if !errors.Is(err, ErrExcessiveAliasing) || !strings.Contains(err.Error(), "*a on line 3") {
		t.Errorf("Check = %v", err)
	}
}
