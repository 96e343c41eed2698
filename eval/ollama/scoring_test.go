package ollama

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/datasets/toy"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/runner"
)

// writeTask writes records as JSONL and a task file over them.
func writeTask(t *testing.T, dir, name, spec string, records []map[string]any) *datasets.Task {
	t.Helper()
	var b strings.Builder
	for _, r := range records {
		line, _ := json.Marshal(r)
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, name+".jsonl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".yml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("name: %s\ndata: %s.jsonl\n%s", name, name, spec)), 0o644); err != nil {
		t.Fatal(err)
	}
	task, err := datasets.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// TestScoringPathsThroughOllama runs a generate+regex task and a choice
// task through the real server with eval.Evaluate: both score against
// known answers, and agree item by item with the built-in runner.
func TestScoringPathsThroughOllama(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// generate + regex: the successor task, the number read by a regex
	succ, _ := toy.Lookup("succ")
	items, err := succ.Items(toy.SplitTest, 40)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for _, it := range items {
		recs = append(recs, map[string]any{"q": it.Prompt, "a": it.Target})
	}
	regexTask := writeTask(t, dir, "succ_regex", `prompt: "{{.q}}"
target: a
stop: ["\n"]
max_tokens: 8
scorer: {type: regex, pattern: '(\d+)', numeric: true}
`, recs)
	// choice: the upper-casing model's first answer letter is the input's
	// first letter, upper-cased: a four-way choice with a known answer
	rng := rand.New(rand.NewSource(3))
	recs = nil
	for i := 0; i < 40; i++ {
		var w []byte
		for j := 0; j < 5; j++ {
			w = append(w, "abcd"[rng.Intn(4)])
		}
		recs = append(recs, map[string]any{"q": "up " + string(w) + "=", "choices": []string{"a", "b", "c", "d"}, "gold": int(w[0] - 'a')})
	}
	choiceTask := writeTask(t, dir, "upper_choice", `prompt: "{{.q}}"
choices: choices
gold: gold
scorer: {type: choice, list_choices: false}
`, recs)

	cases := []struct {
		task  *datasets.Task
		model string
	}{
		{regexTask, "succ"},
		{choiceTask, "upper"},
	}
	b := backend(t, Options{})
	rb := runner.New(runner.Options{})
	for _, c := range cases {
		modelDir := filepath.Join("..", "..", "datasets", "toy", "family", c.model)
		om, err := b.Open(ctx, modelDir)
		if err != nil {
			t.Fatal(err)
		}
		viaOllama, err := eval.Evaluate(ctx, om, c.task, eval.Options{Parallel: testParallel})
		om.Close()
		if err != nil {
			t.Fatal(err)
		}
		rm, err := rb.Open(ctx, modelDir)
		if err != nil {
			t.Fatal(err)
		}
		viaRunner, err := eval.Evaluate(ctx, rm, c.task, eval.Options{})
		rm.Close()
		if err != nil {
			t.Fatal(err)
		}
		if viaOllama.N != 40 || viaOllama.Accuracy < 0.9 {
			t.Errorf("%s through Ollama: %d items, accuracy %.3f (want ≥ 0.9)", c.task.Name, viaOllama.N, viaOllama.Accuracy)
		}
		same := 0
		for i := range viaOllama.Items {
			if viaOllama.Items[i].Extracted == viaRunner.Items[i].Extracted {
				same++
			}
		}
		if agree := float64(same) / float64(viaOllama.N); agree < 0.99 {
			t.Errorf("%s: Ollama and the built-in runner agree on %.3f of the items", c.task.Name, agree)
		}
		if viaOllama.CI95[0] > viaOllama.Accuracy || viaOllama.CI95[1] < viaOllama.Accuracy {
			t.Errorf("%s: interval %v does not contain %.3f", c.task.Name, viaOllama.CI95, viaOllama.Accuracy)
		}
	}
}

// TestImportProgress: an import reports its stages in order, and an
// upload, when one happens, ends with every byte sent.
func TestImportProgress(t *testing.T) {
	var stages []string
	var last ImportProgress
	b := backend(t, Options{Progress: func(p ImportProgress) {
		if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
			stages = append(stages, p.Stage)
		}
		last = p
		if p.Stage == "upload" && p.Done > p.Total {
			t.Errorf("upload reports %d of %d bytes", p.Done, p.Total)
		}
	}})
	m := open(t, b, filepath.Join("..", "..", "datasets", "toy", "family", "parity"))
	got := strings.Join(stages, ",")
	if got != "convert,upload,create,load" && got != "convert,create,load" {
		t.Fatalf("stages %s", got)
	}
	if last.Stage != "load" || m.Stats().GGUFBytes == 0 {
		t.Fatalf("last report %+v, stats %+v", last, m.Stats())
	}
}
