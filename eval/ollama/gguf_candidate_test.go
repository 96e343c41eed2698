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
	n := sameAnswers(t, toy.Tasks(), 10, old, placed, uploaded)
	t.Logf("%d items agree; import: converter path %+v, direct placed %+v", n, old.Stats(), placed.Stats())
}

// familyMergeConfig writes a task_arithmetic merge of three family task
// models into dir and returns its path.
func familyMergeConfig(t *testing.T, dir, outDType string) string {
	t.Helper()
	abs, err := filepath.Abs(familyDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "merge-"+outDType+".yml")
	yml := fmt.Sprintf(`merge_method: task_arithmetic
base_model: %[1]s/base
out_dtype: %[2]s
models:
  - model: %[1]s/upper
    parameters: {weight: 0.7}
  - model: %[1]s/reverse
    parameters: {weight: 0.7}
  - model: %[1]s/succ
    parameters: {weight: 0.7}
`, abs, outDType)
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestDirectQ8_0MatchesServerQuantize checks that a merge written straight
// to q8_0 GGUF is, byte for byte, the model blob the server makes with
// create --quantize q8_0 from the converter's GGUF of the same merge
// (bf16 and f32 merges), and that the two give the same answers.
func TestDirectQ8_0MatchesServerQuantize(t *testing.T) {
	ctx := t.Context()
	for _, dtype := range []string{"bfloat16", "float32"} {
		t.Run(dtype, func(t *testing.T) {
			dir := t.TempDir()
			cfg := familyMergeConfig(t, dir, dtype)
			st := filepath.Join(dir, "merged")
			if _, err := merge.RunFile(ctx, cfg, st, merge.Options{}); err != nil {
				t.Fatal(err)
			}
			direct := filepath.Join(dir, "merged-q8_0.gguf")
			if _, err := merge.RunFile(ctx, cfg, direct, merge.Options{Format: merge.FormatGGUF, GGUFType: "q8_0"}); err != nil {
				t.Fatal(err)
			}
			old := open(t, backend(t, Options{NamePrefix: "q8-old-" + dtype, Quantize: "q8_0", ModelsDir: "-"}), st)
			blob := modelBlob(t, server(t).Models, old.Name())
			f, err := os.Open(direct)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			digest, _, err := fileDigest(f)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Base(blob); strings.ReplaceAll(digest, ":", "-") != want {
				sf, err := os.Open(blob)
				if err != nil {
					t.Fatal(err)
				}
				defer sf.Close()
				g, w := decodeGGUF(t, f), decodeGGUF(t, sf)
				gt, wt := g.Tensors().Items(), w.Tensors().Items()
				t.Errorf("direct q8_0 file %s, server's quantized blob %s; %d/%d tensors, %d/%d KV", digest, want, len(gt), len(wt), len(g.KV()), len(w.KV()))
				ha, hb := make([]byte, g.Tensors().Offset), make([]byte, w.Tensors().Offset)
				f.ReadAt(ha, 0)
				sf.ReadAt(hb, 0)
				for i := range min(len(ha), len(hb)) {
					if ha[i] != hb[i] {
						lo := max(0, i-40)
						t.Errorf("headers (%d, %d bytes) differ at byte %d: %q vs server %q", len(ha), len(hb), i, ha[lo:min(len(ha), i+40)], hb[lo:min(len(hb), i+40)])
						break
					}
				}
				for i := range min(len(gt), len(wt)) {
					if gt[i].Name != wt[i].Name || gt[i].Kind != wt[i].Kind || gt[i].Offset != wt[i].Offset {
						t.Errorf("tensor %d: %s %s @%d, server %s %s @%d", i, gt[i].Name, gt[i].Type(), gt[i].Offset, wt[i].Name, wt[i].Type(), wt[i].Offset)
						continue
					}
					a, b := make([]byte, gt[i].Size()), make([]byte, wt[i].Size())
					f.ReadAt(a, int64(g.Tensors().Offset+gt[i].Offset))
					sf.ReadAt(b, int64(w.Tensors().Offset+wt[i].Offset))
					if string(a) != string(b) {
						t.Errorf("tensor %s (%s): bytes differ", gt[i].Name, gt[i].Type())
					}
				}
				for k, v := range w.KV() {
					if fmt.Sprint(g.KV()[k]) != fmt.Sprint(v) {
						t.Errorf("KV %s: %.80v, server %.80v", k, fmt.Sprint(g.KV()[k]), fmt.Sprint(v))
					}
				}
			}
			if dtype != "bfloat16" {
				return
			}
			// Quantize q8_0 as a study asks: the q8_0 file is not quantized again.
			placed := open(t, backend(t, Options{NamePrefix: "q8-new", Quantize: "q8_0", ModelsDir: server(t).Models}), direct)
			if placed.Digest() != digest {
				t.Errorf("the direct q8_0 model has digest %s, its file %s (quantized again?)", placed.Digest(), digest)
			}
			sameAnswers(t, toy.Tasks()[:6], 5, old, placed)
		})
	}
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
	if made, ok, err := placeBlob(filepath.Join(dir, "nomodels"), f, digest, false); ok || made != "" || err != nil {
		t.Errorf("no store: %q, %v, %v", made, ok, err)
	}
	models := filepath.Join(dir, "models")
	os.MkdirAll(filepath.Join(models, "blobs"), 0o755)
	target := filepath.Join(models, "blobs", "sha256-"+strings.Repeat("ab", 32))
	if made, ok, err := placeBlob(models, f, digest, false); made != target || !ok || err != nil {
		t.Fatalf("place: %q, %v, %v; want %s made", made, ok, err, target)
	}
	got, err := os.ReadFile(target)
	if err != nil || string(got) != "GGUF data" {
		t.Errorf("blob %q, %v", got, err)
	}
	// Placed again: the store holds it already, and placeBlob made nothing.
	if made, ok, err := placeBlob(models, f, digest, false); made != "" || !ok || err != nil {
		t.Errorf("place again: %q, %v, %v; want nothing made", made, ok, err)
	}
	// A read-only store: the link and the copy fail, nothing is left.
	ro := filepath.Join(dir, "ro")
	os.MkdirAll(filepath.Join(ro, "blobs"), 0o555)
	if os.Getuid() != 0 {
		if _, _, err := placeBlob(ro, f, digest, false); err == nil {
			t.Error("read-only store: no error")
		}
		if entries, _ := os.ReadDir(filepath.Join(ro, "blobs")); len(entries) != 0 {
			t.Errorf("read-only store holds %d entries", len(entries))
		}
	}
}

// TestPlaceUnseen gives a backend a models directory with a blob store
// the server does not use: the first candidate is placed there, the
// server does not see it, and it is uploaded instead, with nothing left
// in that store; the backend then streams its candidates and places no
// more.
func TestPlaceUnseen(t *testing.T) {
	dir := t.TempDir()
	direct := filepath.Join(dir, "merged.gguf")
	if _, err := merge.RunFile(t.Context(), familyMergeConfig(t, dir, "bfloat16"), direct, merge.Options{Format: merge.FormatGGUF}); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other-models")
	if err := os.MkdirAll(filepath.Join(other, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	be := backend(t, Options{NamePrefix: "place-unseen", ModelsDir: other})
	if !be.canPlace() || be.Streams() {
		t.Fatalf("before the first candidate: canPlace %v, Streams %v; want placement, no stream", be.canPlace(), be.Streams())
	}
	m := open(t, be, direct)
	if s := m.Stats(); s.Placed || !s.Uploaded {
		t.Errorf("stats %+v: want the candidate uploaded, not placed", s)
	}
	if entries, err := os.ReadDir(filepath.Join(other, "blobs")); err != nil || len(entries) != 0 {
		t.Errorf("the store the server does not use holds %d entries (%v); want none", len(entries), err)
	}
	if be.canPlace() || !be.Streams() {
		t.Errorf("after: canPlace %v, Streams %v; want no placement, streams", be.canPlace(), be.Streams())
	}
	sameAnswers(t, toy.Tasks()[:2], 3, m, open(t, backend(t, Options{NamePrefix: "place-seen", ModelsDir: server(t).Models}), direct))
}

// TestLearnStore: a backend for a server on this machine, given no models
// directory, uploads its first candidate, learns the server's store from
// the model it created (one the server quantized too), and places the
// next candidate there; with ModelsDir "-" it learns nothing.
func TestLearnStore(t *testing.T) {
	t.Setenv("OLLAMA_MODELS", "")
	dir := t.TempDir()
	var ggufs []string
	for _, dtype := range []string{"bfloat16", "float16"} {
		p := filepath.Join(dir, dtype+".gguf")
		if _, err := merge.RunFile(t.Context(), familyMergeConfig(t, dir, dtype), p, merge.Options{Format: merge.FormatGGUF}); err != nil {
			t.Fatal(err)
		}
		ggufs = append(ggufs, p)
	}
	be := backend(t, Options{NamePrefix: "learn"})
	if be.canPlace() || !be.Streams() {
		t.Fatalf("before any model: canPlace %v, Streams %v; want an upload", be.canPlace(), be.Streams())
	}
	first := open(t, be, ggufs[0])
	if s := first.Stats(); s.Placed || !s.Uploaded {
		t.Errorf("first candidate %+v: want it uploaded", s)
	}
	learned, err := os.Stat(be.modelsDir())
	if want, err2 := os.Stat(server(t).Models); err != nil || err2 != nil || !os.SameFile(learned, want) {
		t.Fatalf("learned models directory %q (%v), want the server's %s", be.modelsDir(), err, server(t).Models)
	}
	if !be.canPlace() || be.Streams() {
		t.Errorf("after the first model: canPlace %v, Streams %v; want placement", be.canPlace(), be.Streams())
	}
	second := open(t, be, ggufs[1])
	if s := second.Stats(); !s.Placed || s.Uploaded {
		t.Errorf("second candidate %+v: want it placed", s)
	}
	sameAnswers(t, toy.Tasks()[:2], 3, first, second)

	// A model the server quantizes has its own blob: the store is learned
	// all the same.
	q8 := backend(t, Options{NamePrefix: "learn-q8", Quantize: "q8_0"})
	if m := open(t, q8, ggufs[0]); m.Digest() == first.Digest() {
		t.Errorf("the server's q8_0 model has the bf16 blob %s", m.Digest())
	}
	if got, err := os.Stat(q8.modelsDir()); err != nil || !os.SameFile(got, learned) {
		t.Errorf("learned from a quantized model: %q (%v), want the server's %s", q8.modelsDir(), err, server(t).Models)
	}

	off := backend(t, Options{NamePrefix: "learn-off", ModelsDir: "-"})
	open(t, off, ggufs[0])
	if off.modelsDir() != "" || off.canPlace() {
		t.Errorf("ModelsDir \"-\": learned %q; want nothing", off.modelsDir())
	}
}

// TestPlaceLearnedStoreFails: a store the backend learned from the server
// takes links only: where the link fails (here: the file's name is gone;
// in use: another file system), the backend uploads instead, without an
// error, and places no more; a store the user named gets a copy, and a
// placement that fails there is an error naming the store, or the
// server's, leaving nothing in the store.
func TestPlaceLearnedStoreFails(t *testing.T) {
	store := filepath.Join(t.TempDir(), "models")
	if err := os.MkdirAll(filepath.Join(store, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("cd", 32)
	// unlinked opens a file whose name is gone: it cannot be linked.
	unlinked := func(flag int) *os.File {
		p := filepath.Join(t.TempDir(), "gone.gguf")
		f, err := os.OpenFile(p, os.O_CREATE|flag, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		f.WriteString("GGUF data")
		os.Remove(p)
		return f
	}
	f := unlinked(os.O_RDWR)

	learned, err := New(Options{Host: "127.0.0.1:1", ModelsDir: ""})
	if err != nil {
		t.Fatal(err)
	}
	learned.learned.Store(&store)
	if ok, err := learned.place(t.Context(), f, digest); ok || err != nil {
		t.Errorf("learned store: place = %v, %v; want an upload instead, no error", ok, err)
	}
	if learned.canPlace() {
		t.Error("learned store: still places after a failed placement")
	}
	if entries, _ := os.ReadDir(filepath.Join(store, "blobs")); len(entries) != 0 {
		t.Errorf("the learned store holds %d entries; want no copy", len(entries))
	}

	named, err := New(Options{Host: "127.0.0.1:1", ModelsDir: store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := named.place(t.Context(), unlinked(os.O_WRONLY), digest); err == nil || !strings.Contains(err.Error(), store) {
		t.Errorf("named store, unreadable file: place error %v; want one naming %s", err, store)
	}
	if entries, _ := os.ReadDir(filepath.Join(store, "blobs")); len(entries) != 0 {
		t.Errorf("the store holds %d entries after a failed copy", len(entries))
	}
	// The same file a named store copies; with the server gone, the
	// placement fails and the copy is removed.
	if _, err := named.place(t.Context(), f, digest); err == nil {
		t.Error("named store, no server: placed")
	}
	if entries, _ := os.ReadDir(filepath.Join(store, "blobs")); len(entries) != 0 {
		t.Errorf("the store holds %d entries after a placement the server did not answer", len(entries))
	}
	target := filepath.Join(store, "blobs", strings.ReplaceAll(digest, ":", "-"))
	if made, ok, err := placeBlob(store, f, digest, false); made != target || !ok || err != nil {
		t.Errorf("named store: placeBlob = %q, %v, %v; want a copy at %s", made, ok, err, target)
	}
}

// sameAnswers checks that each model of got gives want's greedy answer
// (16 tokens, up to a newline) to the first perTask test items of each of
// tasks, naming the item and both models where one differs, and returns
// how many items it compared (none fails the test).
func sameAnswers(t *testing.T, tasks []toy.Task, perTask int, want *Model, got ...*Model) int {
	t.Helper()
	ctx := t.Context()
	opt := eval.GenerateOptions{MaxTokens: 16, Stop: []string{"\n"}}
	n := 0
	for _, task := range tasks {
		items, err := task.Items(toy.SplitTest, perTask)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			w, err := want.Generate(ctx, it.Prompt, opt)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range got {
				g, err := m.Generate(ctx, it.Prompt, opt)
				if err != nil {
					t.Fatal(err)
				}
				if g != w {
					t.Errorf("%s %q: %s answers %q, %s %q", task.Name, it.Prompt, m.Name(), g, want.Name(), w)
				}
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no items")
	}
	return n
}
