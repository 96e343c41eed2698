package ollama

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/datasets/toy"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/runner"
)

const (
	fixtures  = "../runner/testdata"
	familyDir = "../../datasets/toy/family"
)

var fixtureNames = []string{"f32_mha", "f32_tied_gqa", "bf16_untied", "f16_sharded_bpe"}

// listed reports whether the server lists the model name.
func listed(t *testing.T, name string) bool {
	t.Helper()
	l, err := server(t).Client().List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range l.Models {
		if m.Name == name || m.Model == name {
			return true
		}
	}
	return false
}

// TestFixturesTopTokensMatchRunner imports each of the built-in runner's
// fixture checkpoints (F32, F16 sharded, BF16 with head_dim, tied and GQA
// variants; random weights) and checks that the most likely next token
// and its log-probability agree with the runner's wherever the runner's
// top token is printable ASCII (Ollama cannot return single bytes of
// multi-byte characters) and leads the second by a clear margin (the
// converter stores F32 weights as F16).
func TestFixturesTopTokensMatchRunner(t *testing.T) {
	ctx := t.Context()
	b := backend(t, Options{})
	rb := runner.New(runner.Options{})
	prompts := []string{"rev abc=", "the other one", "Hello, world!\n12+3=", "a", "ab", "abc", "xyz", "hello",
		"The cat", "1+1=", "up abc=", "rot xyz=", "fst qwerty=", "lst abc=", "max 123=", "cnt abca=",
		"Q: what?\nA:", "foo bar baz", "0123456789", "ABCDEF", "!!", "zz top", "len hello=", "maj xyx="}
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(fixtures, name)
			m := open(t, b, dir)
			ref, err := rb.OpenModel(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			compared := 0
			for _, p := range prompts {
				want, err := ref.TopTokens(ctx, p, 2)
				if err != nil {
					t.Fatal(err)
				}
				if !printable(want[0].Token) || want[0].Logprob-want[1].Logprob < 0.1 {
					continue
				}
				got, err := m.TopTokens(ctx, p, 5)
				if err != nil {
					t.Fatalf("TopTokens(%q): %v", p, err)
				}
				if len(got) == 0 || got[0].Token != want[0].Token {
					t.Errorf("TopTokens(%q)[0] = %v, runner %v", p, got, want)
					continue
				}
				if d := math.Abs(got[0].Logprob - want[0].Logprob); d > 0.05 {
					t.Errorf("TopTokens(%q)[0] logprob %.4f, runner %.4f", p, got[0].Logprob, want[0].Logprob)
				}
				// Greedy generation of one token is the same choice.
				g, err := m.Generate(ctx, p, eval.GenerateOptions{MaxTokens: 1})
				if err != nil {
					t.Fatal(err)
				}
				if g != want[0].Token {
					t.Errorf("Generate(%q, 1 token) = %q, want %q", p, g, want[0].Token)
				}
				compared++
			}
			t.Logf("%d of %d prompts compared", compared, len(prompts))
			if compared < 3 {
				t.Errorf("only %d prompts had a clear printable top token", compared)
			}
		})
	}
}

func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// TestFamilyMatchesRunner imports every fine-tune of the toy family, scores
// it on test items of its own task through Ollama and compares each greedy
// answer with the built-in runner's: the answers must agree on ≥ 99% of the
// items, each task's score must be the runner's (one item of slack), and
// the fine-tunes' mean accuracy ≥ 0.85. It also logs the import time and
// the items per second.
func TestFamilyMatchesRunner(t *testing.T) {
	if _, err := os.Stat(filepath.Join(familyDir, "base", "config.json")); err != nil {
		t.Fatalf("the toy family (datasets/toy/family, part of the repository) is missing: %v", err)
	}
	ctx := t.Context()
	const perTask = 25
	b := backend(t, Options{})
	rb := runner.New(runner.Options{})
	opt := eval.GenerateOptions{MaxTokens: 16, Stop: []string{"\n"}}
	var total, agree int
	var accSum float64
	var importTime, genTime time.Duration
	var ggufBytes int64
	tasks := toy.Tasks()
	for _, task := range tasks {
		dir := filepath.Join(familyDir, task.Name)
		if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
			t.Errorf("%s: %v", task.Name, err)
			continue
		}
		items, err := task.Items(toy.SplitTest, perTask)
		if err != nil {
			t.Fatal(err)
		}
		m := open(t, b, dir)
		importTime += m.Stats().Total()
		ggufBytes += m.Stats().GGUFBytes
		ref, err := rb.OpenModel(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		answers := make([]string, len(items))
		errs := make([]error, len(items))
		start := time.Now()
		var wg sync.WaitGroup
		for i, it := range items {
			wg.Go(func() { answers[i], errs[i] = m.Generate(ctx, it.Prompt, opt) })
		}
		wg.Wait()
		genTime += time.Since(start)
		correct, refCorrect := 0, 0
		for i, it := range items {
			if errs[i] != nil {
				t.Fatalf("%s: Generate(%q): %v", task.Name, it.Prompt, errs[i])
			}
			want, err := ref.Generate(ctx, it.Prompt, opt)
			if err != nil {
				t.Fatal(err)
			}
			total++
			if answers[i] == want {
				agree++
			} else {
				t.Logf("%s: %q: ollama %q, runner %q", task.Name, it.Prompt, answers[i], want)
			}
			if answers[i] == it.Target {
				correct++
			}
			if want == it.Target {
				refCorrect++
			}
		}
		ref.Close()
		// Ollama scores each fine-tune as the runner does (one item of
		// slack); the family's few weak fine-tunes (its README lists
		// them) are weak through both.
		if correct < refCorrect-1 {
			t.Errorf("%s: %d of %d correct through Ollama, %d with the runner", task.Name, correct, len(items), refCorrect)
		}
		accSum += float64(correct) / float64(len(items))
		// Free the runner slot for the next model.
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if total == 0 {
		t.Fatal("no items")
	}
	// The fine-tunes learned their tasks: the mean accuracy through
	// Ollama, each on its own task, is high.
	if mean := accSum / float64(len(tasks)); mean < 0.85 {
		t.Errorf("mean accuracy of the fine-tunes through Ollama %.3f, want ≥ 0.85", mean)
	}
	rate := float64(agree) / float64(total)
	t.Logf("%d models: import %v total (%.0f ms/model, %.1f MB GGUF, %.2f s/MB); %d items in %v: %.1f items/s (Parallel %d); agreement with the runner %.4f",
		len(tasks), importTime.Round(time.Millisecond), float64(importTime.Milliseconds())/float64(len(tasks)),
		float64(ggufBytes)/1e6, importTime.Seconds()/(float64(ggufBytes)/1e6), total, genTime.Round(time.Millisecond),
		float64(total)/genTime.Seconds(), testParallel, rate)
	if rate < 0.99 {
		t.Errorf("Ollama and the runner agree on %d of %d answers (%.3f), want ≥ 0.99", agree, total, rate)
	}
}

// TestFamilyTopTokens checks that single-token answers read from
// top_logprobs match the runner's top token on the family's "first" task.
func TestFamilyTopTokens(t *testing.T) {
	dir := filepath.Join(familyDir, "first")
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		t.Fatalf("the toy family (datasets/toy/family, part of the repository) is missing: %v", err)
	}
	ctx := t.Context()
	task, _ := toy.Lookup("first")
	items, err := task.Items(toy.SplitTest, 20)
	if err != nil {
		t.Fatal(err)
	}
	m := open(t, backend(t, Options{}), dir)
	ref, err := runner.New(runner.Options{}).OpenModel(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, it := range items {
		want, err := ref.TopTokens(ctx, it.Prompt, 3)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.TopTokens(ctx, it.Prompt, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].Token != want[0].Token || got[0].Token != it.Target {
			t.Errorf("TopTokens(%q) = %v, runner %v, target %q", it.Prompt, got, want, it.Target)
			continue
		}
		if d := math.Abs(got[0].Logprob - want[0].Logprob); d > 0.05 {
			t.Errorf("TopTokens(%q)[0] logprob %.4f, runner %.4f", it.Prompt, got[0].Logprob, want[0].Logprob)
		}
		if !(got[0].Logprob >= got[1].Logprob && got[1].Logprob >= got[2].Logprob) {
			t.Errorf("TopTokens(%q) not sorted: %v", it.Prompt, got)
		}
	}
	// k above Ollama's 20 is capped, not an error.
	got, err := m.TopTokens(ctx, items[0].Prompt, 50)
	if err != nil || len(got) != maxTopLogprobs {
		t.Errorf("TopTokens(k=50) = %d tokens, %v; want %d", len(got), err, maxTopLogprobs)
	}
}

// modelDir is a small fixture that loads fast.
func modelDir() string { return filepath.Join(fixtures, "f32_tied_gqa") }

func TestCloseDeletesModel(t *testing.T) {
	b := backend(t, Options{})
	tmp := t.TempDir() // the server runs already: only the import's temporary files go here
	t.Setenv("TMPDIR", tmp)
	m, err := b.OpenModel(t.Context(), modelDir())
	if err != nil {
		t.Fatal(err)
	}
	// the converter's GGUF and its amended copy are gone once imported
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) > 0 {
		t.Errorf("temporary files left after Open: %v", left)
	}
	if !listed(t, m.Name()) {
		t.Fatalf("%s not listed after Open", m.Name())
	}
	if !strings.HasPrefix(m.Name(), "test-testclosedeletesmodel-") {
		t.Errorf("name %q does not start with the prefix", m.Name())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if listed(t, m.Name()) {
		t.Errorf("%s still listed after Close", m.Name())
	}
	ps, err := server(t).Client().ListRunning(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ps.Models {
		if r.Name == m.Name() {
			t.Errorf("%s still loaded after Close", m.Name())
		}
	}
	if _, err := m.Generate(t.Context(), "a", eval.GenerateOptions{MaxTokens: 1}); err == nil {
		t.Error("Generate after Close succeeded")
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestKeepKeepsModel(t *testing.T) {
	b := backend(t, Options{Keep: true})
	m, err := b.OpenModel(t.Context(), modelDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !listed(t, m.Name()) {
		t.Errorf("%s not listed after Close with Keep", m.Name())
	}
	if err := server(t).Client().Delete(t.Context(), &api.DeleteRequest{Model: m.Name()}); err != nil {
		t.Fatal(err)
	}
}

// TestReopenSkipsUpload checks that a GGUF the server already holds is not
// uploaded again, and that the digest only depends on the content.
func TestReopenSkipsUpload(t *testing.T) {
	m1 := open(t, backend(t, Options{NamePrefix: "reopen-a"}), modelDir())
	m2 := open(t, backend(t, Options{NamePrefix: "reopen-b"}), modelDir())
	if m2.Stats().Uploaded {
		t.Error("the second Open uploaded the blob again")
	}
	if m1.Digest() != m2.Digest() || !strings.HasPrefix(m1.Digest(), "sha256:") {
		t.Errorf("digests %q and %q", m1.Digest(), m2.Digest())
	}
	if m1.Settings() != m2.Settings() {
		t.Errorf("settings differ: %q, %q", m1.Settings(), m2.Settings())
	}
	for _, s := range []string{"num_ctx=2048", "seed=0", "quantize=none", "engine=llamacpp", "raw"} {
		if !strings.Contains(m1.Settings(), s) {
			t.Errorf("Settings() = %q lacks %q", m1.Settings(), s)
		}
	}
}

func TestQuantizeQ8(t *testing.T) {
	dir := filepath.Join(familyDir, "reverse")
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		dir = filepath.Join(fixtures, "f32_mha") // F32 → F16 → Q8_0
	}
	plain := open(t, backend(t, Options{NamePrefix: "plain"}), dir)
	m := open(t, backend(t, Options{Quantize: "q8_0"}), dir)
	show, err := server(t).Client().Show(t.Context(), &api.ShowRequest{Model: m.Name()})
	if err != nil {
		t.Fatal(err)
	}
	if show.Details.QuantizationLevel != "Q8_0" {
		t.Errorf("quantization level %q, want Q8_0", show.Details.QuantizationLevel)
	}
	if m.Digest() == plain.Digest() {
		t.Error("the quantized model has the digest of the unquantized GGUF")
	}
	if !strings.Contains(m.Settings(), "quantize=q8_0") {
		t.Errorf("Settings() = %q", m.Settings())
	}
	if !strings.Contains(m.Name(), "q8_0") {
		t.Errorf("Name() = %q", m.Name())
	}
	if strings.HasSuffix(dir, "reverse") {
		got, err := m.Generate(t.Context(), "rev abcd=", eval.GenerateOptions{MaxTokens: 8, Stop: []string{"\n"}})
		if err != nil || got != "dcba" {
			t.Errorf("quantized Generate = %q, %v; want dcba", got, err)
		}
	} else if _, err := m.Generate(t.Context(), "abc", eval.GenerateOptions{MaxTokens: 4}); err != nil {
		t.Error(err)
	}
}

// TestQuantizedCloseDropsSource: the server keeps the unquantized blob a
// quantized model was created from after the model is deleted; Close
// drops it, unless another model still holds it.
func TestQuantizedCloseDropsSource(t *testing.T) {
	dir := filepath.Join(familyDir, "succ")
	plain := open(t, backend(t, Options{NamePrefix: "src-plain"}), dir)
	m := open(t, backend(t, Options{NamePrefix: "src-q8", Quantize: "q8_0"}), dir)
	if m.source != plain.Digest() {
		t.Fatalf("quantized model's source %q, the plain model's digest %q", m.source, plain.Digest())
	}
	blob := filepath.Join(server(t).Models, "blobs", strings.ReplaceAll(m.source, ":", "-"))
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(blob); err != nil {
		t.Errorf("the blob the plain model holds is gone after closing the quantized one: %v", err)
	}
	if err := plain.Close(); err != nil {
		t.Fatal(err)
	}
	q := open(t, backend(t, Options{NamePrefix: "src-q8-alone", Quantize: "q8_0"}), dir)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(blob); !os.IsNotExist(err) {
		t.Errorf("the unquantized blob %s outlives the quantized model (%v)", blob, err)
	}
	ms, err := server(t).Client().List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ms.Models {
		if strings.HasPrefix(x.Name, "src-") {
			t.Errorf("model %s left on the server", x.Name)
		}
	}
}

// TestOverlongPromptIsAnError checks that a prompt longer than the context
// fails (truncate false) instead of being cut, and is not retried.
func TestOverlongPromptIsAnError(t *testing.T) {
	log, hc := newRequestLog()
	m := open(t, backend(t, Options{Backoff: time.Second, HTTPClient: hc}), modelDir()) // context 64
	log.take()
	_, err := m.Generate(t.Context(), strings.Repeat("abcd ", 40), eval.GenerateOptions{MaxTokens: 2})
	if err == nil || !strings.Contains(err.Error(), "exceeds the context length") || !errors.Is(err, eval.ErrContextOverflow) {
		t.Fatalf("Generate(over-long prompt) error = %v, want one wrapping eval.ErrContextOverflow", err)
	}
	if whats, _ := log.take(); len(whats) != 1 {
		t.Errorf("the over-long prompt was sent as %q, want one request (no retry)", whats)
	}
	if _, err := m.TopTokens(t.Context(), strings.Repeat("abcd ", 40), 5); !errors.Is(err, eval.ErrContextOverflow) {
		t.Errorf("TopTokens(over-long prompt) error = %v, want one wrapping eval.ErrContextOverflow", err)
	}
	// The evaluator cuts such an item from the left until the server takes
	// it, or skips it (long_items: skip); the run goes on either way.
	for _, policy := range []string{datasets.LongItemsTruncate, datasets.LongItemsSkip} {
		task := &datasets.Task{Name: "long", Split: datasets.SplitTune, Scorer: &datasets.ExactScorer{}, MaxTokens: 2,
			LongItems: policy, Items: []datasets.Item{{ID: "long", Prompt: strings.Repeat("abcd ", 40), Target: "x"}, {ID: "short", Prompt: "abcd", Target: "y"}}}
		res, err := eval.Evaluate(t.Context(), m, task, eval.Options{})
		if err != nil {
			t.Fatalf("%s: the over-long item failed the run: %v", policy, err)
		}
		it := res.Items[0]
		switch {
		case policy == datasets.LongItemsTruncate && (it.Long != eval.LongTruncated || res.N != 2 || !strings.HasSuffix(strings.Repeat("abcd ", 40), it.Prompt)),
			policy == datasets.LongItemsSkip && (it.Long != eval.LongSkipped || res.N != 1 || res.Skipped != 1):
			t.Errorf("%s: item %+v, N %d", policy, it, res.N)
		}
	}
	// A prompt that fits still works.
	if _, err := m.Generate(t.Context(), "abcd", eval.GenerateOptions{MaxTokens: 2}); err != nil {
		t.Error(err)
	}
}

// TestGenerateStopsAtContext checks that MaxTokens 0 generates until the
// context is full and stops there (no context shift).
func TestGenerateStopsAtContext(t *testing.T) {
	m := open(t, backend(t, Options{}), modelDir()) // context 64
	done := make(chan struct{})
	var got string
	var err error
	go func() {
		defer close(done)
		got, err = m.Generate(t.Context(), "rev abc=", eval.GenerateOptions{})
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Generate with MaxTokens 0 did not stop")
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(got) > 64 {
		t.Errorf("generated %d bytes past a context of 64 tokens", len(got))
	}
}

// TestLogLikelihoodUnsupported: Ollama has no prompt logprobs, so its
// models do not declare eval.LogLikelihooder and a task scored by
// log-likelihood is refused with an error naming the task and suggesting
// letter scoring, before any request.
func TestLogLikelihoodUnsupported(t *testing.T) {
	m := open(t, backend(t, Options{}), modelDir())
	if _, ok := any(m).(eval.LogLikelihooder); ok {
		t.Fatal("ollama.Model implements eval.LogLikelihooder")
	}
	task, err := datasets.Load(filepath.Join("..", "testdata", "toy_acc_norm.yml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = eval.Evaluate(t.Context(), m, task, eval.Options{})
	if !errors.Is(err, eval.ErrUnsupported) || !strings.Contains(err.Error(), "task toy_acc_norm") || !strings.Contains(err.Error(), "scoring: letter") {
		t.Errorf("Evaluate(acc_norm task) error = %v, want ErrUnsupported naming the task and scoring: letter", err)
	}
}

// TestContextCancel checks that a cancelled context ends a request.
func TestContextCancel(t *testing.T) {
	m := open(t, backend(t, Options{}), modelDir())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := m.Generate(ctx, "a", eval.GenerateOptions{MaxTokens: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("Generate with a cancelled context: %v", err)
	}
}
