package merge

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExchange checks that exchange swaps two directories atomically on
// Linux (the file system of the test's temporary directory must support
// RENAME_EXCHANGE, as ext4, xfs, btrfs and tmpfs do).
func TestExchange(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.MkdirAll(a, 0o755)
	os.MkdirAll(b, 0o755)
	writeFile(t, filepath.Join(a, "f"), "a")
	writeFile(t, filepath.Join(b, "f"), "b")
	if err := exchange(a, b); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(a, "f")); string(data) != "b" {
		t.Errorf("a holds %q after the exchange", data)
	}
	if data, _ := os.ReadFile(filepath.Join(b, "f")); string(data) != "a" {
		t.Errorf("b holds %q after the exchange", data)
	}
}
