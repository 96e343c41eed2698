package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPaperStudiesDryRun runs `study run --dry-run` on every study of
// examples/papers/, its checkpoints (/models/...) pointed at the toy
// family and its task files at examples/tasks: each parses, prints its
// plan, and its first trial starts where the paper starts (e.g.
// breadcrumbs' α 0.2, keep 15%, drop the top 0.6%); nothing is recorded.
func TestPaperStudiesDryRun(t *testing.T) {
	fam, err := filepath.Abs("../../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := filepath.Abs("../../examples/tasks")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"breadcrumbs.yml":                 {"search sample", "50 trials", "sampler random", "lambda: 0.2\n", "density: 0.15\n", "gamma: 0.006\n", "normalize: false\n"},
		"ties-grid.yml":                   {"80 trials", "sampler grid", "step 0.1, scope global, start 0.3", "density: 0.2\n", "lambda: 0.3\n"},
		"dare.yml":                        {"sampler grid", "merge_method: dare_linear", "density: 0.9\n", "rescale: true\n"},
		"greedy-soup.yml":                 {"search greedy_soup", "method linear", "4 trials", "greedy soup: 4 steps"},
		"fusionbench-task-arithmetic.yml": {"1 trials", "merge_method: task_arithmetic", "lambda: 0.3\n"},
		"fusionbench-ties.yml":            {"1 trials", "merge_method: ties", "lambda: 0.3\n", "density: 0.2\n"},
		"fusionbench-optuna.yml":          {"20 trials", "sampler tpe", "lambda: 0.3\n"},
	}
	files, err := filepath.Glob("../../examples/papers/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("examples/papers has %d studies, the test knows %d: add the new one here", len(files), len(want))
	}
	tunes := []string{"swapcase", "rot1", "succ", "rotleft"}
	re := regexp.MustCompile(`(?m)^(\s*(?:-\s*)?(base_model|model):\s*)/models/\S+`)
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			text := re.ReplaceAllStringFunc(string(data), func(m string) string {
				g := re.FindStringSubmatch(m)
				if g[2] == "base_model" {
					return g[1] + fam + "/base"
				}
				n++
				return g[1] + fam + "/" + tunes[(n-1)%len(tunes)]
			})
			text = strings.ReplaceAll(text, "../tasks/", tasks+"/")
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			out := mustRunCLI(t, "study", "run", path, "--dry-run")
			for _, w := range want[name] {
				if !strings.Contains(out, w) {
					t.Errorf("dry run lacks %q:\n%s", w, out)
				}
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("dry run wrote %d entries beside the study, want none", len(ents)-1)
			}
		})
	}
}
