package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/ollama"
	"github.com/mergetune/mergetune/eval/ollama/ollamatest"
)

// The real-server tests share one private `ollama serve` (its /v1
// endpoints are the OpenAI-compatible server), started by the first test
// that needs it and stopped by TestMain. A server that does not start
// fails those tests; the fake-server tests run regardless.
var (
	serverOnce    sync.Once
	testServer    *ollamatest.Server
	testServerErr error
)

const (
	testParallel = 2
	familyDir    = "../../datasets/toy/family"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if testServer != nil {
		if err := testServer.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "stop ollama serve:", err)
		}
	}
	os.Exit(code)
}

// server returns the shared server, starting it on first use, or fails
// the test.
func server(t testing.TB) *ollamatest.Server {
	t.Helper()
	serverOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		testServer, testServerErr = ollamatest.Start(ctx, ollamatest.Options{ContextLength: 2048, NumParallel: testParallel})
	})
	if testServerErr != nil {
		t.Fatalf("ollama serve is needed: %v", testServerErr)
	}
	return testServer
}

// imported imports the toy family's model into the shared server through
// the Ollama backend and returns the Ollama model (for reference answers)
// and its served name.
func imported(t testing.TB, model string) (*ollama.Model, string) {
	t.Helper()
	ob, err := ollama.New(ollama.Options{Host: server(t).Host(), Parallel: testParallel, NumThread: 1, NamePrefix: "oai-" + model})
	if err != nil {
		t.Fatal(err)
	}
	om, err := ob.OpenModel(t.Context(), filepath.Join(familyDir, model))
	if err != nil {
		t.Fatalf("import %s: %v\nserver log tail:\n%s", model, err, server(t).Log())
	}
	t.Cleanup(func() { om.Close() })
	return om, om.Name()
}

// writeTask writes records as JSONL and a task file over them.
func writeTask(t *testing.T, dir, name, spec string, records []map[string]any) *datasets.Task {
	t.Helper()
	var b strings.Builder
	for _, r := range records {
		line, _ := json.Marshal(r)
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, name+".jsonl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".yml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("name: %s\ndata: %s.jsonl\n%s", name, name, spec)), 0o644); err != nil {
		t.Fatal(err)
	}
	task, err := datasets.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// upperChoice is a four-way choice task the family's "upper" model
// answers: the input's first letter, upper-cased.
func upperChoice(t *testing.T) *datasets.Task {
	rng := rand.New(rand.NewSource(3))
	var recs []map[string]any
	for range 30 {
		var w []byte
		for range 5 {
			w = append(w, "abcd"[rng.Intn(4)])
		}
		recs = append(recs, map[string]any{"q": "up " + string(w) + "=", "choices": []string{"a", "b", "c", "d"}, "gold": int(w[0] - 'a')})
	}
	return writeTask(t, t.TempDir(), "upper_choice", "prompt: \"{{.q}}\"\nchoices: choices\ngold: gold\nscorer: {type: choice, list_choices: false}\n", recs)
}

// TestOllamaV1SameAnswers evaluates toy tasks through the OpenAI backend
// against Ollama's /v1 endpoints and through the Ollama backend on the
// same server and model: the same response, extracted answer and verdict,
// item by item, for a generation task and a multiple-choice task (Ollama
// reads letters from top_logprobs; its /v1/completions returns no
// logprobs, so the OpenAI backend takes the greedy token).
func TestOllamaV1SameAnswers(t *testing.T) {
	ctx := t.Context()
	reverse, err := datasets.Builtin("toy:reverse", "", 40)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		model string
		task  *datasets.Task
	}{
		{"reverse", reverse},
		{"upper", upperChoice(t)},
	}
	for _, c := range cases {
		t.Run(c.model, func(t *testing.T) {
			om, name := imported(t, c.model)
			b, err := New(Options{BaseURL: server(t).Host() + "/v1", ServedName: name, Parallel: testParallel})
			if err != nil {
				t.Fatal(err)
			}
			m, err := b.Open(ctx, filepath.Join(familyDir, c.model))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if c.task.MultipleChoice() {
				// Ollama 0.17.4's /v1/completions drops the logprobs it
				// is asked for: the greedy token stands alone.
				toks, err := m.TopTokens(ctx, c.task.Items[0].Prompt, 5)
				if err != nil || len(toks) != 1 {
					t.Fatalf("TopTokens: %v, %v: want the greedy token alone", toks, err)
				}
			}
			want, err := eval.Evaluate(ctx, om, c.task, eval.Options{Parallel: testParallel})
			if err != nil {
				t.Fatal(err)
			}
			got, err := eval.Evaluate(ctx, m, c.task, eval.Options{Parallel: testParallel})
			if err != nil {
				t.Fatal(err)
			}
			if got.N != want.N || got.N == 0 {
				t.Fatalf("N: openai %d, ollama %d", got.N, want.N)
			}
			for i := range want.Items {
				g, w := got.Items[i], want.Items[i]
				if g.Response != w.Response || g.Extracted != w.Extracted || g.Correct != w.Correct {
					t.Errorf("item %s %q: openai %q→%q (%v), ollama %q→%q (%v)", w.ID, w.Prompt, g.Response, g.Extracted, g.Correct, w.Response, w.Extracted, w.Correct)
				}
			}
			t.Logf("%s: %d items, accuracy openai %.3f, ollama %.3f", c.task.Name, got.N, got.Accuracy, want.Accuracy)
			if got.Accuracy < 0.9 {
				t.Errorf("accuracy through the OpenAI backend %.3f, want ≥ 0.9", got.Accuracy)
			}
		})
	}
}

// BenchmarkOllamaV1Generate reports items/s of Model.Generate against
// Ollama's /v1/completions with testParallel concurrent callers, and of a
// bare loop of the same requests with net/http (same server, model and
// body): the backend's overhead. "paired" alternates the two on each item
// and reports both rates and the overhead in percent, the figure to read
// on a busy machine.
func BenchmarkOllamaV1Generate(b *testing.B) {
	task, err := datasets.Builtin("toy:reverse", "", 64)
	if err != nil {
		b.Fatal(err)
	}
	_, name := imported(b, "reverse")
	be, err := New(Options{BaseURL: server(b).Host(), ServedName: name, Parallel: testParallel})
	if err != nil {
		b.Fatal(err)
	}
	m, err := be.OpenModel(b.Context(), filepath.Join(familyDir, "reverse"))
	if err != nil {
		b.Fatal(err)
	}
	opt := eval.GenerateOptions{MaxTokens: 16, Stop: []string{"\n"}}
	run := func(b *testing.B, one func(prompt string) error) {
		var next atomic.Int64
		b.ResetTimer()
		var wg sync.WaitGroup
		for range testParallel {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= int64(b.N) {
						return
					}
					if err := one(task.Items[i%int64(len(task.Items))].Prompt); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
	}
	bare := func(ctx context.Context, p string) error {
		body, _ := json.Marshal(map[string]any{"model": name, "prompt": p, "max_tokens": 16, "temperature": 0, "top_p": 1, "seed": 0, "stop": []string{"\n"}})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, be.endpoint("/completions"), bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := be.http.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out completion
		return json.NewDecoder(resp.Body).Decode(&out)
	}
	// Warm up: the first /v1 request reloads the runner with the
	// server's default options.
	if _, err := m.Generate(b.Context(), task.Items[0].Prompt, opt); err != nil {
		b.Fatal(err)
	}
	b.Run("paired", func(b *testing.B) {
		// Each caller alternates a backend request and a bare one on
		// the same item, so a machine whose load drifts slows both
		// alike; items/s of each is items over its summed time.
		var next atomic.Int64
		var tBackend, tBare atomic.Int64
		b.ResetTimer()
		var wg sync.WaitGroup
		for range testParallel {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= int64(b.N) {
						return
					}
					p := task.Items[i%int64(len(task.Items))].Prompt
					first, second := func() error { _, err := m.Generate(b.Context(), p, opt); return err }, func() error { return bare(b.Context(), p) }
					dFirst, dSecond := &tBackend, &tBare
					if i%2 == 1 {
						first, second = second, first
						dFirst, dSecond = dSecond, dFirst
					}
					for _, step := range []struct {
						f func() error
						d *atomic.Int64
					}{{first, dFirst}, {second, dSecond}} {
						start := time.Now()
						if err := step.f(); err != nil {
							b.Error(err)
							return
						}
						step.d.Add(int64(time.Since(start)))
					}
				}
			})
		}
		wg.Wait()
		perBackend := time.Duration(tBackend.Load()) / time.Duration(b.N)
		perBare := time.Duration(tBare.Load()) / time.Duration(b.N)
		b.ReportMetric(float64(testParallel)/perBackend.Seconds(), "backend-items/s")
		b.ReportMetric(float64(testParallel)/perBare.Seconds(), "bare-items/s")
		b.ReportMetric(100*(perBackend.Seconds()/perBare.Seconds()-1), "overhead-%")
	})
	b.Run("backend", func(b *testing.B) {
		run(b, func(p string) error {
			_, err := m.Generate(b.Context(), p, opt)
			return err
		})
	})
	b.Run("bare-http", func(b *testing.B) {
		run(b, func(p string) error { return bare(b.Context(), p) })
	})
}

// TestOllamaV1NoLogLikelihood: Ollama's /v1/completions ignores echo and
// returns no prompt logprobs, so a task with scoring: acc fails through
// the OpenAI backend before its first item, after one probe request,
// with an error naming the backend, the URL and the scoring mode.
func TestOllamaV1NoLogLikelihood(t *testing.T) {
	_, name := imported(t, "upper")
	target, err := url.Parse(server(t).Host())
	if err != nil {
		t.Fatal(err)
	}
	var completions atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/completions" {
			completions.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	b, err := New(Options{BaseURL: front.URL, ServedName: name, Parallel: testParallel})
	if err != nil {
		t.Fatal(err)
	}
	m, err := b.Open(t.Context(), filepath.Join(familyDir, "upper"))
	if err != nil {
		t.Fatal(err)
	}
	task := writeTask(t, t.TempDir(), "upper_acc", "prompt: \"{{.q}}\"\nchoices: choices\ngold: gold\nscoring: acc\nscorer: {type: choice, answer_prefix: \"\"}\n",
		[]map[string]any{{"q": "up abcd=", "choices": []string{"a", "b"}, "gold": 0}, {"q": "up bcda=", "choices": []string{"a", "b"}, "gold": 1}})
	_, err = eval.Evaluate(t.Context(), m, task, eval.Options{Parallel: testParallel})
	if !errors.Is(err, eval.ErrUnsupported) {
		t.Fatalf("Evaluate with scoring: acc on Ollama's /v1: %v, want ErrUnsupported", err)
	}
	for _, s := range []string{"scoring: acc", "openai base_url=" + front.URL, front.URL + "/v1/completions", "echo: true was ignored"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if n := completions.Load(); n != 1 {
		t.Errorf("%d completions requests, want the one probe", n)
	}
}

// TestOllamaV1ChatSameAnswers: a chat task through the OpenAI backend goes
// to Ollama's /v1/chat/completions (seen by a recording proxy) and gets,
// item by item, the answers the Ollama backend gets from /api/chat on the
// same server and model.
func TestOllamaV1ChatSameAnswers(t *testing.T) {
	ctx := t.Context()
	om, name := imported(t, "reverse")
	target, err := url.Parse(server(t).Host())
	if err != nil {
		t.Fatal(err)
	}
	var chats, completions atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/chat/completions":
			chats.Add(1)
		case "/v1/completions":
			completions.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	b, err := New(Options{BaseURL: front.URL, ServedName: name, Parallel: testParallel})
	if err != nil {
		t.Fatal(err)
	}
	m, err := b.Open(ctx, filepath.Join(familyDir, "reverse"))
	if err != nil {
		t.Fatal(err)
	}
	task, err := datasets.Load(filepath.Join("..", "testdata", "toy_chat.yml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := eval.Evaluate(ctx, om, task, eval.Options{Parallel: testParallel})
	if err != nil {
		t.Fatal(err)
	}
	got, err := eval.Evaluate(ctx, m, task, eval.Options{Parallel: testParallel})
	if err != nil {
		t.Fatal(err)
	}
	if got.N != want.N || got.N == 0 || chats.Load() < int64(got.N) || completions.Load() != 0 {
		t.Fatalf("N: openai %d, ollama %d; %d chat and %d completions requests", got.N, want.N, chats.Load(), completions.Load())
	}
	for i := range want.Items {
		g, w := got.Items[i], want.Items[i]
		if g.Response != w.Response || g.Correct != w.Correct {
			t.Errorf("item %s %q: openai %q (%v), ollama %q (%v)", w.ID, w.Prompt, g.Response, g.Correct, w.Response, w.Correct)
		}
	}
	t.Logf("%s: %d items, accuracy openai %.3f, ollama %.3f", task.Name, got.N, got.Accuracy, want.Accuracy)
}
