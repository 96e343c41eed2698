package merge

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/merge/safetensors"
)

// ckpt is a small test checkpoint: tensors with values from a function of
// (model seed, tensor index, element index).
type ckpt struct {
	layers  int
	hidden  int
	vocab   int
	noHead  bool
	dtype   safetensors.DType
	seed    int
	config  bool
	extra   map[string][]int // extra tensors
	shard   int64
	without string // a tensor name to leave out
}

// names lists a pico llama's tensors with their shapes.
func (c ckpt) names() ([]string, map[string][]int) {
	h := c.hidden
	shapes := map[string][]int{"model.embed_tokens.weight": {c.vocab, h}}
	order := []string{"model.embed_tokens.weight"}
	for l := 0; l < c.layers; l++ {
		for _, s := range []struct {
			n     string
			shape []int
		}{
			{"input_layernorm.weight", []int{h}},
			{"self_attn.q_proj.weight", []int{h, h}},
			{"self_attn.o_proj.weight", []int{h, h}},
			{"mlp.up_proj.weight", []int{2 * h, h}},
			{"mlp.down_proj.weight", []int{h, 2 * h}},
		} {
			name := fmt.Sprintf("model.layers.%d.%s", l, s.n)
			order = append(order, name)
			shapes[name] = s.shape
		}
	}
	order = append(order, "model.norm.weight")
	shapes["model.norm.weight"] = []int{h}
	if !c.noHead {
		order = append(order, "lm_head.weight")
		shapes["lm_head.weight"] = []int{c.vocab, h}
	}
	for n, s := range c.extra {
		order = append(order, n)
		shapes[n] = s
	}
	return order, shapes
}

// value is the element i of tensor name in a checkpoint with this seed.
func value(seed int, name string, i int) float32 {
	h := 0
	for _, r := range name {
		h = h*31 + int(r)
	}
	x := math.Sin(float64(seed*7919+h%1000*13+i)) * 0.5
	return float32(x)
}

func (c ckpt) write(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	order, shapes := c.names()
	dt := c.dtype
	if dt == "" {
		dt = safetensors.F32
	}
	var specs []safetensors.Spec
	for _, n := range order {
		if n == c.without {
			continue
		}
		specs = append(specs, safetensors.Spec{Name: n, DType: dt, Shape: shapes[n]})
	}
	w, err := safetensors.Create(dir, specs, c.shard)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = value(c.seed, s.Name, i)
		}
		if err := w.WriteFloat32(s.Name, 0, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if c.config {
		cfg := map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
			"hidden_size": c.hidden, "num_hidden_layers": c.layers, "vocab_size": c.vocab,
			"torch_dtype": "float32", "tie_word_embeddings": c.noHead}
		data, _ := json.Marshal(cfg)
		writeFile(t, filepath.Join(dir, "config.json"), string(data))
		writeFile(t, filepath.Join(dir, "tokenizer.json"), `{"model":{"type":"BPE","vocab":{},"merges":[]}}`)
		writeFile(t, filepath.Join(dir, "tokenizer_config.json"), `{"model_max_length": 32}`)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readAll loads every tensor of a model directory as float32.
func readAll(t *testing.T, dir string) map[string][]float32 {
	t.Helper()
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out := map[string][]float32{}
	for _, n := range m.Names() {
		x, _ := m.Tensor(n)
		out[n] = x.Float32s()
	}
	return out
}

// mergeYAML writes cfg into dir/merge.yml and runs the merge into dir/out.
func mergeYAML(t *testing.T, dir, cfg string, opt Options) (*Result, string, error) {
	t.Helper()
	path := filepath.Join(dir, "merge.yml")
	writeFile(t, path, cfg)
	out := filepath.Join(dir, "out")
	res, err := RunFile(context.Background(), path, out, opt)
	return res, out, err
}

func TestLlamaCheckpointLinear(t *testing.T) {
	dir := t.TempDir()
	a := ckpt{layers: 3, hidden: 8, vocab: 16, seed: 1, config: true, dtype: safetensors.BF16}
	b := a
	b.seed = 2
	a.write(t, filepath.Join(dir, "a"))
	b.write(t, filepath.Join(dir, "b"))
	res, out, err := mergeYAML(t, dir, `
merge_method: linear
base_model: a
models:
  - model: a
    parameters: {weight: 0.25}
  - model: b
    parameters: {weight: 0.75}
dtype: float32
out_dtype: bfloat16
`, Options{ShardSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) < 3 {
		t.Fatalf("expected several shards with a 300-byte shard size, got %v", res.Files)
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors.index.json")); err != nil {
		t.Fatalf("no index: %v", err)
	}
	for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json", "mergetune_config.yml"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	var cfg map[string]any
	data, _ := os.ReadFile(filepath.Join(out, "config.json"))
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["torch_dtype"] != "bfloat16" || cfg["num_hidden_layers"].(float64) != 3 {
		t.Errorf("config.json torch_dtype %v layers %v", cfg["torch_dtype"], cfg["num_hidden_layers"])
	}
	got := readAll(t, out)
	ta, tb := readAll(t, filepath.Join(dir, "a")), readAll(t, filepath.Join(dir, "b"))
	if len(got) != len(ta) {
		t.Fatalf("%d tensors out, %d in", len(got), len(ta))
	}
	for n, v := range got {
		for i := range v {
			want := 0.25*ta[n][i] + 0.75*tb[n][i]
			if d := math.Abs(float64(v[i] - want)); d > 1e-2*math.Abs(float64(want))+1e-6 {
				t.Fatalf("%s[%d] = %v, want %v (bf16)", n, i, v[i], want)
			}
		}
	}
	// the output is itself a valid input: merge it again with itself
	_, out2, err := mergeYAML(t, t.TempDir(), `
merge_method: linear
models:
  - model: `+out+`
    parameters: {weight: 1}
`, Options{})
	if err != nil {
		t.Fatalf("re-merge of the output: %v", err)
	}
	again := readAll(t, out2)
	for n, v := range got {
		for i := range v {
			if again[n][i] != v[i] {
				t.Fatalf("re-merge changed %s[%d]: %v vs %v", n, i, again[n][i], v[i])
			}
		}
	}
}

func TestFrankenMergeLayerCount(t *testing.T) {
	dir := t.TempDir()
	a := ckpt{layers: 3, hidden: 4, vocab: 8, seed: 1, config: true}
	b := a
	b.seed = 2
	a.write(t, filepath.Join(dir, "a"))
	b.write(t, filepath.Join(dir, "b"))
	res, out, err := mergeYAML(t, dir, `
merge_method: passthrough
slices:
  - sources: [{model: a, layer_range: [0, 2]}]
  - sources:
      - model: b
        layer_range: [1, 3]
        parameters:
          scale:
            - filter: o_proj
              value: 0
            - value: 1
dtype: float32
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Layers != 4 {
		t.Fatalf("layers %d, want 4", res.Layers)
	}
	var cfg map[string]any
	data, _ := os.ReadFile(filepath.Join(out, "config.json"))
	json.Unmarshal(data, &cfg)
	if cfg["num_hidden_layers"].(float64) != 4 {
		t.Fatalf("num_hidden_layers %v, want 4", cfg["num_hidden_layers"])
	}
	got := readAll(t, out)
	ta, tb := readAll(t, filepath.Join(dir, "a")), readAll(t, filepath.Join(dir, "b"))
	check := func(outName string, want []float32) {
		t.Helper()
		v, ok := got[outName]
		if !ok {
			t.Fatalf("missing %s", outName)
		}
		for i := range want {
			if v[i] != want[i] {
				t.Fatalf("%s[%d] = %v, want %v", outName, i, v[i], want[i])
			}
		}
	}
	check("model.layers.0.mlp.up_proj.weight", ta["model.layers.0.mlp.up_proj.weight"])
	check("model.layers.1.mlp.up_proj.weight", ta["model.layers.1.mlp.up_proj.weight"])
	check("model.layers.2.mlp.up_proj.weight", tb["model.layers.1.mlp.up_proj.weight"])
	check("model.layers.3.mlp.up_proj.weight", tb["model.layers.2.mlp.up_proj.weight"])
	check("model.layers.3.self_attn.o_proj.weight", make([]float32, 16)) // scale 0 by filter
	check("model.embed_tokens.weight", ta["model.embed_tokens.weight"])  // first slice
	check("model.norm.weight", tb["model.norm.weight"])                  // last slice
	check("lm_head.weight", tb["lm_head.weight"])
	if _, ok := got["model.layers.4.mlp.up_proj.weight"]; ok || len(got) != 4*5+3 {
		t.Fatalf("%d tensors", len(got))
	}
}

func TestGradientsAndFilters(t *testing.T) {
	dir := t.TempDir()
	a := ckpt{layers: 5, hidden: 4, vocab: 8, seed: 1, config: true}
	b := a
	b.seed = 2
	a.write(t, filepath.Join(dir, "a"))
	b.write(t, filepath.Join(dir, "b"))
	_, out, err := mergeYAML(t, dir, `
merge_method: slerp
base_model: a
models:
  - model: a
  - model: b
parameters:
  t:
    - filter: self_attn
      value: [0, 0.5, 1]
    - filter: mlp
      value: [1, 0]
    - value: 0.25
dtype: float32
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, out)
	ta, tb := readAll(t, filepath.Join(dir, "a")), readAll(t, filepath.Join(dir, "b"))
	// t = 0 gives a, t = 1 gives b exactly; other layers lie between
	eq := func(x, y []float32) bool {
		for i := range x {
			if math.Abs(float64(x[i]-y[i])) > 1e-6 {
				return false
			}
		}
		return true
	}
	q := func(l int) string { return fmt.Sprintf("model.layers.%d.self_attn.q_proj.weight", l) }
	up := func(l int) string { return fmt.Sprintf("model.layers.%d.mlp.up_proj.weight", l) }
	if !eq(got[q(0)], ta[q(0)]) || !eq(got[q(4)], tb[q(4)]) {
		t.Errorf("self_attn gradient [0, 0.5, 1]: layer 0 should be a, layer 4 b")
	}
	if eq(got[q(2)], ta[q(2)]) || eq(got[q(2)], tb[q(2)]) {
		t.Errorf("self_attn layer 2 (t=0.5) equals an input")
	}
	if !eq(got[up(0)], tb[up(0)]) || !eq(got[up(4)], ta[up(4)]) {
		t.Errorf("mlp gradient [1, 0]: layer 0 should be b, layer 4 a")
	}
	// embeddings use t = 0 of the fallback: 0.25, not an end value
	e := "model.embed_tokens.weight"
	if eq(got[e], ta[e]) || eq(got[e], tb[e]) {
		t.Errorf("embeddings should be interpolated at t=0.25")
	}
	// layer norms have no filter match: 0.25 everywhere
	n := "model.layers.3.input_layernorm.weight"
	if eq(got[n], ta[n]) || eq(got[n], tb[n]) {
		t.Errorf("layernorm should be interpolated at t=0.25")
	}
}

func TestTiedHead(t *testing.T) {
	dir := t.TempDir()
	a := ckpt{layers: 1, hidden: 4, vocab: 8, seed: 1, config: true, noHead: true}
	b := ckpt{layers: 1, hidden: 4, vocab: 8, seed: 2, config: true}
	a.write(t, filepath.Join(dir, "a"))
	b.write(t, filepath.Join(dir, "b"))
	_, out, err := mergeYAML(t, dir, `
merge_method: linear
models:
  - {model: a, parameters: {weight: 0.5}}
  - {model: b, parameters: {weight: 0.5}}
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, out)
	ta, tb := readAll(t, filepath.Join(dir, "a")), readAll(t, filepath.Join(dir, "b"))
	head := got["lm_head.weight"]
	for i := range head {
		want := 0.5*ta["model.embed_tokens.weight"][i] + 0.5*tb["lm_head.weight"][i]
		if math.Abs(float64(head[i]-want)) > 1e-6 {
			t.Fatalf("lm_head[%d] = %v, want the tied embedding of a mixed with b's head %v", i, head[i], want)
		}
	}
	// no model has a head: none is written
	_, out2, err := mergeYAML(t, t.TempDir(), `
merge_method: linear
models:
  - {model: `+filepath.Join(dir, "a")+`, parameters: {weight: 1}}
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := readAll(t, out2)["lm_head.weight"]; ok {
		t.Fatalf("lm_head written although no model has one")
	}
}

func TestSeededMergeReproducible(t *testing.T) {
	dir := t.TempDir()
	for i, n := range []string{"base", "a", "b"} {
		ckpt{layers: 2, hidden: 8, vocab: 16, seed: i + 1, config: true}.write(t, filepath.Join(dir, n))
	}
	cfg := `
merge_method: dare_ties
base_model: base
models:
  - {model: a, parameters: {weight: 0.5, density: 0.4}}
  - {model: b, parameters: {weight: 0.5, density: 0.4}}
`
	run := func(seed uint64, sub string) map[string][]float32 {
		d := filepath.Join(dir, sub)
		os.MkdirAll(d, 0o755)
		for _, n := range []string{"base", "a", "b"} {
			os.Symlink(filepath.Join(dir, n), filepath.Join(d, n))
		}
		_, out, err := mergeYAML(t, d, cfg, Options{Seed: seed, Workers: int(seed%2) + 1})
		if err != nil {
			t.Fatal(err)
		}
		return readAll(t, out)
	}
	x, y, z := run(7, "r1"), run(7, "r2"), run(8, "r3")
	differs := false
	for n, v := range x {
		for i := range v {
			if v[i] != y[n][i] {
				t.Fatalf("seed 7 twice differs at %s[%d]", n, i)
			}
			if v[i] != z[n][i] {
				differs = true
			}
		}
	}
	if !differs {
		t.Fatalf("seeds 7 and 8 gave the same merge")
	}
}

func TestBadInputs(t *testing.T) {
	good := ckpt{layers: 2, hidden: 4, vocab: 8, seed: 1, config: true}
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		cfg   string
		want  []string
	}{
		{"missing model dir", nil, `
merge_method: linear
models: [{model: nope, parameters: {weight: 1}}]`, []string{"merge.yml", "model nope", "does not exist"}},
		{"tensor missing in one model", func(t *testing.T, dir string) {
			c := good
			c.seed = 2
			c.without = "model.layers.1.mlp.up_proj.weight"
			c.write(t, filepath.Join(dir, "b"))
		}, `
merge_method: linear
models: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: 1}}]`,
			[]string{"tensor model.layers.1.mlp.up_proj.weight is missing in model b"}},
		{"shape mismatch", func(t *testing.T, dir string) {
			c := good
			c.hidden = 6
			c.write(t, filepath.Join(dir, "b"))
		}, `
merge_method: linear
models: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: 1}}]`,
			[]string{"merge.yml", "tensor model.norm.weight: shapes differ (a [4], b [6])"}},
		{"density above 1", nil, `
merge_method: ties
base_model: a
models: [{model: b, parameters: {weight: 1, density: 1.5}}]`, []string{"merge.yml:4: models[0].parameters.density: density = 1.5 is outside (0, 1] (merge_method ties)"}},
		{"della window", nil, `
merge_method: della
base_model: a
models: [{model: b, parameters: {weight: 1, density: 0.9, epsilon: 0.2}}]`, []string{"density 0.9 ± epsilon 0.2 for model b leaves (0, 1)"}},
		{"slerp t", nil, `
merge_method: slerp
base_model: a
models: [{model: a}, {model: b}]
parameters: {t: 1.5}`, []string{"merge.yml", "slerp", "1.5"}},
		{"zero weight sum", nil, `
merge_method: linear
models: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: -1}}]`, []string{"linear", "sum to 0"}},
		{"missing weight", nil, `
merge_method: linear
models: [{model: a, parameters: {weight: 1}}, {model: b}]`, []string{"merge.yml", "missing required parameter weight for model b"}},
		{"unknown parameter", nil, `
merge_method: ties
base_model: a
models: [{model: b, parameters: {weight: 1, densty: 0.5}}]`, []string{"merge.yml", "models[0].parameters.densty", "unknown parameter \"densty\" for merge_method ties"}},
		{"unknown method", nil, `
merge_method: tie
models: [{model: a, parameters: {weight: 1}}]`, []string{"merge.yml", "merge_method", "unknown merge method \"tie\""}},
		{"unknown key", nil, `
merge_method: linear
modelz: []`, []string{"merge.yml", "modelz"}},
		{"tokenizer outside the config", nil, `
merge_method: linear
models: [{model: a, parameters: {weight: 1}}]
tokenizer_source: org/other`, []string{"merge.yml", "org/other", "not in the Hugging Face cache"}},
		{"corrupt header", func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, "b"), 0o755)
			writeFile(t, filepath.Join(dir, "b", "model.safetensors"), "\xff\xff\x00\x00\x00\x00\x00\x00{}")
		}, `
merge_method: linear
models: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: 1}}]`, []string{"model.safetensors", "header length 65535 plus the 8-byte length field is 65543 bytes, more than the file size 10"}},
		{"shard escapes", func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, "b"), 0o755)
			writeFile(t, filepath.Join(dir, "b", "model.safetensors.index.json"), `{"weight_map": {"x": "../a/model.safetensors"}}`)
		}, `
merge_method: linear
models: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: 1}}]`, []string{"model.safetensors.index.json", "../a/model.safetensors"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			good.write(t, filepath.Join(dir, "a"))
			if c.setup != nil {
				c.setup(t, dir)
			} else {
				b := good
				b.seed = 2
				b.write(t, filepath.Join(dir, "b"))
			}
			_, out, err := mergeYAML(t, dir, c.cfg, Options{})
			if err == nil {
				t.Fatalf("merge succeeded, want an error containing %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Errorf("output directory written despite the error")
			}
			assertNoTemp(t, dir)
		})
	}
}

// assertNoTemp fails if a temporary output directory was left behind.
func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary directory %s left behind", e.Name())
		}
	}
}

func TestOutDirRefusedUnlessForce(t *testing.T) {
	dir := t.TempDir()
	ckpt{layers: 1, hidden: 4, vocab: 8, seed: 1}.write(t, filepath.Join(dir, "a"))
	out := filepath.Join(dir, "out")
	os.MkdirAll(out, 0o755)
	writeFile(t, filepath.Join(out, "keep.txt"), "precious")
	cfg := "merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\n"
	_, _, err := mergeYAML(t, dir, cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "exists and is not empty (use --force") {
		t.Fatalf("error %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(out, "keep.txt")); string(data) != "precious" {
		t.Fatalf("existing output touched")
	}
	if _, _, err := mergeYAML(t, dir, cfg, Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "keep.txt")); !os.IsNotExist(err) {
		t.Fatalf("forced merge kept the old contents")
	}
	assertNoTemp(t, dir)
}

func TestCancelLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	ckpt{layers: 4, hidden: 16, vocab: 32, seed: 1}.write(t, filepath.Join(dir, "a"))
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	path := filepath.Join(dir, "merge.yml")
	writeFile(t, path, "merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\n")
	_, err := RunFile(ctx, path, filepath.Join(dir, "out"), Options{Workers: 1, Progress: func(Progress) {
		n++
		if n == 3 {
			cancel()
		}
	}})
	if err == nil {
		t.Fatalf("cancelled merge succeeded")
	}
	if _, serr := os.Stat(filepath.Join(dir, "out")); serr == nil {
		t.Fatalf("cancelled merge left an output")
	}
	assertNoTemp(t, dir)
}

func TestBreadcrumbsGammaZeroWarnsOnce(t *testing.T) {
	dir := t.TempDir()
	for i, n := range []string{"base", "a"} {
		ckpt{layers: 2, hidden: 4, vocab: 8, seed: i + 1}.write(t, filepath.Join(dir, n))
	}
	var warns []string
	_, _, err := mergeYAML(t, dir, `
merge_method: breadcrumbs
base_model: base
models: [{model: a, parameters: {weight: 1, density: 0.5, gamma: 0}}]
`, Options{Warn: func(m string) { warns = append(warns, m) }})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, w := range warns {
		if strings.Contains(w, "removes no outlier") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d gamma warnings, want exactly 1: %v", n, warns)
	}
}

// TestParallelTensorsMatchSequential: splitting large tensors across
// workers changes nothing, for every task-vector method.
func TestParallelTensorsMatchSequential(t *testing.T) {
	dir := t.TempDir()
	for i, n := range []string{"base", "a", "b", "c"} {
		ckpt{layers: 2, hidden: 64, vocab: 300, seed: i + 1, config: true}.write(t, filepath.Join(dir, n))
	}
	for _, method := range []string{"task_arithmetic", "ties", "breadcrumbs_ties", "dare_ties", "della", "dare_linear"} {
		params := "density: 0.5"
		switch method {
		case "breadcrumbs_ties":
			params = "density: 0.8, gamma: 0.05"
		case "della":
			params = "density: 0.5, epsilon: 0.2"
		}
		cfg := fmt.Sprintf(`
merge_method: %s
base_model: base
models:
  - {model: a, parameters: {weight: 0.5, %s}}
  - {model: b, parameters: {weight: 0.3, %s}}
  - {model: c, parameters: {weight: -0.2, %s}}
parameters: {rescale: true}
`, method, params, params, params)
		run := func(workers int, sub string) map[string][]float32 {
			d := filepath.Join(dir, method+sub)
			os.MkdirAll(d, 0o755)
			for _, n := range []string{"base", "a", "b", "c"} {
				os.Symlink(filepath.Join(dir, n), filepath.Join(d, n))
			}
			_, out, err := mergeYAML(t, d, cfg, Options{Seed: 3, Workers: workers, parallelFrom: 1000})
			if err != nil {
				t.Fatal(err)
			}
			return readAll(t, out)
		}
		seq, par := run(1, "seq"), run(3, "par")
		for n, v := range seq {
			for i := range v {
				if v[i] != par[n][i] {
					t.Fatalf("%s: %s[%d] sequential %v, parallel %v", method, n, i, v[i], par[n][i])
				}
			}
		}
	}
}

func TestDTypeCastAndOutDType(t *testing.T) {
	dir := t.TempDir()
	ckpt{layers: 1, hidden: 4, vocab: 8, seed: 1, config: true}.write(t, filepath.Join(dir, "a"))
	ckpt{layers: 1, hidden: 4, vocab: 8, seed: 2, config: true}.write(t, filepath.Join(dir, "b"))
	_, out, err := mergeYAML(t, dir, `
merge_method: linear
models:
  - {model: a, parameters: {weight: 0.5}}
  - {model: b, parameters: {weight: 0.5}}
dtype: bfloat16
out_dtype: float32
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := safetensors.OpenModel(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x, _ := m.Tensor("model.norm.weight")
	if x.DType != safetensors.F32 {
		t.Fatalf("out_dtype float32 wrote %s", x.DType)
	}
	got := x.Float32s()
	ta, tb := readAll(t, filepath.Join(dir, "a")), readAll(t, filepath.Join(dir, "b"))
	for i := range got {
		// inputs are rounded to bf16 first, then averaged in float32
		want := 0.5*roundBF16(ta["model.norm.weight"][i]) + 0.5*roundBF16(tb["model.norm.weight"][i]) // inputs rounded by the cast
		if got[i] != want {
			t.Fatalf("element %d: %v, want %v (bf16-rounded inputs)", i, got[i], want)
		}
	}
	var cfg map[string]any
	data, _ := os.ReadFile(filepath.Join(out, "config.json"))
	json.Unmarshal(data, &cfg)
	if cfg["torch_dtype"] != "float32" {
		t.Fatalf("torch_dtype %v", cfg["torch_dtype"])
	}
}

// roundBF16 rounds one value to bfloat16 with safetensors.Round.
func roundBF16(v float32) float32 {
	x := []float32{v}
	safetensors.Round(safetensors.BF16, x)
	return x[0]
}

func TestRoundBF16(t *testing.T) {
	for in, want := range map[float32]float32{1: 1, 1 + 1.0/256: 1, 1 + 3.0/512: 1 + 1.0/128, -2.5: -2.5} {
		if got := roundBF16(in); got != want {
			t.Errorf("roundBF16(%v) = %v, want %v", in, got, want)
		}
	}
	if v := roundBF16(float32(math.NaN())); v == v {
		t.Errorf("NaN not kept")
	}
}
