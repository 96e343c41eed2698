package synth

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/merge/safetensors"
)

// expectedShapes lists the llama tensors of s with their shapes.
func expectedShapes(s Shape) map[string][]int {
	h, kv, in := s.Hidden, s.KVHeads*(s.Hidden/s.Heads), s.Intermediate
	m := map[string][]int{
		"model.embed_tokens.weight": {s.Vocab, h},
		"model.norm.weight":         {h},
	}
	if !s.TiedEmbeddings {
		m["lm_head.weight"] = []int{s.Vocab, h}
	}
	for l := range s.Layers {
		p := "model.layers." + strconv.Itoa(l) + "."
		m[p+"input_layernorm.weight"] = []int{h}
		m[p+"self_attn.q_proj.weight"] = []int{h, h}
		m[p+"self_attn.k_proj.weight"] = []int{kv, h}
		m[p+"self_attn.v_proj.weight"] = []int{kv, h}
		m[p+"self_attn.o_proj.weight"] = []int{h, h}
		m[p+"post_attention_layernorm.weight"] = []int{h}
		m[p+"mlp.gate_proj.weight"] = []int{in, h}
		m[p+"mlp.up_proj.weight"] = []int{in, h}
		m[p+"mlp.down_proj.weight"] = []int{h, in}
	}
	return m
}

// load reads every tensor of the model in dir as float32.
func load(t *testing.T, dir string) map[string][]float32 {
	t.Helper()
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out := map[string][]float32{}
	for _, name := range m.Names() {
		tn, _ := m.Tensor(name)
		out[name] = tn.Float32s()
	}
	return out
}

func TestBaseLayoutAndConfig(t *testing.T) {
	for _, tied := range []bool{false, true} {
		t.Run("tied="+strconv.FormatBool(tied), func(t *testing.T) {
			dir := t.TempDir()
			s := Pico()
			s.TiedEmbeddings = tied
			if err := WriteBase(context.Background(), dir, Options{Shape: s, Seed: 7}); err != nil {
				t.Fatal(err)
			}
			m, err := safetensors.OpenModel(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			want := expectedShapes(s)
			names := m.Names()
			if len(names) != len(want) {
				t.Errorf("%d tensors, want %d: %v", len(names), len(want), names)
			}
			var params int64
			for _, name := range names {
				tn, _ := m.Tensor(name)
				ws, ok := want[name]
				if !ok {
					t.Errorf("unexpected tensor %s", name)
					continue
				}
				if !slices.Equal(tn.Shape, ws) {
					t.Errorf("%s: shape %v, want %v", name, tn.Shape, ws)
				}
				if tn.DType != safetensors.BF16 {
					t.Errorf("%s: dtype %s, want BF16", name, tn.DType)
				}
				params += int64(tn.Len())
			}
			if params != s.Params() {
				t.Errorf("%d parameters, Params() says %d", params, s.Params())
			}

			data, err := os.ReadFile(filepath.Join(dir, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			var cfg map[string]any
			if err := json.Unmarshal(data, &cfg); err != nil {
				t.Fatal(err)
			}
			wantCfg := map[string]any{
				"model_type": "llama", "hidden_size": 32.0, "intermediate_size": 48.0,
				"num_attention_heads": 4.0, "num_key_value_heads": 2.0, "num_hidden_layers": 2.0,
				"vocab_size": 64.0, "max_position_embeddings": 2048.0, "rms_norm_eps": 1e-5,
				"rope_theta": 10000.0, "tie_word_embeddings": tied, "torch_dtype": "bfloat16",
			}
			for k, v := range wantCfg {
				if cfg[k] != v {
					t.Errorf("config.json %s = %v, want %v", k, cfg[k], v)
				}
			}
			if a, _ := cfg["architectures"].([]any); len(a) != 1 || a[0] != "LlamaForCausalLM" {
				t.Errorf("config.json architectures = %v", cfg["architectures"])
			}
			checkTokenizer(t, dir, s.Vocab)
		})
	}
}

func checkTokenizer(t *testing.T, dir string, vocab int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Model struct {
			Type   string         `json:"type"`
			Vocab  map[string]int `json:"vocab"`
			Merges []any          `json:"merges"`
		} `json:"model"`
		PreTokenizer struct {
			Type string `json:"type"`
		} `json:"pre_tokenizer"`
	}
	if err := json.Unmarshal(data, &tok); err != nil {
		t.Fatal(err)
	}
	if tok.Model.Type != "BPE" || tok.PreTokenizer.Type != "ByteLevel" || tok.Model.Merges == nil {
		t.Errorf("tokenizer.json: model %q, pre_tokenizer %q, merges %v", tok.Model.Type, tok.PreTokenizer.Type, tok.Model.Merges)
	}
	if len(tok.Model.Vocab) != min(vocab, 259) {
		t.Errorf("tokenizer vocabulary of %d tokens, want %d", len(tok.Model.Vocab), min(vocab, 259))
	}
	for s, id := range tok.Model.Vocab {
		if id < 0 || id >= vocab {
			t.Errorf("token %q has id %d outside the model vocabulary of %d", s, id, vocab)
		}
	}
	var tc map[string]any
	data, err = os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &tc); err != nil {
		t.Fatal(err)
	}
	if tc["bos_token"] != "<s>" || tc["eos_token"] != "</s>" {
		t.Errorf("tokenizer_config.json: %v", tc)
	}
}

func TestFullByteVocabulary(t *testing.T) {
	dir := t.TempDir()
	if err := writeTokenizer(dir, 32000); err != nil {
		t.Fatal(err)
	}
	checkTokenizer(t, dir, 32000)
}

// readAll returns the concatenated bytes of the model's safetensors files.
func readAll(t *testing.T, dir string) []byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no safetensors files in %s (%v)", dir, err)
	}
	var all []byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func TestDeterministic(t *testing.T) {
	ctx := context.Background()
	opt := Options{Shape: Pico(), Seed: 3}
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	if err := WriteFineTune(ctx, a, opt, 1); err != nil {
		t.Fatal(err)
	}
	// Another number of workers must not change the values.
	prev := runtime.GOMAXPROCS(1)
	err := WriteFineTune(ctx, b, opt, 1)
	runtime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, a), readAll(t, b)) {
		t.Error("two fine-tunes with the same seed and index differ")
	}
	opt.Seed = 4
	if err := WriteFineTune(ctx, c, opt, 1); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(readAll(t, a), readAll(t, c)) {
		t.Error("fine-tunes of different seeds are equal")
	}
}

func TestSharded(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Shape: Pico(), Seed: 3, ShardSize: 20000, DType: safetensors.F32}
	if err := WriteBase(context.Background(), dir, opt); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, safetensors.IndexFile)); err != nil {
		t.Fatalf("no index for a sharded model: %v", err)
	}
	one := t.TempDir()
	opt.ShardSize = 0
	if err := WriteBase(context.Background(), one, opt); err != nil {
		t.Fatal(err)
	}
	a, b := load(t, dir), load(t, one)
	for name, v := range b {
		if !slices.Equal(a[name], v) {
			t.Errorf("%s differs between the sharded and the single-file model", name)
		}
	}
}

func stats(v []float64) (mean, std float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)))
}

func corr(a, b []float64) float64 {
	ma, sa := stats(a)
	mb, sb := stats(b)
	var c float64
	for i := range a {
		c += (a[i] - ma) * (b[i] - mb)
	}
	return c / float64(len(a)) / (sa * sb)
}

func TestFineTunes(t *testing.T) {
	ctx := context.Background()
	// F32, so that the deltas are not lost to bfloat16 rounding.
	opt := Options{Shape: Pico(), Seed: 11, DType: safetensors.F32}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	if err := WriteBase(ctx, dirs[0], opt); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		if err := WriteFineTune(ctx, dirs[i], opt, i); err != nil {
			t.Fatal(err)
		}
	}
	base, ft1, ft2 := load(t, dirs[0]), load(t, dirs[1]), load(t, dirs[2])

	var weights, norms, d1, d2 []float64
	for name, b := range base {
		for i, v := range b {
			if strings.HasSuffix(name, "norm.weight") {
				norms = append(norms, float64(v))
			} else {
				weights = append(weights, float64(v))
			}
			d1 = append(d1, float64(ft1[name][i]-v))
			d2 = append(d2, float64(ft2[name][i]-v))
		}
	}
	if m, s := stats(weights); math.Abs(m) > 0.002 || math.Abs(s-InitStd) > 0.002 {
		t.Errorf("base weights: mean %.4f, std %.4f, want about 0 and %v", m, s, InitStd)
	}
	if m, s := stats(norms); math.Abs(m-1) > 0.01 || s > 0.05 {
		t.Errorf("norm weights: mean %.4f, std %.4f, want about 1", m, s)
	}
	_, s1 := stats(d1)
	// Outliers (0.1% at 10×) add about 10% to the variance.
	if s1 < 0.009 || s1 > 0.0125 {
		t.Errorf("fine-tune delta std %.5f, want about %v", s1, DefaultNoise)
	}
	if c := corr(d1, d2); c < 0.35 || c > 0.65 {
		t.Errorf("correlation of two fine-tunes' deltas %.3f, want about 0.5", c)
	}
	var big int
	for _, d := range d1 {
		if math.Abs(d) > 5*DefaultNoise {
			big++
		}
	}
	if big == 0 || big > len(d1)/100 {
		t.Errorf("%d of %d delta elements above 5σ, want a few outliers", big, len(d1))
	}

	// In bfloat16 the fine-tunes still differ from the base.
	bf := Options{Shape: Pico(), Seed: 11}
	bd, fd := t.TempDir(), t.TempDir()
	if err := WriteBase(ctx, bd, bf); err != nil {
		t.Fatal(err)
	}
	if err := WriteFineTune(ctx, fd, bf, 1); err != nil {
		t.Fatal(err)
	}
	b16, f16 := load(t, bd), load(t, fd)
	changed, total := 0, 0
	for name, b := range b16 {
		for i := range b {
			total++
			if b[i] != f16[name][i] {
				changed++
			}
		}
	}
	if changed < total*9/10 {
		t.Errorf("only %d of %d bfloat16 values changed by the fine-tune", changed, total)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := WriteBase(ctx, t.TempDir(), Options{Shape: Pico()})
	if err == nil {
		t.Fatal("no error from a cancelled context")
	}
}

func TestBadOptions(t *testing.T) {
	ctx := context.Background()
	bad := []Options{
		{Shape: Shape{Hidden: 30, Layers: 1, Intermediate: 4, Vocab: 4, Heads: 4, KVHeads: 2}},
		{Shape: Shape{Hidden: 32, Layers: 1, Intermediate: 4, Vocab: 4, Heads: 4, KVHeads: 3}},
		{Shape: Shape{}},
		{Shape: Pico(), DType: "I8"},
		{Shape: Pico(), Noise: -1},
		{Shape: Pico(), Outliers: 2},
	}
	for _, o := range bad {
		if err := WriteBase(ctx, t.TempDir(), o); err == nil {
			t.Errorf("no error for %+v", o)
		}
	}
	if err := WriteFineTune(ctx, t.TempDir(), Options{Shape: Pico()}, -1); err == nil {
		t.Error("no error for a negative fine-tune index")
	}
}

func TestTinyLlamaSize(t *testing.T) {
	p := TinyLlama().Params()
	if p < 1_090_000_000 || p > 1_110_000_000 {
		t.Errorf("TinyLlama has %d parameters, want about 1.1B", p)
	}
	if b := (Options{Shape: TinyLlama()}).Bytes(); b != 2*p {
		t.Errorf("TinyLlama bf16 bytes %d, want %d", b, 2*p)
	}
}

func BenchmarkFillFineTune(b *testing.B) {
	g := newGenerator(Options{Shape: Pico(), Noise: DefaultNoise, Outliers: DefaultOutliers}, 1, "w")
	out := make([]float32, chunkElems)
	b.SetBytes(int64(len(out)) * 2)
	for b.Loop() {
		g.fill(0, out)
	}
}

func BenchmarkFillBase(b *testing.B) {
	g := newGenerator(Options{Shape: Pico()}, -1, "w")
	out := make([]float32, chunkElems)
	b.SetBytes(int64(len(out)) * 2)
	for b.Loop() {
		g.fill(0, out)
	}
}
