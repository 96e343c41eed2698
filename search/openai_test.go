package search

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/runner"
)

// candidateServer is an OpenAI-compatible server that serves, as "cand",
// whatever model its candidate directory (a link mergetune points at each
// candidate) holds, answering with the built-in runner: how vLLM serves
// the directory its --model names.
func candidateServer(t *testing.T, candidateDir string) *httptest.Server {
	var mu sync.Mutex
	models := map[string]eval.Model{}
	rb := runner.New(runner.Options{})
	open := func(ctx context.Context) (eval.Model, error) {
		target, err := os.Readlink(candidateDir)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if m, ok := models[target]; ok {
			return m, nil
		}
		m, err := rb.Open(ctx, target)
		if err != nil {
			return nil, err
		}
		models[target] = m
		return m, nil
	}
	t.Cleanup(func() {
		for _, m := range models {
			m.Close()
		}
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/models":
			json.NewEncoder(w).Encode(map[string]any{"data": []any{map[string]string{"id": "cand"}}})
		case "/v1/completions":
			var req struct {
				Model     string   `json:"model"`
				Prompt    string   `json:"prompt"`
				MaxTokens int      `json:"max_tokens"`
				Stop      []string `json:"stop"`
				Logprobs  *int     `json:"logprobs"`
			}
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "cand" {
				http.Error(w, `{"error": {"message": "bad request"}}`, http.StatusBadRequest)
				return
			}
			m, err := open(r.Context())
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			choice := map[string]any{}
			if req.Logprobs != nil {
				toks, err := m.TopTokens(r.Context(), req.Prompt, *req.Logprobs)
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				top := map[string]float64{}
				for _, tk := range toks {
					top[tk.Token] = tk.Logprob
				}
				choice["text"] = toks[0].Token
				choice["logprobs"] = map[string]any{"tokens": []string{toks[0].Token}, "top_logprobs": []any{top}}
			} else {
				out, err := m.Generate(r.Context(), req.Prompt, eval.GenerateOptions{MaxTokens: req.MaxTokens, Stop: req.Stop})
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				choice["text"] = out
			}
			json.NewEncoder(w).Encode(map[string]any{"choices": []any{choice}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestOpenAIEvaluator runs a study whose evaluator is an OpenAI-compatible
// server reading each candidate from candidate_dir after a reload hook:
// the trials score as with the built-in evaluator, the hook sees every
// candidate; a hook that fails for the merged candidates (not the
// baselines) marks their trials failed with its stderr.
func TestOpenAIEvaluator(t *testing.T) {
	const common = `method: task_arithmetic
space:
  lambda: {type: float, low: 0.3, high: 1.5}
sampler: {type: random, seed: 3}
trials: 2
`
	ref, err := Run(context.Background(), writeStudy(t, t.TempDir(), common), Options{})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	link := filepath.Join(dir, "serve", "current")
	srv := candidateServer(t, link)
	hookLog := filepath.Join(dir, "hook.log")
	s := writeStudy(t, dir, common+`evaluator: {type: openai, base_url: `+srv.URL+`, model: cand, candidate_dir: serve/current,
  reload_command: 'test -f "$1/config.json" && echo "$1" >> `+hookLog+`'}
`)
	sum, err := Run(context.Background(), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status.Complete != 2 {
		t.Fatalf("%d complete trials, want 2: %+v", sum.Status.Complete, sum.Status.Trials)
	}
	for i, r := range sum.Status.Trials {
		want := ref.Status.Trials[i]
		if r.Objective == nil || want.Objective == nil || *r.Objective != *want.Objective {
			t.Errorf("trial %d: objective %v through the server, %v built in", r.Number, r.Objective, want.Objective)
		}
	}
	hooked, _ := os.ReadFile(hookLog)
	if n := strings.Count(string(hooked), "\n"); n < 2 || !strings.Contains(string(hooked), s.WorkDir) {
		t.Errorf("the reload hook saw %q: want each candidate under %s", hooked, s.WorkDir)
	}

	dir = t.TempDir()
	s = writeStudy(t, dir, common+`evaluator: {type: openai, base_url: `+srv.URL+`, model: cand,
  reload_command: 'case "$1" in */trial-*) echo "vllm: cannot load $1" >&2; exit 1;; esac'}
`)
	sum, err = Run(context.Background(), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status.Failed != 2 {
		t.Fatalf("%d failed trials, want 2", sum.Status.Failed)
	}
	for _, r := range sum.Status.Trials {
		if !strings.Contains(r.Failure, "vllm: cannot load "+s.WorkDir) {
			t.Errorf("trial %d failure %q: want the hook's stderr", r.Number, r.Failure)
		}
	}
}
