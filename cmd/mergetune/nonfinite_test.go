package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMergeAllowNonFinite: a merge whose output overflows to ±Inf fails
// (it used to exit 0 with one warning) unless --allow-nonfinite is given.
func TestMergeAllowNonFinite(t *testing.T) {
	dir := t.TempDir()
	writeTiny(t, filepath.Join(dir, "a"), []float32{1, 2, 3, 4})
	cfg := filepath.Join(dir, "big.yml")
	if err := os.WriteFile(cfg, []byte("merge_method: linear\nmodels: [{model: a, parameters: {weight: 1e300}}]\nparameters: {normalize: false}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	msg, err := runCLI(t, "merge", cfg, out, "-q")
	if err == nil || !strings.Contains(err.Error(), "tensor w: 4 of 4 merged values are not finite") {
		t.Fatalf("err = %v\n%s", err, msg)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output written: %v", err)
	}
	mustRunCLI(t, "merge", cfg, out, "-q", "--allow-nonfinite")
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err != nil {
		t.Errorf("no output with --allow-nonfinite: %v", err)
	}
}
