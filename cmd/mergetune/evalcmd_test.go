package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

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
