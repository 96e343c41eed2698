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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	_, err = Run(ctx, s, Options{})
	took := time.Since(start)
	if err == nil {
		t.Fatal("a study against a host that never answers succeeded")
	}
	if !errors.Is(err, ollama.ErrNoAnswer) || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("error %v: want ErrNoAnswer naming %s", err, ln.Addr())
	}
	if took > 45*time.Second {
		t.Errorf("the study took %s to give up; the probe deadline is %s", took, ollama.DefaultProbeTimeout)
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
