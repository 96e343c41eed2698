package ollama

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/datasets/toy"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/merge"
)

// TestGGUFCandidateMatchesConverterPath merges family models into
// safetensors (imported through Ollama's converter and an upload) and
// straight into GGUF (placed in the server's blob store, and uploaded by a
// backend that may not touch the store), and checks that the three models
// give the same answer to every test item of every toy task.
func TestGGUFCandidateMatchesConverterPath(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	abs, err := filepath.Abs(familyDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "merge.yml")
	yml := fmt.Sprintf(`merge_method: task_arithmetic
base_model: %[1]s/base
models:
  - model: %[1]s/upper
    parameters: {weight: 0.7}
  - model: %[1]s/reverse
    parameters: {weight: 0.7}
  - model: %[1]s/succ
    parameters: {weight: 0.7}
`, abs)
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(dir, "merged")
	if _, err := merge.RunFile(ctx, cfg, st, merge.Options{}); err != nil {
		t.Fatal(err)
	}
	direct := filepath.Join(dir, "merged.gguf")
	if _, err := merge.RunFile(ctx, cfg, direct, merge.Options{Format: merge.FormatGGUF}); err != nil {
		t.Fatal(err)
	}
	old := open(t, backend(t, Options{NamePrefix: "cand-old", ModelsDir: "-"}), st)
	placed := open(t, backend(t, Options{NamePrefix: "cand-placed", ModelsDir: server(t).Models}), direct)
	uploaded := open(t, backend(t, Options{NamePrefix: "cand-up", ModelsDir: "-"}), direct)
	if s := old.Stats(); s.Convert <= 0 || s.Placed {
		t.Errorf("converter path stats %+v: want a conversion and no placement", s)
	}
	if s := placed.Stats(); !s.Placed || s.Uploaded || s.Convert != 0 {
		t.Errorf("direct path stats %+v: want the blob placed, no upload, no conversion", s)
	}
	if placed.Digest() != uploaded.Digest() {
		t.Errorf("digests %s (placed) and %s (uploaded)", placed.Digest(), uploaded.Digest())
	}
	blob := filepath.Join(server(t).Models, "blobs", strings.ReplaceAll(placed.Digest(), ":", "-"))
	if _, err := os.Stat(blob); err != nil {
		t.Errorf("placed blob: %v", err)
	}
	opt := eval.GenerateOptions{MaxTokens: 16, Stop: []string{"\n"}}
	n := 0
	for _, task := range toy.Tasks() {
		items, err := task.Items(toy.SplitTest, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			want, err := old.Generate(ctx, it.Prompt, opt)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []*Model{placed, uploaded} {
				got, err := m.Generate(ctx, it.Prompt, opt)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("%s %q: %s answers %q, the converter path %q", task.Name, it.Prompt, m.Name(), got, want)
				}
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no items")
	}
	t.Logf("%d items agree; import: converter path %+v, direct placed %+v", n, old.Stats(), placed.Stats())
}

// TestOpenRefusesNonGGUFFile checks that a regular file that is not a GGUF
// is refused with a clear error, and nothing is uploaded.
func TestOpenRefusesNonGGUFFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "model.gguf")
	if err := os.WriteFile(p, []byte("not a gguf at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := backend(t, Options{}).OpenModel(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "not a GGUF file") {
		t.Errorf("OpenModel(non-GGUF file) = %v", err)
	}
}

// TestPlaceBlob checks that a blob is linked or copied into the store
// under its digest, that a missing store is left alone, and that a failed
// copy leaves nothing in the store.
func TestPlaceBlob(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "m.gguf")
	if err := os.WriteFile(src, []byte("GGUF data"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	digest := "sha256:" + strings.Repeat("ab", 32)
	if ok, err := placeBlob(filepath.Join(dir, "nomodels"), f, digest); ok || err != nil {
		t.Errorf("no store: %v, %v", ok, err)
	}
	models := filepath.Join(dir, "models")
	os.MkdirAll(filepath.Join(models, "blobs"), 0o755)
	if ok, err := placeBlob(models, f, digest); !ok || err != nil {
		t.Fatalf("place: %v, %v", ok, err)
	}
	got, err := os.ReadFile(filepath.Join(models, "blobs", "sha256-"+strings.Repeat("ab", 32)))
	if err != nil || string(got) != "GGUF data" {
		t.Errorf("blob %q, %v", got, err)
	}
	// A read-only store: the link and the copy fail, nothing is left.
	ro := filepath.Join(dir, "ro")
	os.MkdirAll(filepath.Join(ro, "blobs"), 0o555)
	if os.Getuid() != 0 {
		if _, err := placeBlob(ro, f, digest); err == nil {
			t.Error("read-only store: no error")
		}
		if entries, _ := os.ReadDir(filepath.Join(ro, "blobs")); len(entries) != 0 {
			t.Errorf("read-only store holds %d entries", len(entries))
		}
	}
}
