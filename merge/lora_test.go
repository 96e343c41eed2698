package merge

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/merge/safetensors"
	"github.com/mergetune/mergetune/merge/synth"
)

// loraFactor is one tensor of a generated adapter.
type loraFactor struct {
	key   string
	shape []int
	data  []float32
}

// genFactor fills a tensor with small deterministic values.
func genFactor(key string, shape []int, seed int) loraFactor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	f := loraFactor{key: key, shape: shape, data: make([]float32, n)}
	for i := range f.data {
		f.data[i] = float32(math.Sin(float64(seed*1000+i)*0.7)) * 0.05
	}
	return f
}

// writeTensors writes tensors as one safetensors file at path.
func writeTensors(t *testing.T, path string, dtype safetensors.DType, ts []loraFactor) {
	t.Helper()
	tmp := t.TempDir()
	specs := make([]safetensors.Spec, len(ts))
	for i, f := range ts {
		specs[i] = safetensors.Spec{Name: f.key, DType: dtype, Shape: f.shape}
	}
	w, err := safetensors.Create(tmp, specs, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ts {
		if err := w.WriteFloat32(f.key, 0, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(tmp, "model.safetensors"), path); err != nil {
		t.Fatal(err)
	}
}

// loraCase is a generated adapter and the dense weights it stands for.
type loraCase struct {
	config  string
	factors []loraFactor
	// dense returns W + ΔW for the model tensor name given W (unchanged if
	// the adapter leaves it alone), computed independently of merge/lora.
	dense func(name string, w []float32, shape []int) []float32
}

// lowRank is ΔW[i][j] = Σ_k L(i,k)·R(k,j), the products summed in float64
// and rounded once, times scale in float32: the documented formula.
func lowRank(rows, cols, r int, l, rr func(i, k int) float32, scale float32) []float32 {
	d := make([]float32, rows*cols)
	for i := range rows {
		for j := range cols {
			var acc float64
			for k := range r {
				acc += float64(l(i, k)) * float64(rr(k, j))
			}
			d[i*cols+j] = float32(acc) * scale
		}
	}
	return d
}

// newLoRACase builds an adapter for a synth.Pico model: lora_A/lora_B on
// every q_proj (square) and up_proj ([48, 32]), lora_embedding_A/B on the
// embeddings, and lm_head stored whole (modules_to_save).
func newLoRACase(shape synth.Shape, rslora bool) loraCase {
	const r, alpha = 4, 8.0
	scale := float32(alpha / float64(r))
	if rslora {
		scale = float32(alpha / math.Sqrt(r))
	}
	c := loraCase{config: fmt.Sprintf(`{"peft_type": "LORA", "r": %d, "lora_alpha": %v, "use_rslora": %v,
		"target_modules": ["q_proj", "up_proj", "embed_tokens"], "fan_in_fan_out": false, "modules_to_save": ["lm_head"],
		"rank_pattern": {}, "alpha_pattern": {}, "layer_replication": null}`, r, alpha, rslora)}
	type lin struct {
		module     string
		rows, cols int
	}
	var lins []lin
	for l := range shape.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		lins = append(lins, lin{p + "self_attn.q_proj", shape.Hidden, shape.Hidden}, lin{p + "mlp.up_proj", shape.Intermediate, shape.Hidden})
	}
	deltas := map[string][]float32{}
	for n, m := range lins {
		a := genFactor("base_model.model."+m.module+".lora_A.weight", []int{r, m.cols}, 2*n+1)
		b := genFactor("base_model.model."+m.module+".lora_B.weight", []int{m.rows, r}, 2*n+2)
		c.factors = append(c.factors, a, b)
		deltas[m.module+".weight"] = lowRank(m.rows, m.cols, r,
			func(i, k int) float32 { return b.data[i*r+k] }, func(k, j int) float32 { return a.data[k*m.cols+j] }, scale)
	}
	// embeddings: A [r, vocab], B [hidden, r], ΔW = (B·A)ᵀ
	ea := genFactor("base_model.model.model.embed_tokens.lora_embedding_A", []int{r, shape.Vocab}, 101)
	eb := genFactor("base_model.model.model.embed_tokens.lora_embedding_B", []int{shape.Hidden, r}, 102)
	c.factors = append(c.factors, ea, eb)
	deltas["model.embed_tokens.weight"] = lowRank(shape.Vocab, shape.Hidden, r,
		func(i, k int) float32 { return ea.data[k*shape.Vocab+i] }, func(k, j int) float32 { return eb.data[j*r+k] }, scale)
	head := genFactor("base_model.model.lm_head.weight", []int{shape.Vocab, shape.Hidden}, 103)
	c.factors = append(c.factors, head)
	c.dense = func(name string, w []float32, _ []int) []float32 {
		if name == "lm_head.weight" {
			return head.data
		}
		d, ok := deltas[name]
		if !ok {
			return w
		}
		out := make([]float32, len(w))
		for i := range w {
			out[i] = w[i] + d[i]
		}
		return out
	}
	return c
}

// writeAdapter writes c as a PEFT adapter directory.
func (c loraCase) writeAdapter(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "adapter_config.json"), c.config)
	writeTensors(t, filepath.Join(dir, "adapter_model.safetensors"), safetensors.F32, c.factors)
}

// writeDense copies the model in src to dst (float32) with the adapter's
// change applied by c.dense.
func (c loraCase) writeDense(t *testing.T, shape synth.Shape, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	in := readAll(t, src)
	var ts []loraFactor
	for _, s := range shape.Specs(safetensors.F32) {
		ts = append(ts, loraFactor{key: s.Name, shape: s.Shape, data: c.dense(s.Name, in[s.Name], s.Shape)})
	}
	writeTensors(t, filepath.Join(dst, "model.safetensors"), safetensors.F32, ts)
	raw, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dst, "config.json"), string(raw))
}

// tensorBytes reads every tensor's raw bytes of a checkpoint.
func tensorBytes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out := map[string][]byte{}
	for _, n := range m.Names() {
		x, _ := m.Tensor(n)
		out[n] = bytes.Clone(x.Bytes())
	}
	return out
}

// TestLoRAMergeEqualsDenseMerge: merging "ft+adapter" gives, byte for
// byte, the merge of a float32 checkpoint holding W + ΔW (ΔW = B·A·scale,
// (B·A)ᵀ for embeddings, the stored lm_head for modules_to_save), for
// several methods, the plain scaling and rsLoRA's.
func TestLoRAMergeEqualsDenseMerge(t *testing.T) {
	shape := synth.Pico()
	opt := synth.Options{Shape: shape, DType: safetensors.F32, Seed: 7}
	root := t.TempDir()
	ctx := context.Background()
	if err := synth.WriteBase(ctx, filepath.Join(root, "base"), opt); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"ft1", "ft2"} {
		if err := synth.WriteFineTune(ctx, filepath.Join(root, name), opt, i); err != nil {
			t.Fatal(err)
		}
	}
	configs := map[string]string{
		"linear": "merge_method: linear\nmodels:\n  - model: %s\n    parameters: {weight: 0.6}\n  - model: ft2\n    parameters: {weight: 0.4}\n",
		"ties": "merge_method: ties\nbase_model: base\nmodels:\n  - model: %s\n    parameters: {weight: 1, density: 0.5}\n" +
			"  - model: ft2\n    parameters: {weight: 0.7, density: 0.6}\ndtype: float32\n",
		"slerp": "merge_method: slerp\nbase_model: base\nmodels:\n  - model: base\n  - model: %s\nparameters: {t: 0.35}\nout_dtype: bfloat16\n",
	}
	for _, rslora := range []bool{false, true} {
		c := newLoRACase(shape, rslora)
		tag := fmt.Sprintf("rslora=%v", rslora)
		adapter := filepath.Join(root, "adapter-"+tag)
		dense := filepath.Join(root, "dense-"+tag)
		c.writeAdapter(t, adapter)
		c.writeDense(t, shape, filepath.Join(root, "ft1"), dense)
		for method, cfg := range configs {
			t.Run(tag+"/"+method, func(t *testing.T) {
				run := func(ref string) map[string][]byte {
					dir := filepath.Join(root, method+"-"+tag+"-"+filepath.Base(strings.ReplaceAll(ref, "+", "_")))
					if err := os.MkdirAll(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					y := strings.ReplaceAll(fmt.Sprintf(cfg, ref), "model: base", "model: "+filepath.Join(root, "base"))
					y = strings.ReplaceAll(y, "base_model: base", "base_model: "+filepath.Join(root, "base"))
					y = strings.ReplaceAll(y, "model: ft2", "model: "+filepath.Join(root, "ft2"))
					_, out, err := mergeYAML(t, dir, y, Options{Workers: 2})
					if err != nil {
						t.Fatal(err)
					}
					return tensorBytes(t, out)
				}
				withLoRA := run(filepath.Join(root, "ft1") + "+" + adapter)
				want := run(dense)
				plain := run(filepath.Join(root, "ft1"))
				if len(withLoRA) != len(want) {
					t.Fatalf("%d tensors, want %d", len(withLoRA), len(want))
				}
				changed := 0
				for name, w := range want {
					if !bytes.Equal(withLoRA[name], w) {
						t.Errorf("tensor %s differs from the dense merge", name)
					}
					if !bytes.Equal(plain[name], w) {
						changed++
					}
				}
				// q_proj and up_proj of 2 layers, embeddings, lm_head
				if changed != 2*shape.Layers+2 {
					t.Errorf("the adapter changed %d tensors of the merge, want %d", changed, 2*shape.Layers+2)
				}
			})
		}
	}
}

// TestLoRAErrors: a broken or mismatched adapter is refused before
// anything is written, naming the adapter, the key and the problem.
func TestLoRAErrors(t *testing.T) {
	shape := synth.Pico()
	opt := synth.Options{Shape: shape, DType: safetensors.BF16, Seed: 3}
	root := t.TempDir()
	ctx := context.Background()
	if err := synth.WriteBase(ctx, filepath.Join(root, "base"), opt); err != nil {
		t.Fatal(err)
	}
	a := genFactor("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", []int{2, shape.Hidden}, 1)
	b := genFactor("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", []int{shape.Hidden, 2}, 2)
	okConfig := `{"r": 2, "lora_alpha": 4}`
	tests := []struct {
		name    string
		config  string
		factors []loraFactor
		noDir   bool
		want    string
	}{
		{name: "missing directory", noDir: true, want: "does not exist"},
		{name: "dora", config: `{"r": 2, "lora_alpha": 4, "use_dora": true}`, factors: []loraFactor{a, b}, want: "use_dora: true is not supported"},
		{name: "other peft type", config: `{"peft_type": "IA3", "r": 2, "lora_alpha": 4}`, factors: []loraFactor{a, b}, want: `peft_type "IA3" is not supported`},
		{name: "missing r", config: `{"lora_alpha": 4}`, factors: []loraFactor{a, b}, want: "missing r"},
		{name: "rank mismatch", config: `{"r": 3, "lora_alpha": 4}`, factors: []loraFactor{a, b}, want: "do not have rank r = 3"},
		{name: "rank pattern", config: `{"r": 3, "lora_alpha": 4, "rank_pattern": {"q_proj": 2}}`, factors: []loraFactor{a, b}},
		{name: "A without B", config: okConfig, factors: []loraFactor{a}, want: "has lora_A but no lora_B"},
		{name: "no prefix", config: okConfig, factors: []loraFactor{{key: "model.x.lora_A.weight", shape: []int{1}, data: []float32{1}}}, want: `does not start with "base_model.model."`},
		{name: "unknown tensor", config: okConfig, factors: []loraFactor{
			genFactor("base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight", []int{2, shape.Hidden}, 1),
			genFactor("base_model.model.model.layers.9.self_attn.q_proj.lora_B.weight", []int{shape.Hidden, 2}, 2),
		}, want: "changes tensor model.layers.9.self_attn.q_proj.weight (key base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight), which model"},
		{name: "wrong shape", config: okConfig, factors: []loraFactor{
			genFactor("base_model.model.model.layers.0.mlp.up_proj.lora_A.weight", []int{2, shape.Hidden}, 1),
			genFactor("base_model.model.model.layers.0.mlp.up_proj.lora_B.weight", []int{shape.Hidden, 2}, 2),
		}, want: "change model.layers.0.mlp.up_proj.weight by a [32 32] matrix, but the model's has shape [48 32]"},
		{name: "unknown lora key", config: okConfig, factors: []loraFactor{a, b,
			{key: "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", shape: []int{shape.Hidden}, data: make([]float32, shape.Hidden)}},
			want: "lora_magnitude_vector is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			adapter := filepath.Join(dir, "adapter")
			if !tt.noDir {
				if err := os.MkdirAll(adapter, 0o755); err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(adapter, "adapter_config.json"), tt.config)
				writeTensors(t, filepath.Join(adapter, "adapter_model.safetensors"), safetensors.F32, tt.factors)
			}
			cfg := fmt.Sprintf("merge_method: linear\nmodels:\n  - model: %s+%s\n    parameters: {weight: 1}\n", filepath.Join(root, "base"), adapter)
			_, out, err := mergeYAML(t, dir, cfg, Options{})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("merge failed: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "merge.yml: model ") {
				t.Errorf("error %q does not name the config and the model", err)
			}
			if _, serr := os.Stat(out); !os.IsNotExist(serr) {
				t.Errorf("output %s exists after a failed merge", out)
			}
		})
	}
}

// TestLoRAOutputOverAdapterRefused: the output may not replace the
// adapter directory, even with Force.
func TestLoRAOutputOverAdapterRefused(t *testing.T) {
	shape := synth.Pico()
	root := t.TempDir()
	base := filepath.Join(root, "base")
	if err := synth.WriteBase(context.Background(), base, synth.Options{Shape: shape, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	adapter := filepath.Join(root, "adapter")
	newLoRACase(shape, false).writeAdapter(t, adapter)
	cfg := filepath.Join(root, "merge.yml")
	writeFile(t, cfg, fmt.Sprintf("merge_method: linear\nmodels:\n  - model: %s+%s\n    parameters: {weight: 1}\n", base, adapter))
	for _, out := range []string{adapter, root + "/"} {
		_, err := RunFile(context.Background(), cfg, out, Options{Force: true})
		if err == nil || !strings.Contains(err.Error(), "output directory") {
			t.Errorf("output %s: error %v, want a refusal", out, err)
		}
	}
	if _, err := os.Stat(filepath.Join(adapter, "adapter_model.safetensors")); err != nil {
		t.Errorf("the adapter is gone: %v", err)
	}
}

// TestLoRAOnBF16WithDType: with bfloat16 checkpoints and `dtype:
// bfloat16`, W + ΔW (float32) is rounded to bfloat16 like any other input
// before merging, as mergekit's cast of the merged LoRA model does: the
// merge equals byte for byte that of a float32 checkpoint holding W + ΔW.
func TestLoRAOnBF16WithDType(t *testing.T) {
	shape := synth.Pico()
	opt := synth.Options{Shape: shape, DType: safetensors.BF16, Seed: 5}
	root := t.TempDir()
	ctx := context.Background()
	base, ft1, ft2 := filepath.Join(root, "base"), filepath.Join(root, "ft1"), filepath.Join(root, "ft2")
	if err := synth.WriteBase(ctx, base, opt); err != nil {
		t.Fatal(err)
	}
	for i, d := range []string{ft1, ft2} {
		if err := synth.WriteFineTune(ctx, d, opt, i); err != nil {
			t.Fatal(err)
		}
	}
	c := newLoRACase(shape, false)
	adapter, dense := filepath.Join(root, "adapter"), filepath.Join(root, "dense")
	c.writeAdapter(t, adapter)
	c.writeDense(t, shape, ft1, dense)
	cfg := "merge_method: ties\nbase_model: " + base + "\nmodels:\n  - model: %s\n    parameters: {weight: 1, density: 0.5}\n" +
		"  - model: " + ft2 + "\n    parameters: {weight: 0.7, density: 0.6}\ndtype: bfloat16\n"
	run := func(name, ref string) map[string][]byte {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		_, out, err := mergeYAML(t, dir, fmt.Sprintf(cfg, ref), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return tensorBytes(t, out)
	}
	got, want := run("merge-lora", ft1+"+"+adapter), run("merge-dense", dense)
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Errorf("tensor %s differs from the dense merge", name)
		}
	}
}
