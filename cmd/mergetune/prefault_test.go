package main

import (
	"strings"
	"testing"
)

// TestPrefault: memory is written and given back (none for 0), and a
// size that cannot be mapped is an error naming it.
func TestPrefault(t *testing.T) {
	for _, n := range []int64{0, 1, 64 << 20} {
		if err := prefault(n); err != nil {
			t.Errorf("prefault(%d): %v", n, err)
		}
	}
	if err := prefault(1 << 62); err == nil || !strings.Contains(err.Error(), "4611686018427387904 bytes") {
		t.Errorf("prefault(1<<62): error %v, want one naming the size", err)
	}
}
