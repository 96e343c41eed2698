package ollama

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// convertFixture converts a runner fixture to GGUF in a temporary file.
func convertFixture(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name+".gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := convertModel(os.DirFS(filepath.Join(fixtures, name)), f); err != nil {
		t.Fatal(err)
	}
	return f
}

func data(t *testing.T, f *os.File, h *ggufHeader) []byte {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(f, h.dataStart, 1<<62))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFixGGUF checks the two amendments: an empty merges array for a
// merge-less byte-level BPE, and rope.dimension_count = head_dim.
func TestFixGGUF(t *testing.T) {
	f := convertFixture(t, "bf16_untied") // head_dim 16, hidden 32, 4 heads; no merges
	before, err := readGGUFHeader(f)
	if err != nil {
		t.Fatal(err)
	}
	if before.keys["tokenizer.ggml.merges"] || before.uint32s["llama.rope.dimension_count"] != 8 {
		t.Fatalf("the converter changed: merges %v, rope.dimension_count %d (update fixGGUF)",
			before.keys["tokenizer.ggml.merges"], before.uint32s["llama.rope.dimension_count"])
	}
	wantData := data(t, f, before)
	fixed, err := fixGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	if fixed == f {
		t.Fatal("fixGGUF changed nothing")
	}
	defer func() { fixed.Close(); os.Remove(fixed.Name()) }()
	after, err := readGGUFHeader(fixed)
	if err != nil {
		t.Fatal(err)
	}
	if !after.keys["tokenizer.ggml.merges"] || after.nKV != before.nKV+1 {
		t.Errorf("no merges key after fixGGUF (%d keys)", after.nKV)
	}
	if got := after.uint32s["llama.rope.dimension_count"]; got != 16 {
		t.Errorf("rope.dimension_count = %d, want 16", got)
	}
	if after.dataStart%after.alignment != 0 || !bytes.Equal(data(t, fixed, after), wantData) {
		t.Error("tensor data changed")
	}
	if !bytes.Equal(after.tensors, before.tensors) {
		t.Error("tensor infos changed")
	}

	// A file that needs nothing is returned as is.
	again, err := fixGGUF(fixed)
	if err != nil || again != fixed {
		t.Errorf("fixGGUF of a fixed file = %v, %v", again, err)
	}
}

func TestReadGGUFHeaderRejectsGarbage(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("not a gguf file at all")
	if _, err := readGGUFHeader(f); err == nil {
		t.Error("garbage accepted")
	}
	f.Truncate(0)
	f.WriteAt([]byte("GGUF\x03\x00\x00\x00"), 0) // cut short
	if _, err := readGGUFHeader(f); err == nil {
		t.Error("truncated header accepted")
	}
}
