package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/eval/ollama"
	"github.com/mergetune/mergetune/results"
)

func TestEvalCommandBuiltin(t *testing.T) {
	db := filepath.Join(t.TempDir(), "r.db")
	model := filepath.Join("..", "..", "datasets", "toy", "family", "reverse")
	out, err := runCLI(t, "eval", "--model", model, "--tasks", "toy:reverse", "--db", db, "--limit", "40", "-q")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "toy:reverse") || !strings.Contains(out, "95% CI") {
		t.Fatalf("table missing:\n%s", out)
	}
	again, err := runCLI(t, "eval", "--model", model, "--tasks", "toy:reverse", "--db", db, "--limit", "40", "-q")
	if err != nil {
		t.Fatal(err)
	}
	// the second run answers every item from the cache
	line := strings.Split(again, "\n")[1]
	if f := strings.Fields(line); len(f) < 8 || f[len(f)-1] != "40" {
		t.Fatalf("second run not cached: %q", line)
	}
	ctx := context.Background()
	r, err := results.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	scores, err := r.TaskScores(ctx, 1)
	if err != nil || len(scores) != 1 || scores[0].N != 40 || scores[0].Accuracy < 0.9 {
		t.Fatalf("recorded scores %+v, %v", scores, err)
	}
	items, err := r.ItemOutcomes(ctx, 2)
	if err != nil || len(items) != 40 || !items[0].Cached {
		t.Fatalf("recorded items of run 2: %d, %v", len(items), err)
	}
	if _, err := runCLI(t, "eval", "--model", model, "--tasks", "nope.yml", "--db", db); err == nil || !strings.Contains(err.Error(), "nope.yml") {
		t.Fatalf("missing task file: %v", err)
	}
	if _, err := runCLI(t, "eval", "--model", model, "--tasks", "toy:reverse", "--db", db, "--backend", "gpu"); err == nil || !strings.Contains(err.Error(), `unknown backend "gpu"`) {
		t.Fatalf("bad backend: %v", err)
	}
}

// TestEvalBuiltinData checks that --tasks names a built-in task on the
// public data embedded in the binary (no --data, nothing beside the
// checkout), and that --data DIR reads the user's own copy instead.
func TestEvalBuiltinData(t *testing.T) {
	tasks, err := loadTasks("copa", "")
	if err != nil || len(tasks) != 1 || len(tasks[0].Items) != 100 || tasks[0].Data != "built-in:copa.jsonl" {
		t.Fatalf("built-in copa: %v, %+v", err, tasks)
	}
	dir := t.TempDir()
	rec := `{"query": "The sun rose, therefore", "choices": ["it got light.", "it got dark."], "gold": 0}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "copa.jsonl"), []byte(rec+rec), 0o644); err != nil {
		t.Fatal(err)
	}
	tasks, err = loadTasks("copa", dir)
	if err != nil || len(tasks) != 1 || len(tasks[0].Items) != 2 || tasks[0].Data != filepath.Join(dir, "copa.jsonl") {
		t.Fatalf("copa from --data: %v, %+v", err, tasks)
	}
}

// TestEvalCommandHungHost checks that `mergetune eval` against a host that
// accepts connections but never answers fails within the probe timeout,
// naming the host, and that --timeouts is checked.
func TestEvalCommandHungHost(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
		}
	}()
	db := filepath.Join(t.TempDir(), "r.db")
	model := filepath.Join("..", "..", "datasets", "toy", "family", "reverse")
	_, err = runCLI(t, "eval", "--model", model, "--tasks", "toy:reverse", "--db", db, "-q",
		"--host", l.Addr().String(), "--timeouts", "probe=500ms")
	if !errors.Is(err, ollama.ErrNoAnswer) || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Errorf("error %v, want ErrNoAnswer naming %s", err, l.Addr())
	}
	// The health probe gave up at the limit --timeouts set, before any
	// request waited out its own limit. Checked on the error, not timed:
	// a busy machine makes elapsed-time thresholds fail at random.
	if err == nil || !strings.Contains(err.Error(), "health probe (GET /api/version) within 500ms") || strings.Contains(err.Error(), "ran past its limit") {
		t.Errorf("error %v, want the health probe's, at the 500ms limit", err)
	}
	if _, err := runCLI(t, "eval", "--model", model, "--tasks", "toy:reverse", "--db", db, "--timeouts", "probe=soon"); err == nil ||
		!strings.Contains(err.Error(), `--timeouts: timeouts "probe=soon": probe: want a duration`) {
		t.Errorf("bad --timeouts: %v", err)
	}
}
