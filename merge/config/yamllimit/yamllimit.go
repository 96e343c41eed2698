// Package yamllimit bounds the cost of walking a parsed YAML document. A
// YAML alias refers to an anchored node instead of copying it, so a
// document of a kilobyte can stand for billions of nodes ("billion
// laughs"): nine aliases to a list of nine aliases to a list of nine ...
// Every reader of user YAML calls Check (or CheckBytes) before it walks a
// yaml.Node, so that no walk, error message or decode expands such a
// document.
package yamllimit

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// MaxAliasNodes is the most nodes that aliases may add to a document once
// expanded: the expanded document may hold at most this many nodes more
// than the document as written. Real configs reuse a few blocks and stay
// far below it.
const MaxAliasNodes = 100_000

// ErrExcessiveAliasing is the error that Check wraps when a document's
// aliases expand to too many nodes.
var ErrExcessiveAliasing = errors.New("excessive aliasing")

// Check returns an error wrapping ErrExcessiveAliasing when the aliases
// in the document rooted at root expand to more than MaxAliasNodes nodes
// beyond those written, or when an alias refers to a node that contains
// it. Its cost is linear in the number of nodes written, whatever the
// aliases would expand to.
func Check(root *yaml.Node) error {
	c := checker{size: map[*yaml.Node]int{}}
	return c.check(root)
}

// check is Check on a fresh checker c.
func (c *checker) check(root *yaml.Node) error {
	expanded, err := c.expanded(root, 0)
	if err != nil {
		return err
	}
	written := c.written(root)
	if extra := expanded - written; extra > MaxAliasNodes {
		return fmt.Errorf("%w: aliases expand %d written YAML nodes to more than %d (at most %d may be added by aliases)",
			ErrExcessiveAliasing, written, written+MaxAliasNodes, MaxAliasNodes)
	}
	return nil
}

// CheckBytes parses every YAML document in data and runs Check on each. A
// syntax error is returned as yaml.v3 reports it.
func CheckBytes(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := Check(&doc); err != nil {
			return err
		}
	}
}

// maxDepth bounds the recursion of the walks (yaml.v3 refuses documents
// nested deeper than 10000 levels; aliases cannot add depth beyond the
// written nodes, since an alias may not refer to a node that holds it).
const maxDepth = 20_000

// limit is the expanded size from which counting stops: anything above
// it is refused, so sums saturate here and never overflow.
const limit = 1 << 40

// checker memoises the expanded size of each node.
type checker struct {
	size map[*yaml.Node]int // expanded size; -1 while being counted
	seen map[*yaml.Node]bool
	// calls counts the calls of expanded and written: the work done,
	// which the tests bound by the nodes written (a count, not a time).
	calls int
}

// expanded returns the number of nodes n stands for with every alias
// replaced by the node it refers to, saturating at limit.
func (c *checker) expanded(n *yaml.Node, depth int) (int, error) {
	c.calls++
	if n == nil {
		return 0, nil
	}
	if depth > maxDepth {
		return 0, fmt.Errorf("%w: YAML nested deeper than %d levels", ErrExcessiveAliasing, maxDepth)
	}
	if s, ok := c.size[n]; ok && s >= 0 {
		return s, nil
	} else if ok {
		return 0, fmt.Errorf("%w: a YAML node on line %d contains itself", ErrExcessiveAliasing, n.Line)
	}
	c.size[n] = -1
	var s int
	if n.Kind == yaml.AliasNode {
		if s, ok := c.size[n.Alias]; ok && s < 0 {
			return 0, fmt.Errorf("%w: the alias *%s on line %d refers to a node that contains it", ErrExcessiveAliasing, n.Value, n.Line)
		}
		a, err := c.expanded(n.Alias, depth+1)
		if err != nil {
			return 0, err
		}
		s = a
	} else {
		s = 1
		for _, ch := range n.Content {
			k, err := c.expanded(ch, depth+1)
			if err != nil {
				return 0, err
			}
			s = min(limit, s+k)
		}
	}
	c.size[n] = s
	return s, nil
}

// written counts the distinct nodes reachable from n without following
// aliases (an alias node counts as zero: its target is counted where it
// is written). Expanded is computed first, so the depth is bounded.
func (c *checker) written(n *yaml.Node) int {
	c.calls++
	if c.seen == nil {
		c.seen = map[*yaml.Node]bool{}
	}
	if n == nil || c.seen[n] {
		return 0
	}
	c.seen[n] = true
	if n.Kind == yaml.AliasNode {
		return 0
	}
	s := 1
	for _, ch := range n.Content {
		s += c.written(ch)
	}
	return s
}
