package runner

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/merge/safetensors"
)

// BenchmarkGenerate reports greedy generation speed (tokens/s, prompt
// processing included) on the GQA fixture model.
func BenchmarkGenerate(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			m := openVariant(b, "f32_tied_gqa", Options{Threads: threads})
			ctx := context.Background()
			ids := m.Encode("rev abc=")
			opt := eval.GenerateOptions{MaxTokens: 48}
			tokens := 0
			for b.Loop() {
				_, gen, err := m.generate(ctx, ids, opt)
				if err != nil {
					b.Fatal(err)
				}
				tokens += len(gen)
			}
			b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// itemPrompts are 12-byte prompts in the style of the toy tasks.
var itemPrompts = []string{"rev abcdefg=", "add 123+45=\n", "cap hello w=", "sel 3 of 9x="}

// BenchmarkItems reports evaluation items per second: a prompt of about 12
// bytes and a greedy answer of up to 8 tokens, stopped at "\n".
func BenchmarkItems(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			m := openVariant(b, "f32_tied_gqa", Options{Threads: threads})
			ctx := context.Background()
			opt := eval.GenerateOptions{MaxTokens: 8, Stop: []string{"\n"}}
			n := 0
			for b.Loop() {
				if _, err := m.Generate(ctx, itemPrompts[n%len(itemPrompts)], opt); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
		})
	}
}

// BenchmarkItemsFamilySize is BenchmarkItems on a random model of the toy
// family's size (hidden 128, 2 layers, 4 heads, SwiGLU 352, untied head,
// context 32, vocabulary 256: 468K parameters, BF16).
func BenchmarkItemsFamilySize(b *testing.B) {
	dir := b.TempDir()
	writeRandomLlama(b, dir, `"hidden_size": 128, "intermediate_size": 352, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 256,
		"max_position_embeddings": 32, "tie_word_embeddings": false`, 128, 352, 2, 4, 4, 256, false)
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			m, err := New(Options{Threads: threads}).OpenModel(context.Background(), dir)
			if err != nil {
				b.Fatal(err)
			}
			if m.Params() != 467_584 {
				b.Fatalf("Params() = %d", m.Params())
			}
			ctx := context.Background()
			opt := eval.GenerateOptions{MaxTokens: 8, Stop: []string{"\n"}}
			n := 0
			for b.Loop() {
				if _, err := m.Generate(ctx, itemPrompts[n%len(itemPrompts)], opt); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
		})
	}
}

// writeRandomLlama writes a random BF16 llama checkpoint with the given
// config.json fields and the f32_mha fixture's tokenizer into dir.
func writeRandomLlama(tb testing.TB, dir, fields string, hidden, inter, layers, heads, kvHeads, vocab int, tied bool) {
	tb.Helper()
	cfg := `{"architectures": ["LlamaForCausalLM"], "model_type": "llama", ` + fields + `}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		data, err := os.ReadFile(filepath.Join(fixtureDir, "f32_mha", name))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	hd := hidden / heads
	specs := []safetensors.Spec{{Name: "model.embed_tokens.weight", Shape: []int{vocab, hidden}}}
	for l := range layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		specs = append(specs,
			safetensors.Spec{Name: p + "input_layernorm.weight", Shape: []int{hidden}},
			safetensors.Spec{Name: p + "self_attn.q_proj.weight", Shape: []int{heads * hd, hidden}},
			safetensors.Spec{Name: p + "self_attn.k_proj.weight", Shape: []int{kvHeads * hd, hidden}},
			safetensors.Spec{Name: p + "self_attn.v_proj.weight", Shape: []int{kvHeads * hd, hidden}},
			safetensors.Spec{Name: p + "self_attn.o_proj.weight", Shape: []int{hidden, heads * hd}},
			safetensors.Spec{Name: p + "post_attention_layernorm.weight", Shape: []int{hidden}},
			safetensors.Spec{Name: p + "mlp.gate_proj.weight", Shape: []int{inter, hidden}},
			safetensors.Spec{Name: p + "mlp.up_proj.weight", Shape: []int{inter, hidden}},
			safetensors.Spec{Name: p + "mlp.down_proj.weight", Shape: []int{hidden, inter}},
		)
	}
	specs = append(specs, safetensors.Spec{Name: "model.norm.weight", Shape: []int{hidden}})
	if !tied {
		specs = append(specs, safetensors.Spec{Name: "lm_head.weight", Shape: []int{vocab, hidden}})
	}
	for i := range specs {
		specs[i].DType = safetensors.BF16
	}
	w, err := safetensors.Create(dir, specs, 0)
	if err != nil {
		tb.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range specs {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64()) * 0.1
		}
		if len(s.Shape) == 1 {
			for i := range v {
				v[i] += 1
			}
		}
		if err := w.WriteFloat32(s.Name, 0, v); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
}
