package merge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ollama/ollama/convert"
	"github.com/ollama/ollama/fs/ggml"
	"golang.org/x/sys/unix"

	"github.com/mergetune/mergetune/merge/gguf"
	"github.com/mergetune/mergetune/merge/safetensors"
	"github.com/mergetune/mergetune/merge/synth"
)

// archModel describes a generated checkpoint of one architecture.
type archModel struct {
	config map[string]any
	specs  []safetensors.Spec
}

// archModels are small checkpoints of every architecture the direct GGUF
// writer supports, with the tensor names and config keys transformers
// writes (head counts with grouped-query attention, biases, fused
// projections and extra norms where the architecture has them).
func archModels(d safetensors.DType) map[string]archModel {
	const h, inter, vocab, layers = 64, 96, 64, 2
	spec := func(name string, shape ...int) safetensors.Spec {
		return safetensors.Spec{Name: name, DType: d, Shape: shape}
	}
	common := func(heads, kvHeads, hd int, bias, head bool, extraNorms ...string) []safetensors.Spec {
		s := []safetensors.Spec{spec("model.embed_tokens.weight", vocab, h), spec("model.norm.weight", h)}
		if head {
			s = append(s, spec("lm_head.weight", vocab, h))
		}
		for l := range layers {
			p := "model.layers." + strconv.Itoa(l) + "."
			s = append(s,
				spec(p+"input_layernorm.weight", h), spec(p+"post_attention_layernorm.weight", h),
				spec(p+"self_attn.q_proj.weight", heads*hd, h), spec(p+"self_attn.k_proj.weight", kvHeads*hd, h),
				spec(p+"self_attn.v_proj.weight", kvHeads*hd, h), spec(p+"self_attn.o_proj.weight", h, heads*hd),
				spec(p+"mlp.gate_proj.weight", inter, h), spec(p+"mlp.up_proj.weight", inter, h),
				spec(p+"mlp.down_proj.weight", h, inter))
			if bias {
				s = append(s, spec(p+"self_attn.q_proj.bias", heads*hd), spec(p+"self_attn.k_proj.bias", kvHeads*hd),
					spec(p+"self_attn.v_proj.bias", kvHeads*hd))
			}
			for _, n := range extraNorms {
				s = append(s, spec(p+n+".weight", h))
			}
		}
		return s
	}
	base := map[string]any{
		"hidden_size": h, "intermediate_size": inter, "num_hidden_layers": layers, "vocab_size": vocab,
		"max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "torch_dtype": d.TorchName(),
		"bos_token_id": 1, "eos_token_id": 2,
	}
	with := func(kv map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range kv {
			out[k] = v
		}
		return out
	}
	phi3 := []safetensors.Spec{spec("model.embed_tokens.weight", vocab, h), spec("model.norm.weight", h), spec("lm_head.weight", vocab, h)}
	for l := range layers {
		p := "model.layers." + strconv.Itoa(l) + "."
		phi3 = append(phi3, spec(p+"input_layernorm.weight", h), spec(p+"post_attention_layernorm.weight", h),
			spec(p+"self_attn.qkv_proj.weight", (8+2*2)*8, h), spec(p+"self_attn.o_proj.weight", h, h),
			spec(p+"mlp.gate_up_proj.weight", 2*inter, h), spec(p+"mlp.down_proj.weight", h, inter))
	}
	return map[string]archModel{
		// Mistral-7B's shape (4:1 grouped-query attention, a sliding
		// window) as a LlamaForCausalLM: Ollama's converter (v0.17.4)
		// has no MistralForCausalLM.
		"mistral": {with(map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
			"num_attention_heads": 8, "num_key_value_heads": 2, "sliding_window": 4096}), common(8, 2, 8, false, true)},
		"llama-head-dim": {with(map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
			"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32}), common(4, 2, 32, false, true)},
		"qwen2": {with(map[string]any{"architectures": []string{"Qwen2ForCausalLM"}, "model_type": "qwen2",
			"num_attention_heads": 8, "num_key_value_heads": 2, "tie_word_embeddings": true}), common(8, 2, 8, true, false)},
		"gemma2": {with(map[string]any{"architectures": []string{"Gemma2ForCausalLM"}, "model_type": "gemma2",
			"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "sliding_window": 128,
			"attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0}),
			common(4, 2, 16, false, false, "pre_feedforward_layernorm", "post_feedforward_layernorm")},
		"gemma": {with(map[string]any{"architectures": []string{"GemmaForCausalLM"}, "model_type": "gemma",
			"num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16}), common(4, 1, 16, false, false)},
		"phi3": {with(map[string]any{"architectures": []string{"Phi3ForCausalLM"}, "model_type": "phi3",
			"num_attention_heads": 8, "num_key_value_heads": 2, "original_max_position_embeddings": 256,
			"sliding_window": 256}), phi3},
	}
}

// genValue is element i of tensor name of model seed: about N(0, 0.02²),
// 1 + that for norm weights, with a per-model offset.
func genValue(seed int, name string, i int) float32 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%d", seed, name, i)
	v := float32(int64(h.Sum64()%2001)-1000) / 50000
	if strings.Contains(name, "norm") {
		v++
	}
	return v
}

// writeArchModel writes a checkpoint of m into dir: the tokenizer of a
// synth model, m's config.json and its tensors.
func writeArchModel(t *testing.T, dir string, m archModel, seed int) {
	t.Helper()
	if err := synth.WriteBase(context.Background(), dir, synth.Options{Shape: synth.Pico()}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "model.safetensors"))
	cfg, err := json.MarshalIndent(m.config, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "config.json"), string(cfg))
	w, err := safetensors.Create(dir, m.specs, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range m.specs {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = genValue(seed, s.Name, i)
		}
		if err := w.WriteFloat32(s.Name, 0, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// converterGGUF converts the safetensors checkpoint dir with Ollama's
// converter into path.
func converterGGUF(t *testing.T, dir, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := convert.ConvertModel(os.DirFS(dir), f); err != nil {
		t.Fatalf("Ollama's converter on %s: %v", dir, err)
	}
}

// decodedGGUF is a GGUF file's metadata and its tensors' data.
type decodedGGUF struct {
	kv      ggml.KV
	tensors []*ggml.Tensor
	data    map[string][]byte
}

func decodeGGUF(t *testing.T, path string) decodedGGUF {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := ggml.Decode(f, -1)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	d := decodedGGUF{kv: g.KV(), tensors: g.Tensors().Items(), data: map[string][]byte{}}
	for _, tn := range d.tensors {
		b := make([]byte, tn.Size())
		if _, err := f.ReadAt(b, int64(g.Tensors().Offset+tn.Offset)); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("%s: read tensor %s: %v", path, tn.Name, err)
		}
		d.data[tn.Name] = b
	}
	return d
}

// compareGGUF checks that got (the direct writer's) holds the tensors of
// want (the converter's) in the same order, types, shapes and offsets with
// the same bytes, and the same metadata but for the keys Amend sets.
func compareGGUF(t *testing.T, got, want decodedGGUF) {
	t.Helper()
	amended := convert.KV{}
	for k, v := range want.kv {
		amended[k] = v
	}
	gguf.Amend(amended)
	for k, v := range amended {
		g, ok := got.kv[k]
		if !ok {
			t.Errorf("metadata %s missing (converter: %v)", k, short(v))
			continue
		}
		if !reflect.DeepEqual(normalize(g), normalize(v)) {
			t.Errorf("metadata %s = %v, converter (amended) %v", k, short(g), short(v))
		}
	}
	for k, v := range got.kv {
		if _, ok := amended[k]; !ok {
			t.Errorf("metadata %s = %v is not in the converter's file", k, short(v))
		}
	}
	if len(got.tensors) != len(want.tensors) {
		t.Fatalf("%d tensors, converter %d", len(got.tensors), len(want.tensors))
	}
	for i, w := range want.tensors {
		g := got.tensors[i]
		if g.Name != w.Name || g.Kind != w.Kind || !slices.Equal(g.Shape, w.Shape) || g.Offset != w.Offset {
			t.Errorf("tensor %d: %s %s %v @%d, converter %s %s %v @%d", i, g.Name, g.Type(), g.Shape, g.Offset, w.Name, w.Type(), w.Shape, w.Offset)
			continue
		}
		if !bytes.Equal(got.data[g.Name], want.data[w.Name]) {
			t.Errorf("tensor %s (%s): data differs from the converter's", g.Name, g.Type())
		}
	}
}

// normalize makes decoded array values comparable.
func normalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}

func short(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// TestGGUFMatchesConverter merges checkpoints of each supported
// architecture, and the tiny model family, into GGUF directly and into
// safetensors converted by Ollama's converter, in each output dtype, and
// compares the files.
func TestGGUFMatchesConverter(t *testing.T) {
	family, err := filepath.Abs("../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	type setup struct {
		name   string
		models func(t *testing.T, dir string) (base string, others []string)
	}
	var setups []setup
	setups = append(setups, setup{"family", func(t *testing.T, dir string) (string, []string) {
		return filepath.Join(family, "base"), []string{filepath.Join(family, "upper"), filepath.Join(family, "reverse"), filepath.Join(family, "succ")}
	}})
	setups = append(setups, setup{"llama", func(t *testing.T, dir string) (string, []string) {
		opt := synth.Options{Shape: synth.Pico(), Seed: 3}
		ctx := context.Background()
		if err := synth.WriteBase(ctx, filepath.Join(dir, "base"), opt); err != nil {
			t.Fatal(err)
		}
		var others []string
		for i := range 2 {
			p := filepath.Join(dir, "ft"+strconv.Itoa(i))
			if err := synth.WriteFineTune(ctx, p, opt, i); err != nil {
				t.Fatal(err)
			}
			others = append(others, p)
		}
		return filepath.Join(dir, "base"), others
	}})
	for _, arch := range slices.Sorted(func(yield func(string) bool) {
		for k := range archModels(safetensors.BF16) {
			if !yield(k) {
				return
			}
		}
	}) {
		setups = append(setups, setup{arch, func(t *testing.T, dir string) (string, []string) {
			m := archModels(safetensors.BF16)[arch]
			var paths []string
			for i := range 3 {
				p := filepath.Join(dir, "m"+strconv.Itoa(i))
				writeArchModel(t, p, m, i)
				paths = append(paths, p)
			}
			return paths[0], paths[1:]
		}})
	}
	for _, s := range setups {
		for _, dtype := range []string{"bfloat16", "float16", "float32"} {
			t.Run(s.name+"/"+dtype, func(t *testing.T) {
				dir := t.TempDir()
				base, others := s.models(t, dir)
				var b strings.Builder
				fmt.Fprintf(&b, "merge_method: task_arithmetic\nbase_model: %s\nout_dtype: %s\nmodels:\n", base, dtype)
				for i, o := range others {
					fmt.Fprintf(&b, "  - model: %s\n    parameters:\n      weight: %g\n", o, 0.3+0.2*float64(i))
				}
				cfg := filepath.Join(dir, "merge.yml")
				writeFile(t, cfg, b.String())
				st := filepath.Join(dir, "st")
				if _, err := RunFile(context.Background(), cfg, st, Options{}); err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(dir, "direct.gguf")
				var warns []string
				res, err := RunFile(context.Background(), cfg, out, Options{Format: FormatGGUF, Warn: func(m string) { warns = append(warns, m) }})
				if err != nil {
					t.Fatal(err)
				}
				if len(warns) > 0 {
					t.Errorf("warnings %q (no fallback expected)", warns)
				}
				if !slices.Equal(res.Files, []string{out}) {
					t.Errorf("files %q, want %q", res.Files, out)
				}
				assertNoTemp(t, dir)
				if d := fileSHA256(t, out); res.Digest != d {
					t.Errorf("digest computed while writing %s, the file's %s", res.Digest, d)
				}
				ref := filepath.Join(dir, "converter.gguf")
				converterGGUF(t, st, ref)
				compareGGUF(t, decodeGGUF(t, out), decodeGGUF(t, ref))
			})
		}
	}
}

// TestGGUFBadOutputs checks the refusals: an existing file without
// --force, a directory in the way, an architecture Ollama cannot convert
// (nothing is left behind), an unknown type or format.
func TestGGUFBadOutputs(t *testing.T) {
	dir := t.TempDir()
	m := archModels(safetensors.BF16)["qwen2"]
	writeArchModel(t, filepath.Join(dir, "a"), m, 0)
	writeArchModel(t, filepath.Join(dir, "b"), m, 1)
	cfg := fmt.Sprintf("merge_method: linear\nmodels:\n  - model: %s\n    parameters: {weight: 0.5}\n  - model: %s\n    parameters: {weight: 0.5}\n",
		filepath.Join(dir, "a"), filepath.Join(dir, "b"))
	path := filepath.Join(dir, "merge.yml")
	writeFile(t, path, cfg)
	run := func(out string, opt Options) error {
		_, err := RunFile(context.Background(), path, out, opt)
		return err
	}
	out := filepath.Join(dir, "out", "m.gguf")
	os.Mkdir(filepath.Join(dir, "out"), 0o755)
	if err := run(out, Options{Format: FormatGGUF}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(out)
	if err := run(out, Options{Format: FormatGGUF}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("existing output: %v, want a refusal naming --force", err)
	}
	if err := run(out, Options{Format: FormatGGUF, Force: true, GGUFType: "f32"}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(out)
	if len(after) <= len(before) {
		t.Errorf("f32 output %d bytes, bf16 %d: want larger", len(after), len(before))
	}
	if err := run(filepath.Join(dir, "out"), Options{Format: FormatGGUF, Force: true}); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory in the way: %v", err)
	}
	for _, opt := range []Options{{Format: "onnx"}, {Format: FormatGGUF, GGUFType: "q4_K_M"}, {GGUFType: "f16"}} {
		if err := run(filepath.Join(dir, "out", "x.gguf"), opt); err == nil {
			t.Errorf("%+v: no error", opt)
		}
	}
	// A tokenizer the converter rejects.
	writeFile(t, filepath.Join(dir, "a", "tokenizer.json"), `{"model": {"type": "Unigram", "vocab": 7}}`)
	os.Remove(filepath.Join(dir, "a", "tokenizer.model"))
	if err := run(filepath.Join(dir, "out", "badtok.gguf"), Options{Format: FormatGGUF}); err == nil || !strings.Contains(err.Error(), "metadata") {
		t.Errorf("rejected tokenizer: %v, want an error reading the metadata", err)
	}
	// An architecture Ollama's converter does not know.
	m.config["architectures"] = []string{"MistralForCausalLM"}
	writeArchModel(t, filepath.Join(dir, "a"), m, 0)
	writeArchModel(t, filepath.Join(dir, "b"), m, 1)
	err := run(filepath.Join(dir, "out", "mistral.gguf"), Options{Format: FormatGGUF})
	if err == nil || !strings.Contains(err.Error(), "MistralForCausalLM") {
		t.Errorf("unsupported architecture: %v, want an error naming it", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "out"))
	for _, e := range entries {
		if e.Name() != "m.gguf" {
			t.Errorf("left behind: %s", e.Name())
		}
	}

}

// TestGGUFDiskFull runs a GGUF merge in a child process whose file size
// limit (RLIMIT_FSIZE) is below the GGUF's size, as a disk that fills
// would stop it: the merge must fail with an error saying so before any
// tensor is merged, and leave nothing in the output directory.
func TestGGUFDiskFull(t *testing.T) {
	if cfg := os.Getenv("MERGETUNE_TEST_FSIZE_CONFIG"); cfg != "" {
		lim := &unix.Rlimit{Cur: 256 << 10, Max: 256 << 10}
		if err := unix.Setrlimit(unix.RLIMIT_FSIZE, lim); err != nil {
			t.Fatal(err)
		}
		_, err := RunFile(context.Background(), cfg, os.Getenv("MERGETUNE_TEST_FSIZE_OUT"), Options{Format: FormatGGUF})
		fmt.Printf("MERGE ERROR: %v\n", err)
		return
	}
	dir := t.TempDir()
	family, err := filepath.Abs("../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "merge.yml")
	writeFile(t, cfg, fmt.Sprintf("merge_method: task_arithmetic\nbase_model: %[1]s/base\nmodels:\n  - model: %[1]s/upper\n    parameters: {weight: 0.5}\n", family))
	outDir := filepath.Join(dir, "out")
	os.Mkdir(outDir, 0o755)
	cmd := exec.Command(os.Args[0], "-test.run=^TestGGUFDiskFull$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MERGETUNE_TEST_FSIZE_CONFIG="+cfg, "MERGETUNE_TEST_FSIZE_OUT="+filepath.Join(outDir, "m.gguf"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "MERGE ERROR: ") || strings.Contains(string(out), "MERGE ERROR: <nil>") ||
		!strings.Contains(string(out), "reserve") || !strings.Contains(string(out), "file too large") {
		t.Errorf("child output:\n%s\nwant an error reserving the file's space: file too large", out)
	}
	t.Logf("child: %s", strings.TrimSpace(string(out)))
	if entries, _ := os.ReadDir(outDir); len(entries) != 0 {
		t.Errorf("left in the output directory: %v", entries)
	}
}

// fileSHA256 returns the "sha256:<hex>" digest of the file path.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
