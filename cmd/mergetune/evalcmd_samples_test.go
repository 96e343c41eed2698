package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/results"
)

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// evalSampleFiles is a task set over data the project has never seen: a
// JSON file shaped {"examples": [...]} (BIG-Bench Hard's layout), a TSV
// without a header (MGSM's), and a JSON-lines task with an item longer
// than the reverse model's context (32 tokens) under each long_items
// option.
var evalSampleFiles = map[string]string{
	"bbh.json": `{"canary": "not a record", "examples": [
		{"input": "abc", "target": "cba"}, {"input": "hkp", "target": "pkh"}, {"input": "uqa", "target": "aqu"}]}`,
	"mgsm.tsv":   "xyz\tzyx\nlmno\tonml\n",
	"long.jsonl": `{"input": "ab", "target": "ba"}` + "\n" + `{"input": "` + strings.Repeat("abcdefgh", 10) + `", "target": "x"}` + "\n",
	"set.yml": `tasks:
  - {name: rev_json, data: bbh.json, records: examples, prompt: "rev {{.input}}=", target: target, stop: ["\n"], max_tokens: 8}
  - {name: rev_tsv, data: mgsm.tsv, header: false, columns: [input, target], prompt: "rev {{.input}}=", target: target, stop: ["\n"], max_tokens: 8}
  - {name: rev_long_cut, data: long.jsonl, prompt: "rev {{.input}}=", target: target, stop: ["\n"], max_tokens: 8}
  - {name: rev_long_skip, data: long.jsonl, prompt: "rev {{.input}}=", target: target, stop: ["\n"], max_tokens: 8, long_items: skip}
`,
}

// TestEvalLogSamples runs `eval --log-samples` on the built-in runner and
// checks each record's prompt, target and verdict, the long items
// (truncated with a warning, or skipped and counted, the run going on),
// and that the database's item outcomes hold the same prompt and target.
func TestEvalLogSamples(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, evalSampleFiles)
	db := filepath.Join(dir, "r.db")
	samples := filepath.Join(dir, "samples.jsonl")
	model := filepath.Join("..", "..", "datasets", "toy", "family", "reverse")
	out := mustRunCLI(t, "eval", "--model", model, "--tasks", filepath.Join(dir, "set.yml"), "--db", db, "-q", "--log-samples", samples)
	if !strings.Contains(out, "warning: task rev_long_cut: item") || !strings.Contains(out, "truncated from the left") ||
		!strings.Contains(out, "warning: task rev_long_skip: item") {
		t.Errorf("no warnings for the long items:\n%s", out)
	}
	b, err := os.ReadFile(samples)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{ // item → prompt, target
		"bbh.json[0]": {"rev abc=", "cba"}, "bbh.json[1]": {"rev hkp=", "pkh"}, "bbh.json[2]": {"rev uqa=", "aqu"},
		"mgsm.tsv:1": {"rev xyz=", "zyx"}, "mgsm.tsv:2": {"rev lmno=", "onml"},
	}
	var recs []eval.Sample
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var s eval.Sample
		if err := json.Unmarshal(l, &s); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		recs = append(recs, s)
	}
	if len(recs) != 9 {
		t.Fatalf("%d records, want 9:\n%s", len(recs), b)
	}
	right := 0
	for _, s := range recs {
		if s.Model != model || !strings.HasPrefix(s.ModelDigest, "sha256:") {
			t.Errorf("%s: model %q %q", s.ItemID, s.Model, s.ModelDigest)
		}
		if s.Correct != (s.Extracted == s.Target) {
			t.Errorf("%s: verdict %v for %q against %q", s.ItemID, s.Correct, s.Extracted, s.Target)
		}
		if s.Correct {
			right++
		}
		if w, ok := want[s.ItemID]; ok {
			if s.Prompt != w[0] || s.Target != w[1] || s.Long != "" {
				t.Errorf("%s: prompt %q target %q, want %q %q", s.ItemID, s.Prompt, s.Target, w[0], w[1])
			}
			delete(want, s.ItemID)
		}
		if s.ItemID == "long.jsonl:2" {
			switch s.Task {
			case "rev_long_cut":
				if s.Long != eval.LongTruncated || len(s.Prompt) >= 84 || !strings.HasSuffix(s.Prompt, "gh=") {
					t.Errorf("truncated item: %+v", s)
				}
			case "rev_long_skip":
				if s.Long != eval.LongSkipped || s.Response != "" {
					t.Errorf("skipped item: %+v", s)
				}
			}
		}
	}
	if len(want) != 0 || right < 4 {
		t.Errorf("items without a record: %v; %d right", want, right)
	}
	for _, row := range []string{"rev_long_skip", "rev_long_cut"} {
		i := strings.Index(out, "\n"+row+" ")
		if i < 0 {
			t.Fatalf("no row %s:\n%s", row, out)
		}
		f := strings.Fields(strings.SplitN(out[i+1:], "\n", 2)[0])
		// task split items accuracy [lo, hi] invalid truncated skipped cached
		if row == "rev_long_skip" && (f[2] != "1" || f[8] != "1") || row == "rev_long_cut" && (f[2] != "2" || f[7] != "1") {
			t.Errorf("row %q", f)
		}
	}
	r, err := results.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	items, err := r.ItemOutcomes(context.Background(), 1)
	if err != nil || len(items) != 9 {
		t.Fatalf("recorded items: %d, %v", len(items), err)
	}
	for i, o := range items {
		if o.Prompt != recs[i].Prompt || o.Target != recs[i].Target || o.Long != string(recs[i].Long) {
			t.Errorf("recorded item %d: %+v, logged %+v", i, o, recs[i])
		}
	}
}

// TestEvalDryRun prints the rendered prompts and targets without a model
// or a database.
func TestEvalDryRun(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, evalSampleFiles)
	db := filepath.Join(dir, "r.db")
	out := mustRunCLI(t, "eval", "--dry-run", "--tasks", filepath.Join(dir, "set.yml"), "--db", db, "--limit", "2")
	for _, s := range []string{"=== task rev_json (tune) item bbh.json[0], target \"cba\"\nrev abc=\n", "item mgsm.tsv:2, target \"onml\"\nrev lmno=\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("dry run lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "bbh.json[2]") {
		t.Errorf("--limit 2 not applied:\n%s", out)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("dry run created the database: %v", err)
	}
	if _, err := runCLI(t, "eval", "--tasks", "toy:reverse", "--db", db); err == nil || !strings.Contains(err.Error(), `"model"`) {
		t.Errorf("no --model, no --dry-run: %v", err)
	}
}

// TestEvalCompare scores the reverse fine-tune against the base model on
// the same items and prints the paired comparison.
func TestEvalCompare(t *testing.T) {
	dir := t.TempDir()
	fam := filepath.Join("..", "..", "datasets", "toy", "family")
	out := mustRunCLI(t, "eval", "--compare", filepath.Join(fam, "reverse"), filepath.Join(fam, "base"),
		"--tasks", "toy:reverse", "--limit", "40", "--db", filepath.Join(dir, "r.db"), "-q")
	i := strings.Index(out, "\ntoy:reverse")
	if !strings.Contains(out, "p (McNemar)") || i < 0 {
		t.Fatalf("no comparison table:\n%s", out)
	}
	f := strings.Fields(strings.SplitN(out[i+1:], "\n", 2)[0])
	// task items A B A−B [lo, hi] onlyA onlyB p
	num := func(i int) float64 {
		if i >= len(f) {
			return math.NaN()
		}
		v, err := strconv.ParseFloat(strings.Trim(f[i], "[],"), 64)
		if err != nil {
			return math.NaN()
		}
		return v
	}
	// The fine-tune is far better: a positive difference whose interval
	// excludes 0, and a tiny p-value.
	if len(f) != 10 || f[1] != "40" || !(num(2) > num(3)) || !(num(4) > 0) || !(num(5) > 0) || !(num(6) >= num(4)) || !(num(9) < 0.001) {
		t.Errorf("comparison row %q", f)
	}
	if _, err := runCLI(t, "eval", "--compare", "only-one", "--tasks", "toy:reverse"); err == nil || !strings.Contains(err.Error(), "two model directories") {
		t.Errorf("one directory: %v", err)
	}
	if _, err := runCLI(t, "eval", "--compare", "a", "b", "--model", "c", "--tasks", "toy:reverse"); err == nil || !strings.Contains(err.Error(), "drop --model c") {
		t.Errorf("--compare with --model: %v", err)
	}
}
