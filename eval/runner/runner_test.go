package runner

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mergetune/mergetune/eval"
)

// Tolerances against the torch reference (testdata/make_fixtures.py):
// |got - want| <= tol * max(1, |want|) for every logit and log-likelihood.
const (
	logitTol   = 1e-4
	loglikTol  = 1e-4
	fixtureDir = "testdata"
)

// variants are the fixture models written by make_fixtures.py.
var variants = []string{"f32_mha", "bf16_untied", "f32_tied_gqa", "f16_sharded_bpe"}

type fixtureCase struct {
	Prompt          string  `json:"prompt"`
	Continuation    string  `json:"continuation"`
	PromptIDs       []int   `json:"prompt_ids"`
	ContinuationIDs []int   `json:"continuation_ids"`
	LogitsShape     [2]int  `json:"logits_shape"`
	LogitsB64       string  `json:"logits_f32le_b64"`
	LogLik          float64 `json:"loglik"`
	GreedyIDs       []int   `json:"greedy_ids"`
}

type fixture struct {
	Params int64         `json:"params"`
	Cases  []fixtureCase `json:"cases"`
}

func loadFixture(t testing.TB, variant string) fixture {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, variant, "fixture.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func (c fixtureCase) logits(t testing.TB) [][]float32 {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(c.LogitsB64)
	if err != nil {
		t.Fatal(err)
	}
	T, V := c.LogitsShape[0], c.LogitsShape[1]
	if len(raw) != 4*T*V {
		t.Fatalf("logits: %d bytes for shape %v", len(raw), c.LogitsShape)
	}
	out := make([][]float32, T)
	for i := range out {
		out[i] = make([]float32, V)
		for j := range out[i] {
			out[i][j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(i*V+j):]))
		}
	}
	return out
}

func within(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*max(1, math.Abs(want))
}

func openVariant(t testing.TB, variant string, opt Options) *Model {
	t.Helper()
	m, err := New(opt).OpenModel(context.Background(), filepath.Join(fixtureDir, variant))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestFixtures(t *testing.T) {
	ctx := context.Background()
	for _, v := range variants {
		t.Run(v, func(t *testing.T) {
			f := loadFixture(t, v)
			m := openVariant(t, v, Options{})
			if m.Params() != f.Params {
				t.Errorf("Params() = %d; want %d", m.Params(), f.Params)
			}
			for _, c := range f.Cases {
				if got := m.Encode(c.Prompt); !slices.Equal(got, c.PromptIDs) {
					t.Errorf("Encode(%q) = %v; want %v", c.Prompt, got, c.PromptIDs)
				}
				if got := m.tok.encode(c.Continuation); !slices.Equal(got, c.ContinuationIDs) {
					t.Errorf("encode(%q) = %v; want %v", c.Continuation, got, c.ContinuationIDs)
				}
				ids := append(slices.Clone(c.PromptIDs), c.ContinuationIDs...)
				got, err := m.Logits(ctx, ids)
				if err != nil {
					t.Fatal(err)
				}
				want := c.logits(t)
				if len(got) != len(want) {
					t.Fatalf("%q: %d logit rows; want %d", c.Prompt, len(got), len(want))
				}
				worst := 0.0
				for i := range want {
					for j := range want[i] {
						g, w := float64(got[i][j]), float64(want[i][j])
						worst = max(worst, math.Abs(g-w)/max(1, math.Abs(w)))
						if !within(g, w, logitTol) {
							t.Fatalf("%q: logit [%d][%d] = %v; want %v", c.Prompt, i, j, g, w)
						}
					}
				}
				t.Logf("%q: worst logit error %.2g (relative to max(1,|want|))", c.Prompt, worst)

				ll, err := m.LogLikelihood(ctx, c.Prompt, c.Continuation)
				if err != nil {
					t.Fatal(err)
				}
				if !within(ll, c.LogLik, loglikTol) {
					t.Errorf("LogLikelihood(%q, %q) = %v; want %v", c.Prompt, c.Continuation, ll, c.LogLik)
				}

				text, gen, err := m.generate(ctx, m.Encode(c.Prompt), eval.GenerateOptions{MaxTokens: len(c.GreedyIDs)})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(gen, c.GreedyIDs) {
					t.Errorf("greedy(%q) = %v; want %v", c.Prompt, gen, c.GreedyIDs)
				}
				if want := m.Decode(c.GreedyIDs); text != want {
					t.Errorf("greedy text %q; want %q", text, want)
				}
				g2, err := m.Generate(ctx, c.Prompt, eval.GenerateOptions{MaxTokens: len(c.GreedyIDs)})
				if err != nil || g2 != text {
					t.Errorf("Generate(%q) = %q, %v; want %q", c.Prompt, g2, err, text)
				}
			}
		})
	}
}

// TestThreadsAgree checks that splitting matrix products across goroutines
// gives the same logits as one goroutine.
func TestThreadsAgree(t *testing.T) {
	ctx := context.Background()
	one := openVariant(t, "f32_tied_gqa", Options{Threads: 1})
	many := openVariant(t, "f32_tied_gqa", Options{Threads: 4})
	ids := one.Encode(strings.Repeat("threads agree? ", 4)) // 60 tokens: large enough to split
	a, err := one.Logits(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	b, err := many.Logits(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Fatalf("row %d differs between 1 and 4 threads", i)
		}
	}
}

// TestIncrementalMatchesFull feeds tokens one at a time through the KV cache
// and in blocks (more than blockSize tokens) and compares with one pass.
func TestIncrementalMatchesFull(t *testing.T) {
	ctx := context.Background()
	m := openVariant(t, "f32_tied_gqa", Options{})
	// Stretch the context past blockSize to exercise several blocks.
	m.cfg.maxPos = 3*blockSize + 5
	m.initRope()
	r := rand.New(rand.NewPCG(1, 2))
	ids := make([]int, m.cfg.maxPos)
	for i := range ids {
		ids[i] = r.IntN(m.cfg.vocab)
	}
	full, err := m.Logits(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	s := m.newState(len(ids))
	for i, id := range ids {
		row, err := m.forward(ctx, s, []int{id}, 0)
		if err != nil {
			t.Fatal(err)
		}
		for j := range row {
			if !within(float64(row[j]), float64(full[i][j]), 1e-5) {
				t.Fatalf("position %d logit %d: incremental %v, full %v", i, j, row[j], full[i][j])
			}
		}
	}
}

func TestGenerateOptions(t *testing.T) {
	ctx := context.Background()
	m := openVariant(t, "f32_mha", Options{})
	f := loadFixture(t, "f32_mha")
	c := f.Cases[0]
	full := m.Decode(c.GreedyIDs) // byte tokens: one byte per token
	if len(full) != 10 {
		t.Fatalf("greedy text %q: want 10 bytes", full)
	}
	tests := []struct {
		name string
		opt  eval.GenerateOptions
		want string
	}{
		{"max tokens", eval.GenerateOptions{MaxTokens: 4}, full[:4]},
		{"one token", eval.GenerateOptions{MaxTokens: 1}, full[:1]},
		{"stop inside", eval.GenerateOptions{MaxTokens: 10, Stop: []string{full[5:7]}}, full[:strings.Index(full, full[5:7])]},
		{"stop at start", eval.GenerateOptions{MaxTokens: 10, Stop: []string{full[:2]}}, ""},
		{"earliest stop wins", eval.GenerateOptions{MaxTokens: 10, Stop: []string{full[6:8], full[2:4]}}, full[:strings.Index(full, full[2:4])]},
		{"stop absent", eval.GenerateOptions{MaxTokens: 10, Stop: []string{"\x00never\x00"}}, full},
		{"empty stop ignored", eval.GenerateOptions{MaxTokens: 10, Stop: []string{""}}, full},
		{"stop after max tokens", eval.GenerateOptions{MaxTokens: 3, Stop: []string{full[4:6]}}, full[:3]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.Generate(ctx, c.Prompt, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Generate = %q; want %q (full %q)", got, tc.want, full)
			}
		})
	}
}

func TestGenerateContext(t *testing.T) {
	ctx := context.Background()
	m := openVariant(t, "bf16_untied", Options{}) // context 48
	n := m.ContextLen()
	tests := []struct {
		name    string
		prompt  int // bytes
		max     int
		wantLen int
		wantErr bool
	}{
		{"fills the context", n - 3, 0, 3, false},
		{"max tokens beyond the context", n - 2, 10, 2, false},
		{"full prompt", n, 5, 0, false},
		{"prompt too long", n + 1, 5, 0, true},
		{"empty prompt", 0, 5, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids := m.Encode(strings.Repeat("a", tc.prompt))
			_, gen, err := m.generate(ctx, ids, eval.GenerateOptions{MaxTokens: tc.max})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v; want error %v", err, tc.wantErr)
			}
			if len(gen) != tc.wantLen {
				t.Errorf("generated %d tokens; want %d", len(gen), tc.wantLen)
			}
		})
	}
	if _, err := m.LogLikelihood(ctx, strings.Repeat("a", n), "b"); err == nil {
		t.Error("LogLikelihood beyond the context: no error")
	}
	if ll, err := m.LogLikelihood(ctx, "a", ""); err != nil || ll != 0 {
		t.Errorf("LogLikelihood of an empty continuation = %v, %v; want 0", ll, err)
	}
	if _, err := m.LogLikelihood(ctx, "", "b"); err == nil {
		t.Error("LogLikelihood with an empty prompt and no BOS: no error")
	}
}

func TestConcurrentGenerate(t *testing.T) {
	ctx := context.Background()
	m := openVariant(t, "f32_tied_gqa", Options{Threads: 2})
	prompts := []string{"rev abc=", "suc 41=", "the other one", "x", "Hello, world!\n12+3=", "zzzz", "ab ba ab", "0123456789"}
	opt := eval.GenerateOptions{MaxTokens: 12, Stop: []string{"\n"}}
	want := make([]string, len(prompts))
	for i, p := range prompts {
		var err error
		if want[i], err = m.Generate(ctx, p, opt); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	got := make([][]string, 4)
	for g := range got {
		got[g] = make([]string, len(prompts))
		wg.Go(func() {
			for i := range prompts {
				i := (i + g) % len(prompts)
				got[g][i], _ = m.Generate(ctx, prompts[i], opt)
			}
		})
	}
	wg.Wait()
	for g := range got {
		if !slices.Equal(got[g], want) {
			t.Errorf("goroutine %d: %q; want %q", g, got[g], want)
		}
	}
}

func TestCancelAndClose(t *testing.T) {
	m := openVariant(t, "f32_mha", Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Generate(ctx, "abc", eval.GenerateOptions{MaxTokens: 5}); err == nil {
		t.Error("Generate with a cancelled context: no error")
	}
	if _, err := m.Logits(context.Background(), []int{1, 300}); err == nil {
		t.Error("Logits with an out-of-vocabulary token: no error")
	}
	m.Close()
	if _, err := m.Generate(context.Background(), "abc", eval.GenerateOptions{MaxTokens: 5}); err == nil {
		t.Error("Generate after Close: no error")
	}
	if _, err := m.LogLikelihood(context.Background(), "abc", "d"); err == nil {
		t.Error("LogLikelihood after Close: no error")
	}
}

// copyVariant copies a fixture model directory into a temporary directory.
func copyVariant(t *testing.T, variant string) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join(fixtureDir, variant)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// editJSON rewrites dir/name through edit.
func editJSON(t *testing.T, dir, name string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	edit(j)
	if data, err = json.Marshal(j); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name    string
		variant string
		opt     Options
		edit    func(t *testing.T, dir string)
		want    []string // substrings of the error; "DIR" stands for the directory
	}{
		{
			name: "unsupported architecture", variant: "f32_mha",
			edit: func(t *testing.T, dir string) {
				editJSON(t, dir, "config.json", func(j map[string]any) {
					j["architectures"] = []string{"GPT2LMHeadModel"}
					j["model_type"] = "gpt2"
				})
			},
			want: []string{"DIR/config.json", `architecture "GPT2LMHeadModel" is not supported (llama only)`},
		},
		{
			name: "missing tokenizer", variant: "f32_mha",
			edit: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "tokenizer.json")) },
			want: []string{"runner: DIR: no tokenizer.json (the built-in runner needs a byte-level BPE tokenizer)"},
		},
		{
			name: "not BPE", variant: "f32_mha",
			edit: func(t *testing.T, dir string) {
				editJSON(t, dir, "tokenizer.json", func(j map[string]any) { j["model"].(map[string]any)["type"] = "Unigram" })
			},
			want: []string{"DIR/tokenizer.json", `"Unigram" is not supported`},
		},
		{
			name: "not byte-level", variant: "f32_mha",
			edit: func(t *testing.T, dir string) {
				editJSON(t, dir, "tokenizer.json", func(j map[string]any) {
					v := j["model"].(map[string]any)["vocab"].(map[string]any)
					delete(v, "Ċ") // byte 0x0a
				})
			},
			want: []string{"DIR/tokenizer.json", "not a byte-level BPE tokenizer", "0x0a"},
		},
		{
			name: "over the parameter limit", variant: "f32_tied_gqa", opt: Options{MaxParams: 50_000},
			want: []string{"DIR", "72528 parameters", "limit of 50000"},
		},
		{
			name: "missing tensor", variant: "f16_sharded_bpe",
			edit: func(t *testing.T, dir string) {
				editJSON(t, dir, "model.safetensors.index.json", func(j map[string]any) {
					delete(j["weight_map"].(map[string]any), "model.layers.1.mlp.up_proj.weight")
				})
			},
			want: []string{"DIR", `missing tensor "model.layers.1.mlp.up_proj.weight"`},
		},
		{
			name: "wrong shape", variant: "f32_mha",
			edit: func(t *testing.T, dir string) {
				editJSON(t, dir, "config.json", func(j map[string]any) { j["intermediate_size"] = 65 })
			},
			want: []string{`"model.layers.0.mlp.gate_proj.weight" has shape [64 32]; want [65 32]`},
		},
		{
			name: "bad head count", variant: "f32_mha",
			edit: func(t *testing.T, dir string) {
				editJSON(t, dir, "config.json", func(j map[string]any) { j["num_key_value_heads"] = 3 })
			},
			want: []string{"DIR/config.json", "not a multiple"},
		},
		{
			name: "no weights", variant: "f32_mha",
			edit: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "model.safetensors")) },
			want: []string{"runner: open weights"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyVariant(t, tc.variant)
			if tc.edit != nil {
				tc.edit(t, dir)
			}
			m, err := New(tc.opt).Open(context.Background(), dir)
			if err == nil {
				m.Close()
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "DIR", dir); !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
