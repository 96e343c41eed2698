package datasets

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fuzzDataNames are the data files FuzzLoad writes beside the task file,
// all with the fuzzed data bytes.
var fuzzDataNames = []string{"d.jsonl", "d.json", "d.csv", "d.tsv", "d.parquet", "shots.jsonl"}

// fuzzSeeds returns the package's test task files as (task YAML, data)
// pairs, their data file names rewritten to FuzzLoad's.
func fuzzSeeds(tb testing.TB) [][2]string {
	tb.Helper()
	dataRef := regexp.MustCompile(`(?m)^(\s*-?\s*(?:data|file):\s*)(\S+)`)
	var seeds [][2]string
	for _, dir := range []string{"testdata", filepath.Join("testdata", "bad")} {
		ymls, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
		for _, y := range ymls {
			text, err := os.ReadFile(y)
			if err != nil {
				tb.Fatal(err)
			}
			data := []byte(`{"question": "q?", "answer": "a"}`)
			if m := dataRef.FindSubmatch(text); m != nil {
				if b, err := os.ReadFile(filepath.Join(dir, string(m[2]))); err == nil {
					data = b
					if i := bytes.LastIndexByte(b[:min(len(b), 4096)], '\n'); len(b) > 4096 && i > 0 {
						data = b[:i+1] // the first records of a large file
					}
				}
			}
			out := dataRef.ReplaceAllStringFunc(string(text), func(s string) string {
				m := dataRef.FindStringSubmatch(s)
				ext := strings.TrimPrefix(filepath.Ext(m[2]), ".")
				switch {
				case strings.Contains(m[1], "file"):
					return m[1] + "shots.jsonl"
				case ext == "jsonl" || ext == "json" || ext == "csv" || ext == "tsv" || ext == "parquet":
					return m[1] + "d." + ext
				}
				return s
			})
			seeds = append(seeds, [2]string{out, string(data)})
		}
	}
	return seeds
}

// FuzzLoad loads arbitrary task files over arbitrary data: no panic, no
// hang, no huge allocation; what loads is consistent.
func FuzzLoad(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s[0], []byte(s[1]))
	}
	f.Add("name: t\ndata: d.jsonl\nprompt: '{{range 100000000000}}xxxx{{end}}'\ntarget: answer\n", []byte(`{"answer": "a"}`))
	f.Add("name: t\ndata: d.jsonl\nprompt: '{{$s := .answer}}{{range 60}}{{$s = print $s $s}}{{end}}'\ntarget: answer\n", []byte(`{"answer": "a"}`))
	f.Add("name: t\ndata: d.csv\nprompt: '{{printf \"%09999d\" 1}}'\ntarget: a\nfewshot: {count: 1, split: head}\n", []byte("a,b\n1,2\n3,4\n"))
	f.Add("a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nname: *c\n", []byte("{}"))
	f.Fuzz(func(t *testing.T, task string, data []byte) {
		// Keep to the temporary directory: no absolute paths, no
		// devices or files elsewhere (Load reads what a task names).
		if strings.ContainsAny(task, "/\\") || strings.Contains(task, "..") {
			return
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "task.yml")
		if err := os.WriteFile(path, []byte(task), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, n := range fuzzDataNames {
			if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		tasks, err := LoadAll(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) && !strings.Contains(err.Error(), "built-in") {
				t.Errorf("error %q does not name the task file", err)
			}
			return
		}
		for _, tk := range tasks {
			if tk.Name == "" || len(tk.Items) == 0 || (tk.Split != SplitTune && tk.Split != SplitHoldout) {
				t.Fatalf("task %q: %d items, split %q", tk.Name, len(tk.Items), tk.Split)
			}
			for _, it := range tk.Items {
				if len(it.Prompt) > 2*MaxRenderedBytes+len(FewshotDelimiter) {
					t.Fatalf("task %q item %s: prompt of %d bytes", tk.Name, it.ID, len(it.Prompt))
				}
				if tk.MultipleChoice() && (it.Gold < 0 || it.Gold >= len(it.Choices)) {
					t.Fatalf("task %q item %s: gold %d of %d choices", tk.Name, it.ID, it.Gold, len(it.Choices))
				}
			}
		}
	})
}
