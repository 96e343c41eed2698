package search

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mergetune/mergetune/eval/ollama"
)

// TestHungEvaluatorFailsFast checks that a study whose Ollama host accepts
// connections but never answers stops within the backend's short probe
// deadline, naming the host, before any candidate is merged.
func TestHungEvaluatorFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
		}
	}()
	host := "http://" + ln.Addr().String()
	dir := t.TempDir()
	s := writeStudy(t, dir, `method: task_arithmetic
space:
  lambda: {type: float, low: 0.3, high: 1.5}
trials: 2
evaluator: {type: ollama, hosts: [`+host+`]}
`)
	// The context's deadline only catches a hang: the study must give up
	// on its own, at the probe's deadline, long before it. No elapsed-time
	// threshold: a busy machine makes those fail at random.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err = Run(ctx, s, Options{})
	if err == nil {
		t.Fatal("a study against a host that never answers succeeded")
	}
	if ctx.Err() != nil {
		t.Fatalf("the study gave up only at the test's deadline: %v", err)
	}
	if !errors.Is(err, ollama.ErrNoAnswer) || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("error %v: want ErrNoAnswer naming %s", err, ln.Addr())
	}
	// It was the health probe, bounded by the probe deadline, that gave
	// up, not a request that waited out its own (longer) limit first.
	if want := "health probe (GET /api/version) within " + ollama.DefaultProbeTimeout.String(); !strings.Contains(err.Error(), want) ||
		strings.Contains(err.Error(), "ran past its limit") {
		t.Errorf("error %v: want the probe's (%q) alone", err, want)
	}
	if _, err := os.Stat(s.Storage); err == nil {
		// A WAITING trial is one enqueued at creation, not started.
		states := goptunaStates(t, s.Storage)
		delete(states, "WAITING")
		if len(states) > 0 {
			t.Errorf("trials were started against a host that never answers: %v; want none", states)
		}
	}
	if ents, _ := os.ReadDir(s.WorkDir); len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the work dir holds %v: a candidate was merged before the host was probed", names)
	}
}
