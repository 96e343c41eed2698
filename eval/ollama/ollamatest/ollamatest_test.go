package ollamatest

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestMissingBinaryIsAnError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-ollama")
	t.Setenv("MERGETUNE_OLLAMA", missing)
	if _, err := FindBinary(); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("FindBinary() error = %v", err)
	}
	if _, err := Start(t.Context(), Options{}); err == nil {
		t.Error("Start succeeded without a binary")
	}
}

// TestStartStop starts a server, checks that it answers, and that Close
// stops it.
func TestStartStop(t *testing.T) {
	s, err := Start(t.Context(), Options{NumParallel: 2, ContextLength: 256})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Client()
	v, err := c.Version(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ollama %s at %s", v, s.Host())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Heartbeat(t.Context()); err == nil {
		t.Error("the server still answers after Close")
	}
}
