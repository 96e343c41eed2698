package merge

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mergetune/mergetune/merge/safetensors"
	"github.com/mergetune/mergetune/merge/synth"
	"github.com/mergetune/mergetune/merge/tokenizer"
)

// writeTokenizerJSON writes a BPE tokenizer.json whose model vocabulary is
// vocab (ids in order) and whose added tokens are added, and a
// tokenizer_config.json listing them in added_tokens_decoder.
func writeTokenizerJSON(t *testing.T, dir string, vocab []string, added []tokenizer.AddedToken) {
	t.Helper()
	v := map[string]int{}
	for i, tok := range vocab {
		v[tok] = i
	}
	doc := map[string]any{
		"version":      "1.0",
		"added_tokens": added,
		"normalizer":   nil,
		"model":        map[string]any{"type": "BPE", "vocab": v, "merges": [][2]string{{"_tok_3", "_tok_4"}, {"_tok_3", "_tok_62"}}},
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "tokenizer.json"), string(data))
	dec := map[string]any{}
	for _, a := range added {
		dec[fmt.Sprint(a.ID)] = map[string]any{"content": a.Content, "special": a.Special}
	}
	data, _ = json.MarshalIndent(map[string]any{"added_tokens_decoder": dec, "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 2048.0}, "", "  ")
	writeFile(t, filepath.Join(dir, "tokenizer_config.json"), string(data))
}

// setConfigKey rewrites one key of dir/config.json.
func setConfigKey(t *testing.T, dir, key string, v any) {
	t.Helper()
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parseJSONObject(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Set(key, v); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(doc.Bytes()))
}

// vocabCase is a base (64 embedding rows) and a fine-tune (67 rows,
// vocab_size 66) that share a model vocabulary of 63 tokens and differ in
// their added tokens: the base adds <|base|> (63); the fine-tune adds
// <|im_start|> (63), <|im_end|> (64), <|base|> (65) and <UNUSED> (66,
// beyond its vocab_size).
func vocabCase(t *testing.T) (root string) {
	t.Helper()
	root = t.TempDir()
	ctx := context.Background()
	shape := synth.Pico()
	if err := synth.WriteBase(ctx, filepath.Join(root, "base"), synth.Options{Shape: shape, DType: safetensors.F32, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	shape.Vocab = 67
	if err := synth.WriteFineTune(ctx, filepath.Join(root, "ft"), synth.Options{Shape: shape, DType: safetensors.F32, Seed: 3}, 0); err != nil {
		t.Fatal(err)
	}
	setConfigKey(t, filepath.Join(root, "ft"), "vocab_size", 66)
	vocab := []string{"<unk>", "<s>", "</s>"}
	for i := 3; i < 63; i++ {
		vocab = append(vocab, fmt.Sprintf("_tok_%d", i))
	}
	specials := []tokenizer.AddedToken{
		{ID: 0, Content: "<unk>", Special: true}, {ID: 1, Content: "<s>", Special: true}, {ID: 2, Content: "</s>", Special: true},
	}
	writeTokenizerJSON(t, filepath.Join(root, "base"), vocab, append(specials[:3:3], tokenizer.AddedToken{ID: 63, Content: "<|base|>", Special: true}))
	writeTokenizerJSON(t, filepath.Join(root, "ft"), vocab, append(specials[:3:3],
		tokenizer.AddedToken{ID: 63, Content: "<|im_start|>", Special: true},
		tokenizer.AddedToken{ID: 64, Content: "<|im_end|>", Special: true},
		tokenizer.AddedToken{ID: 65, Content: "<|base|>", Special: true},
		tokenizer.AddedToken{ID: 66, Content: "<UNUSED>", Special: true}))
	return root
}

// outVocab reads the output tokenizer.json's full vocabulary.
func outVocab(t *testing.T, dir string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Parse(data, "out")
	if err != nil {
		t.Fatal(err)
	}
	return tok.GetVocab()
}

// rowsOf returns row r of a [rows, h] tensor.
func rowOf(x []float32, h, r int) []float32 { return x[r*h : (r+1)*h] }

func closeRows(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for j := range want {
		if math.Abs(float64(got[j]-want[j])) > 1e-6*(1+math.Abs(float64(want[j]))) {
			t.Fatalf("%s: element %d = %v, want %v", what, j, got[j], want[j])
		}
	}
}

// TestTokenizerUnion merges a base and a fine-tune with different added
// tokens under tokenizer_source: union: the output vocabulary holds every
// token with the ids mergekit assigns, each output row of embed_tokens and
// lm_head is the linear merge of the inputs' rows for that token (the
// fine-tune's own row for tokens only it has), the tokenizer files are
// written and config.json's vocab_size is the new size.
func TestTokenizerUnion(t *testing.T) {
	root := vocabCase(t)
	cfg := "merge_method: linear\nbase_model: base\nmodels:\n  - model: base\n    parameters: {weight: 1}\n  - model: ft\n    parameters: {weight: 3}\ntokenizer_source: union\n"
	writeFile(t, filepath.Join(root, "merge.yml"), cfg)
	out := filepath.Join(root, "out")
	if _, err := RunFile(context.Background(), filepath.Join(root, "merge.yml"), out, Options{}); err != nil {
		t.Fatal(err)
	}
	v := outVocab(t, out)
	if len(v) != 66 {
		t.Errorf("output vocabulary has %d tokens, want 66", len(v))
	}
	for tok, id := range map[string]int{"<unk>": 0, "_tok_62": 62, "<|base|>": 63, "<|im_start|>": 64, "<|im_end|>": 65} {
		if v[tok] != id {
			t.Errorf("token %q has id %d, want %d", tok, v[tok], id)
		}
	}
	if _, ok := v["<UNUSED>"]; ok {
		t.Errorf("<UNUSED> (beyond the fine-tune's vocab_size) is in the output vocabulary")
	}
	hf, err := readHFConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := hf.vocabSize(); n != 66 {
		t.Errorf("config.json vocab_size = %d, want 66", n)
	}
	tc, err := os.ReadFile(filepath.Join(out, "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tcDoc struct {
		Dec map[string]struct {
			Content string `json:"content"`
		} `json:"added_tokens_decoder"`
	}
	if err := json.Unmarshal(tc, &tcDoc); err != nil {
		t.Fatal(err)
	}
	if tcDoc.Dec["64"].Content != "<|im_start|>" || tcDoc.Dec["65"].Content != "<|im_end|>" || tcDoc.Dec["63"].Content != "<|base|>" || len(tcDoc.Dec) != 6 {
		t.Errorf("tokenizer_config.json added_tokens_decoder = %+v", tcDoc.Dec)
	}
	if !strings.Contains(string(tc), `"<|im_start|>"`) {
		t.Errorf("tokenizer_config.json escapes the tokens:\n%s", tc)
	}

	base := readTensors(t, filepath.Join(root, "base", "model.safetensors"))
	ft := readTensors(t, filepath.Join(root, "ft", "model.safetensors"))
	got := readTensors(t, filepath.Join(out, "model.safetensors"))
	h := synth.Pico().Hidden
	ftRow := map[int]int{63: 65, 64: 63, 65: 64} // output id → fine-tune row
	for _, name := range []string{"model.embed_tokens.weight", "lm_head.weight"} {
		if len(got[name]) != 66*h {
			t.Fatalf("%s has %d elements, want %d", name, len(got[name]), 66*h)
		}
		for r := range 66 {
			fr, ok := ftRow[r]
			if !ok {
				fr = r
			}
			want := make([]float32, h)
			for j := range want {
				b := ft[name][fr*h+j] // tokens the base lacks take the fine-tune's row
				if r < 64 {
					b = base[name][r*h+j]
				}
				want[j] = 0.25*b + 0.75*ft[name][fr*h+j]
			}
			closeRows(t, fmt.Sprintf("%s row %d", name, r), rowOf(got[name], h, r), want)
		}
	}
}

// TestTokenizerBlock: the tokenizer block's tokens (a forced model row, a
// model_token source, a new token) and pad_to_multiple_of, with the
// output vocabulary of the base.
func TestTokenizerBlock(t *testing.T) {
	root := vocabCase(t)
	cfg := `merge_method: linear
base_model: base
models:
  - model: base
    parameters: {weight: 1}
  - model: ft
    parameters: {weight: 3}
tokenizer:
  source: base
  pad_to_multiple_of: 16
  tokens:
    _tok_10: {source: base, force: true}
    "<new>": {source: {kind: model_token, model: ft, token: "<|im_end|>"}}
    "<zero>": {source: {kind: zero}}
`
	writeFile(t, filepath.Join(root, "merge.yml"), cfg)
	out := filepath.Join(root, "out")
	if _, err := RunFile(context.Background(), filepath.Join(root, "merge.yml"), out, Options{}); err != nil {
		t.Fatal(err)
	}
	v := outVocab(t, out)
	want := map[string]int{"<|base|>": 63, "<new>": 64, "<zero>": 65}
	for tok, id := range want {
		if v[tok] != id {
			t.Errorf("token %q has id %d, want %d", tok, v[tok], id)
		}
	}
	if len(v) != 66 {
		t.Errorf("vocabulary has %d tokens, want 66", len(v))
	}
	hf, err := readHFConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := hf.vocabSize(); n != 80 {
		t.Errorf("config.json vocab_size = %d, want 80 (66 padded to 16)", n)
	}
	base := readTensors(t, filepath.Join(root, "base", "model.safetensors"))
	ft := readTensors(t, filepath.Join(root, "ft", "model.safetensors"))
	got := readTensors(t, filepath.Join(out, "model.safetensors"))
	h := synth.Pico().Hidden
	name := "model.embed_tokens.weight"
	if len(got[name]) != 80*h {
		t.Fatalf("%s has %d elements, want %d", name, len(got[name]), 80*h)
	}
	// each model's remapped rows, then the padding rows' means
	rows := func(src map[string][]float32, own func(r int) int, r int) []float32 {
		switch {
		case r == 10:
			return rowOf(base[name], h, 10)
		case r == 64:
			return rowOf(ft[name], h, 64)
		case r == 65:
			return make([]float32, h)
		}
		return rowOf(src[name], h, own(r))
	}
	ftOwn := func(r int) int {
		if r == 63 {
			return 65
		}
		return r
	}
	meanB, meanF := make([]float64, h), make([]float64, h)
	for r := range 80 {
		b := rows(base, func(r int) int { return r }, min(r, 65))
		f := rows(ft, ftOwn, min(r, 65))
		if r < 66 {
			for j := range h {
				meanB[j] += float64(b[j]) / 66
				meanF[j] += float64(f[j]) / 66
			}
			w := make([]float32, h)
			for j := range w {
				w[j] = 0.25*b[j] + 0.75*f[j]
			}
			closeRows(t, fmt.Sprintf("row %d", r), rowOf(got[name], h, r), w)
		}
	}
	for r := 66; r < 80; r++ {
		w := make([]float32, h)
		for j := range w {
			w[j] = float32(0.25*meanB[j] + 0.75*meanF[j])
		}
		closeRows(t, fmt.Sprintf("padding row %d", r), rowOf(got[name], h, r), w)
	}
}

// TestTokenizerErrors: a tokenizer source without tokenizer.json, and a
// token source that lacks the token, are errors naming the model.
func TestTokenizerErrors(t *testing.T) {
	tests := []struct {
		name, cfg string
		prep      func(root string)
		want      []string
	}{
		{"sentencepiece only", "tokenizer_source: union\n", func(root string) {
			os.Remove(filepath.Join(root, "base", "tokenizer.json"))
			os.WriteFile(filepath.Join(root, "base", "tokenizer.model"), []byte("x"), 0o644)
		}, []string{"merge.yml", "model base", "tokenizer.model", "no tokenizer.json"}},
		{"source lacks token", "tokenizer: {source: union, tokens: {\"<|im_start|>\": {source: base}}}\n", nil,
			[]string{"merge.yml", "tensor model.embed_tokens.weight", `tokenizer.tokens["<|im_start|>"].source: model base does not have the token`}},
		{"bad json", "tokenizer_source: base\n", func(root string) {
			os.WriteFile(filepath.Join(root, "ft", "tokenizer.json"), []byte("{"), 0o644)
		}, []string{"merge.yml", filepath.Join("ft", "tokenizer.json"), "unexpected end"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := vocabCase(t)
			if tt.prep != nil {
				tt.prep(root)
			}
			cfg := "merge_method: linear\nbase_model: base\nmodels:\n  - model: base\n    parameters: {weight: 1}\n  - model: ft\n    parameters: {weight: 3}\n" + tt.cfg
			writeFile(t, filepath.Join(root, "merge.yml"), cfg)
			out := filepath.Join(root, "out")
			_, err := RunFile(context.Background(), filepath.Join(root, "merge.yml"), out, Options{})
			if err == nil {
				t.Fatal("merge succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if _, serr := os.Stat(out); !os.IsNotExist(serr) {
				t.Errorf("output written despite the error")
			}
		})
	}
}

// mergeRows runs cfg over vocabCase (after prep) and returns the output
// directory, its vocabulary and its embed_tokens with the inputs'.
func mergeRows(t *testing.T, cfg string, prep func(root string), opt Options) (out string, v map[string]int, got, base, ft []float32) {
	t.Helper()
	root := vocabCase(t)
	if prep != nil {
		prep(root)
	}
	writeFile(t, filepath.Join(root, "merge.yml"), "merge_method: linear\nbase_model: base\nmodels:\n  - model: base\n    parameters: {weight: 1}\n  - model: ft\n    parameters: {weight: 3}\n"+cfg)
	out = filepath.Join(root, "out")
	if _, err := RunFile(context.Background(), filepath.Join(root, "merge.yml"), out, opt); err != nil {
		t.Fatal(err)
	}
	const name = "model.embed_tokens.weight"
	return out, outVocab(t, out), readTensors(t, filepath.Join(out, "model.safetensors"))[name],
		readTensors(t, filepath.Join(root, "base", "model.safetensors"))[name], readTensors(t, filepath.Join(root, "ft", "model.safetensors"))[name]
}

// TestTokenizerSources: tokenizer_source: base and a model, a base
// stripped of the tokens beyond its vocab_size, and --no-copy-tokenizer
// (a built vocabulary is written all the same).
func TestTokenizerSources(t *testing.T) {
	h := synth.Pico().Hidden
	check := func(t *testing.T, got, base, ft []float32, n int, rows func(r int) (b, f []float32)) {
		t.Helper()
		if len(got) != n*h {
			t.Fatalf("embed_tokens has %d rows, want %d", len(got)/h, n)
		}
		for r := range n {
			b, f := rows(r)
			w := make([]float32, h)
			for j := range w {
				w[j] = 0.25*b[j] + 0.75*f[j]
			}
			closeRows(t, fmt.Sprintf("row %d", r), rowOf(got, h, r), w)
		}
	}
	t.Run("base", func(t *testing.T) {
		_, v, got, base, ft := mergeRows(t, "tokenizer_source: base\n", nil, Options{NoTokenizer: true})
		if len(v) != 64 || v["<|base|>"] != 63 {
			t.Errorf("vocabulary: %d tokens, <|base|> = %d", len(v), v["<|base|>"])
		}
		check(t, got, base, ft, 64, func(r int) ([]float32, []float32) {
			if r == 63 {
				return rowOf(base, h, 63), rowOf(ft, h, 65)
			}
			return rowOf(base, h, r), rowOf(ft, h, r)
		})
	})
	t.Run("model", func(t *testing.T) {
		var mu sync.Mutex
		var warns []string
		out, v, got, base, ft := mergeRows(t, "tokenizer_source: ft\n", nil, Options{Warn: func(m string) {
			mu.Lock()
			warns = append(warns, m)
			mu.Unlock()
		}})
		for _, w := range []string{`tokenizer: model ft: token "<UNUSED>" has id 66, beyond its vocab_size 66 (padding?); treated as missing`,
			`tokenizer: token "<UNUSED>" is in none of the models; its embedding is zero`} {
			if !slices.Contains(warns, w) {
				t.Errorf("warning %q missing from %q", w, warns)
			}
		}
		// the fine-tune's whole tokenizer, <UNUSED> included (it lies beyond
		// the fine-tune's vocab_size and is in no model: a zero row)
		if len(v) != 67 || v["<|im_start|>"] != 63 || v["<|base|>"] != 65 || v["<UNUSED>"] != 66 {
			t.Errorf("vocabulary = %v", v)
		}
		hf, err := readHFConfig(out)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := hf.vocabSize(); n != 67 {
			t.Errorf("vocab_size = %d, want 67", n)
		}
		check(t, got, base, ft, 67, func(r int) ([]float32, []float32) {
			switch {
			case r == 63 || r == 64:
				return rowOf(ft, h, r), rowOf(ft, h, r)
			case r == 65:
				return rowOf(base, h, 63), rowOf(ft, h, 65)
			case r == 66:
				return make([]float32, h), make([]float32, h)
			}
			return rowOf(base, h, r), rowOf(ft, h, r)
		})
	})
	t.Run("tokenizer-only model", func(t *testing.T) {
		// a directory holding only the fine-tune's tokenizer and config.json
		// lends its vocabulary: the same merge as tokenizer_source: ft
		ref, _, _, _, _ := mergeRows(t, "tokenizer_source: ft\n", nil, Options{})
		out, v, _, _, _ := mergeRows(t, "tokenizer_source: tok\n", func(root string) {
			tok := filepath.Join(root, "tok")
			if err := os.MkdirAll(tok, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"tokenizer.json", "tokenizer_config.json", "config.json"} {
				data, err := os.ReadFile(filepath.Join(root, "ft", f))
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(tok, f), string(data))
			}
		}, Options{})
		if len(v) != 67 {
			t.Errorf("vocabulary has %d tokens, want 67", len(v))
		}
		for _, f := range []string{"model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
			a, err := os.ReadFile(filepath.Join(ref, f))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(out, f))
			if err != nil {
				t.Fatal(err)
			}
			if string(a) != string(b) {
				t.Errorf("%s differs from the merge with tokenizer_source: ft", f)
			}
		}
	})
	t.Run("stripped base", func(t *testing.T) {
		out, v, got, base, ft := mergeRows(t, "tokenizer_source: union\n", func(root string) {
			setConfigKey(t, filepath.Join(root, "base"), "vocab_size", 62)
		}, Options{})
		want := map[string]int{"_tok_61": 61, "_tok_62": 62, "<|im_start|>": 63, "<|im_end|>": 64, "<|base|>": 65}
		for tok, id := range want {
			if v[tok] != id {
				t.Errorf("token %q has id %d, want %d", tok, v[tok], id)
			}
		}
		data, err := os.ReadFile(filepath.Join(out, "tokenizer.json"))
		if err != nil {
			t.Fatal(err)
		}
		k, err := tokenizer.Parse(data, "out")
		if err != nil {
			t.Fatal(err)
		}
		if len(k.Vocab) != 62 || len(k.Merges) != 1 {
			t.Errorf("tokenizer.json: %d model tokens (want 62), merges %s (want the one without _tok_62)", len(k.Vocab), k.Merges)
		}
		check(t, got, base, ft, 66, func(r int) ([]float32, []float32) {
			switch {
			case r == 62 || r == 65: // the base's tokens beyond its vocab_size are not its own
				return rowOf(ft, h, r), rowOf(ft, h, r)
			case r == 63 || r == 64:
				return rowOf(ft, h, r), rowOf(ft, h, r)
			}
			return rowOf(base, h, r), rowOf(ft, h, r)
		})
	})
}
