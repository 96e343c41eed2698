package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/datasets/toy"
)

// TestEvalShapedDataFiles runs a BIG-Bench-Hard-shaped JSON file
// ({"canary": …, "examples": [...]}, read with records: examples) and a
// header-less TSV (MGSM's layout, read with header: false and columns)
// through `eval --log-samples`, and checks every record's prompt, target
// and verdict.
func TestEvalShapedDataFiles(t *testing.T) {
	tt, ok := toy.Lookup("reverse")
	if !ok {
		t.Fatal("no toy task reverse")
	}
	items, err := tt.Items(toy.SplitTest, 8)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	type ex struct {
		Input  string `json:"input"`
		Target string `json:"target"`
	}
	var exs []ex
	var tsv strings.Builder
	want := map[string]ex{} // item ID → its record
	for i, it := range items {
		exs = append(exs, ex{it.Prompt, it.Target})
		fmt.Fprintf(&tsv, "%s\t%s\n", it.Prompt, it.Target)
		want[fmt.Sprintf("reverse.json[%d]", i)] = ex{it.Prompt, it.Target}
		want[fmt.Sprintf("reverse.tsv:%d", i+1)] = ex{it.Prompt, it.Target}
	}
	doc, _ := json.Marshal(map[string]any{"canary": "not for training", "examples": exs})
	os.WriteFile(filepath.Join(dir, "reverse.json"), doc, 0o644)
	os.WriteFile(filepath.Join(dir, "reverse.tsv"), []byte(tsv.String()), 0o644)
	common := "prompt: \"{{.input}}\"\ntarget: target\nstop: [\"\\n\"]\nmax_tokens: 32\nscorer: {type: exact, strip: true}\n"
	os.WriteFile(filepath.Join(dir, "bbh.yml"), []byte("name: bbh_reverse\ndata: reverse.json\nrecords: examples\n"+common), 0o644)
	os.WriteFile(filepath.Join(dir, "mgsm.yml"), []byte("name: mgsm_reverse\ndata: reverse.tsv\nheader: false\ncolumns: [input, target]\n"+common), 0o644)

	samples := filepath.Join(dir, "samples.jsonl")
	model := filepath.Join("..", "..", "datasets", "toy", "family", "reverse")
	mustRunCLI(t, "eval", "--model", model, "--tasks", filepath.Join(dir, "bbh.yml")+","+filepath.Join(dir, "mgsm.yml"),
		"--db", filepath.Join(dir, "r.db"), "--log-samples", samples, "-q")

	f, err := os.Open(samples)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, correct := 0, 0
	tasks := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct {
			Task      string `json:"task"`
			ItemID    string `json:"item_id"`
			Prompt    string `json:"prompt"`
			Target    string `json:"target"`
			Extracted string `json:"extracted"`
			Correct   bool   `json:"correct"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		n++
		tasks[r.Task]++
		w, ok := want[r.ItemID]
		if !ok {
			t.Errorf("unexpected item %s", r.ItemID)
			continue
		}
		if r.Prompt != w.Input || r.Target != w.Target {
			t.Errorf("%s: prompt %q target %q, want %q %q", r.ItemID, r.Prompt, r.Target, w.Input, w.Target)
		}
		if r.Correct != (strings.TrimSpace(r.Extracted) == w.Target) {
			t.Errorf("%s: verdict %v for answer %q, target %q", r.ItemID, r.Correct, r.Extracted, w.Target)
		}
		if r.Correct {
			correct++
		}
	}
	if n != 16 || tasks["bbh_reverse"] != 8 || tasks["mgsm_reverse"] != 8 {
		t.Errorf("%d records, per task %v; want 8 each", n, tasks)
	}
	if correct < 12 {
		t.Errorf("%d of 16 correct; the reverse model answers these", correct)
	}
}
