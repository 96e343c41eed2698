package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"github.com/mergetune/mergetune/results/pgtest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/eval/runner"
	"github.com/mergetune/mergetune/results"
)

func TestStudyCommands(t *testing.T) {
	fam, err := filepath.Abs("../../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	studyFile := filepath.Join(dir, "s.yml")
	os.WriteFile(studyFile, []byte(fmt.Sprintf(`name: cli
base_model: %[1]s/base
models:
  - {model: %[1]s/swapcase, tasks: [swapcase]}
  - {model: %[1]s/rot1, tasks: [rot1]}
method: ties
space:
  lambda: {type: float, low: 0.5, high: 1.2}
  weight: {type: float, low: 0.3, high: 1.0, scope: per_model}
tasks: [toy:swapcase@tune, toy:rot1@tune]
limit: 10
trials: 3
objective: normalized
`, fam)), 0o644)

	out := mustRunCLI(t, "study", "run", studyFile)
	if !strings.Contains(out, "3/3 trials done (3 complete, 0 pruned, 0 failed)") {
		t.Errorf("study run output:\n%s", out)
	}
	out = mustRunCLI(t, "study", "status", studyFile)
	for _, want := range []string{"TRIAL", "complete", "best: trial"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	// study best | mergetune merge reproduces the best trial's model.
	best := mustRunCLI(t, "study", "best", studyFile)
	bestFile := filepath.Join(dir, "best.yml")
	os.WriteFile(bestFile, []byte(best), 0o644)
	merged := filepath.Join(dir, "merged")
	mustRunCLI(t, "merge", bestFile, merged, "--quiet")
	m, err := runner.New(runner.Options{}).Open(context.Background(), merged)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	db, err := results.Open(context.Background(), filepath.Join(dir, "results", "cli.db"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := db.Trials(context.Background(), "cli")
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range recs {
		found = found || (r.MergeYAML == best && r.ModelDigest == m.Digest())
	}
	if !found {
		t.Errorf("study best | merge gave digest %s, which no trial with that YAML has", m.Digest())
	}

	recipe := filepath.Join(dir, "recipe.yml")
	out = mustRunCLI(t, "study", "freeze", studyFile, "--out", recipe)
	data, err := os.ReadFile(recipe)
	if err != nil {
		t.Fatalf("freeze wrote nothing: %v\n%s", err, out)
	}
	for _, want := range []string{"method: ties", "lambda:", "rules:", "model_parameters:\n    weight:"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("recipe lacks %q:\n%s", want, data)
		}
	}

	names := []string{"swapcase", "rot1", "succ", "rotleft", "pred", "last", "parity", "swapends"}
	var models, tasks []string
	for _, n := range names {
		models = append(models, filepath.Join(fam, n))
		tasks = append(tasks, "toy:"+n)
	}
	curveFile := filepath.Join(dir, "curve.csv")
	out = mustRunCLI(t, "extend", recipe, "--models", strings.Join(models, ","), "--tasks", strings.Join(tasks, ","),
		"--limit", "6", "--out", curveFile, "--db", filepath.Join(dir, "extend.db"))
	f, err := os.Open(curveFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows[1:] {
		got = append(got, r[0]+"/"+r[1]+"/"+r[2])
	}
	if want := "2/recipe/2 4/recipe/4 8/recipe/8"; strings.Join(got, " ") != want {
		t.Errorf("curve rows %v, want %s\n%s", got, want, out)
	}
}

func TestExtendArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"mismatch", []string{"--models", "a,b", "--tasks", "toy:succ"}, "--tasks: 1 tasks for 2 models; give one task per model"},
		{"no models", []string{"--models", ",", "--tasks", "toy:succ"}, "--models: no models"},
	}
	dir := t.TempDir()
	recipe := filepath.Join(dir, "r.yml")
	os.WriteFile(recipe, []byte("trial: 0\nobjective: 1\nmethod: ties\nbase_model: /x\n"), 0o644)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runCLI(t, append([]string{"extend", recipe}, tt.args...)...)
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestStudyOnPostgres runs a small study whose storage is PostgreSQL, then
// reads it back with study status and mergetune report.
func TestStudyOnPostgres(t *testing.T) {
	dsn := pgtest.Schema(t)
	fam, err := filepath.Abs("../../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	studyFile := filepath.Join(dir, "pg.yml")
	os.WriteFile(studyFile, []byte(fmt.Sprintf(`name: pgcli
base_model: %[1]s/base
models:
  - {model: %[1]s/swapcase, tasks: [swapcase]}
  - {model: %[1]s/rot1, tasks: [rot1]}
method: task_arithmetic
space:
  lambda: {type: float, low: 0.3, high: 1.2}
tasks: [toy:swapcase@tune, toy:rot1@tune]
holdout: [toy:rot1]
limit: 8
trials: 3
objective: normalized
storage: %[2]s
`, fam, dsn)), 0o644)
	out := mustRunCLI(t, "study", "run", studyFile, "-q")
	if !strings.Contains(out, "3/3 trials done") || !strings.Contains(out, "frozen recipe") {
		t.Fatalf("study run on PostgreSQL:\n%s", out)
	}
	md := filepath.Join(dir, "r.md")
	mustRunCLI(t, "report", dsn, "--format", "md", "--out", md)
	data, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "pgcli") || !strings.Contains(string(data), "Holdout") {
		t.Fatalf("report does not show the study:\n%s", data)
	}
	if strings.Contains(string(data), ":mergetune@") {
		t.Fatalf("report shows the database password:\n%s", data)
	}
}
