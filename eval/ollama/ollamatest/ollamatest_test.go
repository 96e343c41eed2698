package ollamatest

import (
	"path/filepath"
	"strings"
	"sync"
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

// TestServersStartedTogether: servers started at the same moment get an
// address each, and each address is its own server's (no server answers
// for another whose bind failed).
func TestServersStartedTogether(t *testing.T) {
	const n = 3
	servers := make([]*Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i], errs[i] = Start(t.Context(), Options{ContextLength: 256})
		}()
	}
	wg.Wait()
	hosts := map[string]bool{}
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		defer s.Close()
		if hosts[s.Host()] {
			t.Fatalf("two servers at %s", s.Host())
		}
		hosts[s.Host()] = true
		if got := listeningOn(s.Log()); got != s.URL.Host {
			t.Errorf("server %d answers at %s but its log says it listens on %q", i, s.URL.Host, got)
		}
		if err := s.Client().Heartbeat(t.Context()); err != nil {
			t.Errorf("server %d at %s: %v", i, s.Host(), err)
		}
	}
}

func TestListeningOn(t *testing.T) {
	log := "time=2026-11-28T03:54:44.230Z level=INFO source=routes.go:1718 msg=\"Listening on 127.0.0.1:38635 (version 0.17.4)\"\n"
	if got := listeningOn(log); got != "127.0.0.1:38635" {
		t.Errorf("listeningOn = %q", got)
	}
	if got := listeningOn("level=INFO msg=\"starting\"\n"); got != "" {
		t.Errorf("listeningOn before the line = %q", got)
	}
}
