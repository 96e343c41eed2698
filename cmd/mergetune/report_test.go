package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/datasets/toy"
	"github.com/mergetune/mergetune/report"
)

// TestReportFromDatabaseOnly runs a study with task weights and a task
// file, removes the study file, the models and the task file, and checks
// that `mergetune report` still reports it from the database alone: the
// recorded settings (objective with its weights, the study file's text),
// and on every complete trial a normalized accuracy equal to the objective
// the study maximised (the weighted one: the unweighted mean differs).
func TestReportFromDatabaseOnly(t *testing.T) {
	fam, err := filepath.Abs(filepath.Join("..", "..", "datasets", "toy", "family"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	for _, m := range []string{"base", "swapcase", "reverse"} {
		if err := os.CopyFS(filepath.Join(models, m), os.DirFS(filepath.Join(fam, m))); err != nil {
			t.Fatal(err)
		}
	}
	// A task file: the reverse task's items as JSONL.
	tt, ok := toy.Lookup("reverse")
	if !ok {
		t.Fatal("no toy task reverse")
	}
	items, err := tt.Items(toy.SplitTune, 10)
	if err != nil {
		t.Fatal(err)
	}
	var jsonl strings.Builder
	for _, it := range items {
		b, _ := json.Marshal(map[string]string{"input": it.Prompt, "target": it.Target})
		jsonl.Write(append(b, '\n'))
	}
	tasks := filepath.Join(dir, "tasks")
	os.MkdirAll(tasks, 0o755)
	os.WriteFile(filepath.Join(tasks, "reverse.jsonl"), []byte(jsonl.String()), 0o644)
	os.WriteFile(filepath.Join(tasks, "reverse.yml"), []byte("name: rev\ndata: reverse.jsonl\nsplit: tune\nprompt: \"{{.input}}\"\ntarget: target\nstop: [\"\\n\"]\nmax_tokens: 32\nscorer: {type: exact, strip: true}\n"), 0o644)
	file := filepath.Join(dir, "weighted.yml")
	db := filepath.Join(dir, "results", "weighted.db")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`name: weighted
base_model: models/base
models:
  - {model: models/swapcase, tasks: [swapcase]}
  - {model: models/reverse, tasks: [rev]}
method: task_arithmetic
space:
  lambda: {type: float, low: 0.2, high: 1.5}
tasks: [toy:swapcase@tune, tasks/reverse.yml]
limit: 10
trials: 4
objective: {type: normalized, weights: {rev: 3}}
storage: %s
`, db)), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRunCLI(t, "study", "run", file, "-q")
	for _, p := range []string{file, models, tasks, filepath.Join(dir, "work")} {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}

	csvPath := filepath.Join(dir, "trials.csv")
	mustRunCLI(t, "report", db, "--out", csvPath, "--format", "csv")
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) < 2 {
		t.Fatalf("csv: %d rows, %v", len(rows), err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	complete := 0
	for _, r := range rows[1:] {
		if r[col["state"]] != "complete" {
			continue
		}
		complete++
		for _, st := range []string{"merge", "load", "evaluate"} {
			if v, err := strconv.ParseFloat(r[col["stage:"+st]], 64); err != nil || v <= 0 {
				t.Errorf("trial %s: stage:%s %q", r[col["trial"]], st, r[col["stage:"+st]])
			}
		}
		obj, err1 := strconv.ParseFloat(r[col["objective"]], 64)
		norm, err2 := strconv.ParseFloat(r[col["normalized"]], 64)
		if err1 != nil || err2 != nil || math.Abs(obj-norm) > 1e-6 {
			t.Errorf("trial %s: normalized %q, objective %q: want equal", r[col["trial"]], r[col["normalized"]], r[col["objective"]])
		}
	}
	if complete == 0 {
		t.Fatal("no complete trial in the report")
	}

	// The weights change the value: the unweighted normalized accuracy
	// of the best trial (what the report showed before it applied them)
	// is not the objective, so the check above can fail.
	d, err := report.Load(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	s := d.Studies[0]
	if s.Best == nil || s.Settings == nil {
		t.Fatalf("best %v, settings %v (%s)", s.Best, s.Settings, s.SettingsErr)
	}
	var plain float64
	for _, sc := range s.Best.Tune {
		b, ok := s.Baseline(s.TaskModel(sc.Task), sc.Task)
		if !ok {
			t.Fatalf("no baseline of %s", sc.Task)
		}
		plain += sc.Accuracy / b.Accuracy / float64(len(s.Best.Tune))
	}
	if math.Abs(plain-*s.Best.Objective) < 1e-6 {
		t.Fatalf("the unweighted normalized accuracy %v equals the objective: the weights do not show", plain)
	}

	md := filepath.Join(dir, "report.md")
	mustRunCLI(t, "report", db, "--out", md, "--format", "md")
	text, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"normalized (weights rev=3)", "| trial | objective | settings | normalized | mean |", "swapcase (swapcase), reverse (rev)"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("markdown report lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(string(text), "holds no settings") {
		t.Errorf("markdown report says the settings are missing:\n%s", text)
	}
}
