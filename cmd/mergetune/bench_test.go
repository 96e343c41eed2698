package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	run := func() string {
		t.Helper()
		var out, log bytes.Buffer
		root := newRoot()
		root.SetOut(&out)
		root.SetErr(&log)
		root.SetArgs([]string{"bench", "merge", "--shape", "pico", "--dir", dir, "--out", report})
		if err := root.Execute(); err != nil {
			t.Fatalf("bench merge: %v\n%s", err, log.String())
		}
		return out.String() + "\n" + log.String()
	}
	first := run()
	for _, m := range strings.Split(defaultBenchMethods, ",") {
		if !strings.Contains(first, "| "+m+" | ") {
			t.Errorf("no row for %s in\n%s", m, first)
		}
	}
	for _, want := range []string{"| method | seconds | input GB/s | peak RSS MB | × linear |", "read once: ", "write once: ", "linear / (read+write): ", "peak RSS ≤ 1024 MB: ", "generating the pico base model"} {
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
	// A second run reuses the checkpoints.
	second := run()
	if strings.Contains(second, "generating") || !strings.Contains(second, "using the pico fine-tune 3") {
		t.Errorf("second run did not reuse the checkpoints:\n%s", second)
	}
}

func TestBenchMergeBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--shape", "huge"},
		{"--methods", "linear,nope"},
		{"--models", "0"},
		{"--models", "1", "--methods", "model_stock"},
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
