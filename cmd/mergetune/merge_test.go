package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/merge/safetensors"
)

func writeTiny(t *testing.T, dir string, v []float32) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	w, err := safetensors.Create(dir, []safetensors.Spec{{Name: "w", DType: safetensors.BF16, Shape: []int{len(v)}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFloat32("w", 0, v); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// mustRunCLI is runCLI failing the test on an error, with the output.
func mustRunCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("mergetune %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestMergeCommand(t *testing.T) {
	dir := t.TempDir()
	writeTiny(t, filepath.Join(dir, "base"), []float32{1, 2, 3, 4})
	writeTiny(t, filepath.Join(dir, "a"), []float32{2, 2, 3, 4})
	writeTiny(t, filepath.Join(dir, "b"), []float32{1, 2, 5, 4})
	cfg := filepath.Join(dir, "ta.yml")
	os.WriteFile(cfg, []byte(`merge_method: task_arithmetic
base_model: base
models:
  - model: a
    parameters: {weight: 1}
  - model: b
    parameters: {weight: 0.5}
`), 0o644)
	out := filepath.Join(dir, "out")
	if _, err := runCLI(t, "merge", cfg, out, "--quiet"); err != nil {
		t.Fatal(err)
	}
	m, err := safetensors.OpenModel(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x, _ := m.Tensor("w")
	got := make([]float32, 4)
	x.Read(0, got)
	want := []float32{2, 2, 4, 4}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("merged %v, want %v", got, want)
		}
	}
	if x.DType != safetensors.BF16 {
		t.Fatalf("dtype %s, want the inputs' BF16", x.DType)
	}
	// a second run into the same directory is refused without --force
	if _, err := runCLI(t, "merge", cfg, out, "--quiet"); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second run: %v", err)
	}
	if _, err := runCLI(t, "merge", cfg, out, "--quiet", "--force", "--out-shard-size", "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err != nil {
		t.Fatalf("one tensor is one shard: %v", err)
	}
	if _, err := runCLI(t, "merge", cfg, out, "--force", "--out-shard-size", "lots"); err == nil || !strings.Contains(err.Error(), `invalid size "lots"`) {
		t.Fatalf("bad shard size: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"5B": 5e9, "500m": 5e8, "10k": 1e4, "1234": 1234, "1.5b": 1.5e9} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "0"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

// TestReadmeExamples runs the merges the README and examples/ show.
func TestReadmeExamples(t *testing.T) {
	for _, cfg := range []string{"ties.yml", "frankenmerge.yml"} {
		out := filepath.Join(t.TempDir(), "out")
		msg, err := runCLI(t, "merge", filepath.Join("..", "..", "examples", "pico", cfg), out, "--quiet")
		if err != nil {
			t.Fatalf("%s: %v", cfg, err)
		}
		if !strings.Contains(msg, "wrote "+out) {
			t.Errorf("%s: summary %q", cfg, msg)
		}
		m, err := safetensors.OpenModel(out)
		if err != nil {
			t.Fatalf("%s: output does not load: %v", cfg, err)
		}
		if len(m.Names()) < 20 {
			t.Errorf("%s: %d tensors", cfg, len(m.Names()))
		}
		m.Close()
	}
}

// TestMergeForceKeepsInputs checks that `merge --force` refuses an OUT_DIR
// that is an input model or the directory holding the models and the
// configuration, instead of deleting its own inputs and exiting 0.
func TestMergeForceKeepsInputs(t *testing.T) {
	dir := t.TempDir()
	writeTiny(t, filepath.Join(dir, "base"), []float32{1, 2, 3, 4})
	writeTiny(t, filepath.Join(dir, "a"), []float32{2, 2, 3, 4})
	cfg := filepath.Join(dir, "ta.yml")
	if err := os.WriteFile(cfg, []byte("merge_method: task_arithmetic\nbase_model: base\nmodels:\n  - model: a\n    parameters: {weight: 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ out, want string }{
		{dir, "contains input model"},
		{filepath.Join(dir, "a"), "is the directory of input model a"},
	} {
		_, err := runCLI(t, "merge", cfg, c.out, "--quiet", "--force")
		if err == nil {
			t.Fatalf("merge --force into %s succeeded", c.out)
		}
		for _, w := range []string{cfg, c.out, c.want} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		}
		for _, p := range []string{cfg, filepath.Join(dir, "base", "model.safetensors"), filepath.Join(dir, "a", "model.safetensors")} {
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("input lost: %v", err)
			}
		}
	}
}
