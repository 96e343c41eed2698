package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/merge/methods"
)

// execMainEnv, set to 1, makes the test binary behave as mergetune itself,
// so that bench merge can re-execute it (os.Executable) for its merges.
const execMainEnv = "MERGETUNE_TEST_EXEC_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(execMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestBenchMergePico(t *testing.T) {
	t.Setenv(execMainEnv, "1")
	dir := t.TempDir()
	report := filepath.Join(dir, "result.md")
	run := func(args ...string) string {
		t.Helper()
		var out, log bytes.Buffer
		root := newRoot()
		root.SetOut(&out)
		root.SetErr(&log)
		root.SetArgs(append([]string{"bench", "merge", "--shape", "pico", "--dir", dir, "--out", report}, args...))
		if err := root.Execute(); err != nil {
			t.Fatalf("bench merge: %v\n%s", err, log.String())
		}
		return out.String() + "\n" + log.String()
	}
	first := run()
	for _, m := range strings.Split(defaultBenchMethods, ",") {
		if !strings.Contains(first, "| "+m+" | safetensors | ") {
			t.Errorf("no row for %s in\n%s", m, first)
		}
	}
	for _, want := range []string{"| method | format | seconds | CPU s | output GB | input GB/s | peak RSS MB | × linear | × safetensors | read once s | write once s | × max(read, write) |", "read once (cat): ", "write once (dd): ", "linear / max(read, write): ", "- linear ≤ 1.25 × max(read once, write once)", "peak RSS ≤ 1024 MB: ", "generating the pico base model"} {
		if !strings.Contains(first, want) {
			t.Errorf("no %q in\n%s", want, first)
		}
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "| slerp | ") {
		t.Errorf("--out file lacks the table:\n%s", data)
	}
	// The outputs are removed after each merge.
	if m, _ := filepath.Glob(filepath.Join(dir, "pico", "out-*")); len(m) > 0 {
		t.Errorf("merge outputs left behind: %v", m)
	}
	// A second run reuses the checkpoints, and times the GGUF outputs
	// beside safetensors.
	second := run("--methods", "task_arithmetic", "--formats", "safetensors,gguf-bf16,gguf-q8_0")
	if strings.Contains(second, "generating") || !strings.Contains(second, "using the pico fine-tune 3") {
		t.Errorf("second run did not reuse the checkpoints:\n%s", second)
	}
	for _, want := range []string{"| task_arithmetic | safetensors | ", "| task_arithmetic | gguf-bf16 | ", "| task_arithmetic | gguf-q8_0 | ",
		"- task_arithmetic gguf-bf16 ≤ 1.00 × its safetensors merge = ", "- task_arithmetic gguf-q8_0 ≤ 1.00 × its safetensors merge = "} {
		if !strings.Contains(second, want) {
			t.Errorf("no %q in\n%s", want, second)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "pico", "out-*")); len(m) > 0 {
		t.Errorf("merge outputs left behind: %v", m)
	}
}

// TestBenchReportFormats checks the GGUF rows' ratios to their method's
// safetensors merge and the target lines, on made-up measures.
func TestBenchReportFormats(t *testing.T) {
	runs := []benchRun{
		{method: "linear", format: "safetensors", seconds: 2, cpu: 3, outBytes: 2e9, inBytes: 6e9},
		{method: "linear", format: "gguf-bf16", seconds: 3, cpu: 5, outBytes: 2e9, inBytes: 6e9},
		{method: "linear", format: "gguf-q8_0", seconds: 1.5, cpu: 4, outBytes: 1e9, inBytes: 6e9},
		{method: "ties", format: "gguf-bf16", seconds: 4, cpu: 6, outBytes: 2e9, inBytes: 8e9},
	}
	got := benchReport(benchInfo{shape: "pico", readOnce: 1, writeOnce: 1, readBytes: 8e9, writeBytes: 2e9}, runs)
	for _, want := range []string{
		"| linear | gguf-bf16 | 3.00 | 5.00 | 2.00 | 2.00 | 0 | 1.00 | 1.50 | ",
		"| linear | gguf-q8_0 | 1.50 | 4.00 | 1.00 | 4.00 | 0 | 1.00 | 0.75 | ",
		"| ties | gguf-bf16 | 4.00 | 6.00 | 2.00 | 2.00 | 0 | 1.33 | - | ",
		"- linear gguf-bf16 ≤ 1.00 × its safetensors merge = 2.00 s: 3.00 s (1.50×; CPU 5.00 s against 3.00 s) MISSED",
		"- linear gguf-q8_0 ≤ 1.00 × its safetensors merge = 2.00 s: 1.50 s (0.75×; CPU 4.00 s against 3.00 s) ok",
		"- ties gguf-bf16 ≤ 1.00 × its safetensors merge: not measured (safetensors was not run)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
}

func TestBenchMergeBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--shape", "huge"},
		{"--methods", "linear,nope"},
		{"--models", "0"},
		{"--models", "1", "--methods", "model_stock"},
		{"--formats", "safetensors,gguf-q4_k"},
		{"--formats", " , "},
	} {
		root := newRoot()
		root.SetOut(new(bytes.Buffer))
		root.SetErr(new(bytes.Buffer))
		root.SetArgs(append([]string{"bench", "merge", "--dir", t.TempDir()}, args...))
		if err := root.Execute(); err == nil {
			t.Errorf("no error for %v", args)
		}
	}
}

// TestBenchConfigStartValues checks that bench merge configures each
// method with the method's own start values and defaults (della's
// epsilon is its default 0.15, not a bench copy).
func TestBenchConfigStartValues(t *testing.T) {
	fts := []string{"ft1", "ft2", "ft3"}
	cases := []struct {
		method string
		base   bool
		models int
		global map[string]string // parameter → value as written ("" absent)
		per    map[string]string
	}{
		{"linear", false, 3, nil, map[string]string{"weight": "0.3333333333333333", "density": ""}},
		{"ties", true, 3, map[string]string{"lambda": ""}, map[string]string{"weight": "1", "density": "0.5"}},
		{"breadcrumbs", true, 3, nil, map[string]string{"density": "0.9", "gamma": ""}},
		{"della", true, 3, nil, map[string]string{"density": "0.5", "epsilon": ""}},
		{"slerp", true, 1, map[string]string{"t": "0.5"}, nil},
		{"model_stock", true, 3, nil, map[string]string{"weight": ""}},
	}
	known := benchMethods()
	for _, c := range cases {
		yml, inputs, err := benchConfig(c.method, known[c.method], "base", fts)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse([]byte(yml), c.method+".yml")
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.method, err, yml)
		}
		if got := cfg.BaseModel == "base"; got != c.base || len(cfg.Models) != c.models || len(inputs) != c.models+btoi(c.base) {
			t.Errorf("%s: base %q, %d models, inputs %v\n%s", c.method, cfg.BaseModel, len(cfg.Models), inputs, yml)
		}
		check := func(p config.Params, want map[string]string, where string) {
			for k, w := range want {
				s, ok := p[k]
				if got := map[bool]string{true: s.String(), false: ""}[ok]; got != w {
					t.Errorf("%s: %s %s = %q, want %q\n%s", c.method, where, k, got, w, yml)
				}
			}
		}
		check(cfg.Parameters, c.global, "global")
		for _, m := range cfg.Models {
			check(m.Parameters, c.per, m.Model)
		}
	}
	if m, _ := methods.All().Lookup("della"); m != nil {
		if d, _ := m.Param("epsilon"); d.Default != methods.DellaEpsilon {
			t.Errorf("della epsilon default %v", d.Default)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
