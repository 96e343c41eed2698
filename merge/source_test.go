package merge

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/merge/safetensors"
	"github.com/mergetune/mergetune/merge/synth"
	"github.com/mergetune/mergetune/merge/torchbin/bintest"
)

const (
	commitBase = "1111111111111111111111111111111111111111"
	commitFT   = "2222222222222222222222222222222222222222"
)

// cacheModel stores the files of the model directory src in the hub cache
// as huggingface_hub does (blobs, snapshot symlinks) under repo at commit,
// with refs/<ref> pointing at it.
func cacheModel(t *testing.T, cache, repo, ref, commit, src string) {
	t.Helper()
	root := filepath.Join(cache, "models--"+strings.ReplaceAll(repo, "/", "--"))
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(root, "snapshots", commit)
	for _, d := range []string{filepath.Join(root, "blobs"), snap, filepath.Join(root, "refs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		blob := filepath.Join(root, "blobs", commit[:8]+"-"+e.Name())
		writeFile(t, blob, string(data))
		if err := os.Symlink(filepath.Join("..", "..", "blobs", filepath.Base(blob)), filepath.Join(snap, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(root, "refs", ref), commit)
}

func readOut(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range []string{"model.safetensors", "config.json", "tokenizer.json"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}

func sameOutput(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	for n, w := range want {
		if !bytes.Equal(got[n], w) {
			t.Errorf("%s: %s differs (%d bytes, want %d)", what, n, len(got[n]), len(w))
		}
	}
}

// TestHubIDs merges models named by Hugging Face ids from the cache (a
// branch, a tag given as @revision) and checks that the output is the
// merge of the same directories named by path; a directory on disk named
// like an id wins.
func TestHubIDs(t *testing.T) {
	dir := t.TempDir()
	base := ckpt{layers: 2, hidden: 8, vocab: 16, seed: 1, config: true, dtype: safetensors.BF16}
	ft := base
	ft.seed = 2
	base.write(t, filepath.Join(dir, "base"))
	ft.write(t, filepath.Join(dir, "ft"))
	const cfg = `merge_method: task_arithmetic
base_model: %s
models:
  - model: %s
    parameters: {weight: 0.7}
dtype: bfloat16
`
	byPath := filepath.Join(dir, "paths")
	if err := os.MkdirAll(byPath, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := mergeYAML(t, byPath, strings.ReplaceAll(strings.Replace(cfg, "%s", "../base", 1), "%s", "../ft"), Options{}); err != nil {
		t.Fatal(err)
	}
	want := readOut(t, filepath.Join(byPath, "out"))

	cache := os.Getenv("HF_HUB_CACHE")
	cacheModel(t, cache, "org/base", "main", commitBase, filepath.Join(dir, "base"))
	cacheModel(t, cache, "org/ft", "v1", commitFT, filepath.Join(dir, "ft"))
	for _, ids := range [][2]string{
		{"org/base", "org/ft@v1"},
		{"org/base@main", "org/ft@" + commitFT},
	} {
		d := t.TempDir()
		cfgText := strings.Replace(strings.Replace(cfg, "%s", ids[0], 1), "%s", ids[1], 1)
		if _, out, err := mergeYAML(t, d, cfgText, Options{}); err != nil {
			t.Fatalf("%v: %v", ids, err)
		} else {
			sameOutput(t, ids[0]+", "+ids[1], readOut(t, out), want)
		}
	}

	// A directory org/base next to the configuration is taken instead of
	// the cached org/base.
	d := t.TempDir()
	other := base
	other.seed = 3
	other.write(t, filepath.Join(d, "org", "base"))
	cfgText := strings.Replace(strings.Replace(cfg, "%s", "org/base", 1), "%s", "org/ft@v1", 1)
	_, out, err := mergeYAML(t, d, cfgText, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := readOut(t, out); bytes.Equal(got["model.safetensors"], want["model.safetensors"]) {
		t.Error("the cached org/base was merged, not the directory org/base beside the configuration")
	}
}

func TestHubIDNotCached(t *testing.T) {
	dir := t.TempDir()
	base := ckpt{layers: 1, hidden: 8, vocab: 16, seed: 1}
	base.write(t, filepath.Join(dir, "base"))
	_, _, err := mergeYAML(t, dir, `merge_method: linear
models:
  - model: ./base
    parameters: {weight: 0.5}
  - model: mistralai/Mistral-7B-v0.1@v2
    parameters: {weight: 0.5}
`, Options{})
	for _, w := range []string{"merge.yml", "model mistralai/Mistral-7B-v0.1@v2", "does not exist",
		"not in the Hugging Face cache " + os.Getenv("HF_HUB_CACHE"), "HF_HUB_OFFLINE",
		"huggingface-cli download mistralai/Mistral-7B-v0.1 --revision v2", "HF_ENDPOINT"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
}

// binModel writes the model of src as a PyTorch checkpoint directory dst
// (pytorch_model.bin, or two shards and their index), with the same
// config.json and tokenizer files.
func binModel(t *testing.T, src, dst string, sharded bool) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"config.json", "tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dst, n), string(b))
	}
	if !sharded {
		if err := bintest.FromModel(src, filepath.Join(dst, "pytorch_model.bin")); err != nil {
			t.Fatal(err)
		}
		return
	}
	m, err := safetensors.OpenModel(src)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var parts [2][]bintest.Tensor
	index := map[string]string{}
	names := m.Names()
	for i, n := range names {
		x, _ := m.Tensor(n)
		k := i * 2 / len(names) // the first half in shard 1, as torch shards
		parts[k] = append(parts[k], bintest.Tensor{Name: n, DType: x.DType, Shape: x.Shape, Data: x.Bytes(), Transposed: len(x.Shape) == 2})
		index[n] = []string{"pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"}[k]
	}
	for i, p := range parts {
		if err := bintest.Write(filepath.Join(dst, []string{"pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"}[i]), p); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	b.WriteString(`{"weight_map": {`)
	first := true
	for n, f := range index {
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(`"` + n + `": "` + f + `"`)
	}
	b.WriteString("}}")
	writeFile(t, filepath.Join(dst, "pytorch_model.bin.index.json"), b.String())
}

// TestBinMergesLikeSafetensors merges PyTorch .bin checkpoints (single and
// sharded, with strided tensors) and checks that the output is
// byte-for-byte the merge of their safetensors twins.
func TestBinMergesLikeSafetensors(t *testing.T) {
	dir := t.TempDir()
	for i, dt := range []safetensors.DType{safetensors.BF16, safetensors.F16, safetensors.F32} {
		c := ckpt{layers: 2, hidden: 8, vocab: 16, seed: i + 1, config: true, dtype: dt}
		name := []string{"base", "a", "b"}[i]
		c.write(t, filepath.Join(dir, "st", name))
		binModel(t, filepath.Join(dir, "st", name), filepath.Join(dir, "bin", name), i == 1)
	}
	const cfg = `merge_method: ties
base_model: ./base
models:
  - model: ./a
    parameters: {weight: 0.6, density: 0.5}
  - model: ./b
    parameters: {weight: 0.4, density: 0.7}
dtype: bfloat16
`
	if _, _, err := mergeYAML(t, filepath.Join(dir, "st"), cfg, Options{Seed: 3}); err != nil {
		t.Fatal(err)
	}
	want := readOut(t, filepath.Join(dir, "st", "out"))
	for run := range 2 { // the second run reuses the twins
		out := filepath.Join(dir, "bin", "out")
		os.RemoveAll(out)
		if _, _, err := mergeYAML(t, filepath.Join(dir, "bin"), cfg, Options{Seed: 3}); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		sameOutput(t, ".bin merge", readOut(t, out), want)
	}
}

func TestBinRefusesPickleCode(t *testing.T) {
	dir := t.TempDir()
	base := ckpt{layers: 1, hidden: 8, vocab: 16, seed: 1, config: true}
	base.write(t, filepath.Join(dir, "base"))
	evil := filepath.Join(dir, "evil", "pytorch_model.bin")
	if err := bintest.WriteGlobal(evil, "os", "system", "touch "+filepath.Join(dir, "pwned")); err != nil {
		t.Fatal(err)
	}
	_, _, err := mergeYAML(t, dir, `merge_method: linear
models:
  - model: ./base
    parameters: {weight: 0.5}
  - model: ./evil
    parameters: {weight: 0.5}
`, Options{})
	for _, w := range []string{"merge.yml", "model ./evil", evil, "global os.system is not allowed"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Error("the pickle ran a command")
	}
}

// TestBinLoRAAdapter: a PEFT adapter saved as adapter_model.bin merges as
// the same adapter in safetensors does.
func TestBinLoRAAdapter(t *testing.T) {
	shape := synth.Pico()
	opt := synth.Options{Shape: shape, DType: safetensors.F32, Seed: 7}
	root := t.TempDir()
	if err := synth.WriteFineTune(context.Background(), filepath.Join(root, "ft"), opt, 0); err != nil {
		t.Fatal(err)
	}
	c := newLoRACase(shape, false)
	c.writeAdapter(t, filepath.Join(root, "st-adapter"))
	binDir := filepath.Join(root, "bin-adapter")
	if err := bintest.FromModel(filepath.Join(root, "st-adapter"), filepath.Join(binDir, "adapter_model.bin")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(binDir, "adapter_config.json"), c.config)
	var outs []map[string][]byte
	for _, a := range []string{"st-adapter", "bin-adapter"} {
		d := filepath.Join(root, "merge-"+a)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		_, out, err := mergeYAML(t, d, "merge_method: linear\nmodels:\n  - model: ../ft+../"+a+"\n    parameters: {weight: 1}\n", Options{})
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		outs = append(outs, tensorBytes(t, out))
	}
	if len(outs[0]) == 0 || len(outs[0]) != len(outs[1]) {
		t.Fatalf("%d and %d tensors", len(outs[0]), len(outs[1]))
	}
	for n, w := range outs[0] {
		if !bytes.Equal(outs[1][n], w) {
			t.Errorf("tensor %s differs between the .bin and the safetensors adapter", n)
		}
	}
}
