package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/runner"
)

// TestEvalCommandOpenAI: `eval --base-url URL --served-name NAME` scores
// through an OpenAI-compatible server (here one answering with the
// built-in runner) and prints the same table as --backend builtin; a
// missing served name or a server that does not serve it is an error.
func TestEvalCommandOpenAI(t *testing.T) {
	model := filepath.Join("..", "..", "datasets", "toy", "family", "reverse")
	m, err := runner.New(runner.Options{}).Open(t.Context(), model)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/models":
			json.NewEncoder(w).Encode(map[string]any{"data": []any{map[string]string{"id": "rev"}}})
		case "/v1/completions":
			var req struct {
				Prompt    string   `json:"prompt"`
				MaxTokens int      `json:"max_tokens"`
				Stop      []string `json:"stop"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			out, err := m.Generate(r.Context(), req.Prompt, eval.GenerateOptions{MaxTokens: req.MaxTokens, Stop: req.Stop})
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"text": out}}})
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	want, err := runCLI(t, "eval", "--model", model, "--tasks", "toy:reverse", "--db", filepath.Join(dir, "a.db"), "--limit", "20", "-q")
	if err != nil {
		t.Fatal(err)
	}
	got, err := runCLI(t, "eval", "--model", model, "--tasks", "toy:reverse", "--db", filepath.Join(dir, "b.db"), "--limit", "20", "-q",
		"--base-url", srv.URL, "--served-name", "rev")
	if err != nil {
		t.Fatal(err)
	}
	// Same task, split, items, accuracy, interval and invalid answers.
	row := func(out string) string { return strings.Join(strings.Fields(strings.Split(out, "\n")[1])[:7], " ") }
	// The fine-tune learned its task, so the rows are not equal by failing
	// every item alike.
	acc := func(out string) float64 {
		v, err := strconv.ParseFloat(strings.Fields(strings.Split(out, "\n")[1])[3], 64)
		if err != nil {
			t.Fatalf("accuracy column of %q: %v", out, err)
		}
		return v
	}
	if row(got) != row(want) || !strings.HasPrefix(row(got), "toy:reverse holdout 20 ") || acc(want) < 0.5 {
		t.Errorf("through the server:\n%s\nbuilt in:\n%s", got, want)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--backend", "openai", "--base-url", srv.URL}, "served model name is required"},
		{[]string{"--base-url", srv.URL, "--served-name", "other"}, `does not serve "other"`},
		{[]string{"--backend", "openai", "--served-name", "rev"}, "base_url is required"},
	} {
		args := append([]string{"eval", "--model", model, "--tasks", "toy:reverse", "--db", filepath.Join(dir, "c.db"), "-q"}, c.args...)
		if _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.args, err, c.want)
		}
	}
}

// TestEvalCommandOpenAILogLikelihood: `eval --base-url` on a task with
// scoring: acc, against a server that echoes prompt logprobs in vLLM's
// shape (the continuation's from the built-in runner, the boundary found
// from the task's choices), gives the built-in runner's table and, item
// by item, its log-likelihoods in --log-samples; a server without prompt
// logprobs fails the eval naming the URL and the scoring mode.
func TestEvalCommandOpenAILogLikelihood(t *testing.T) {
	model := filepath.Join("..", "..", "datasets", "toy", "family", "reverse")
	m, err := runner.New(runner.Options{}).Open(t.Context(), model)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ll := m.(eval.LogLikelihooder)
	taskFile := filepath.Join("..", "..", "eval", "testdata", "toy_acc.yml")
	data, err := os.ReadFile(filepath.Join("..", "..", "eval", "testdata", "toy_mc.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var conts []string
	for line := range strings.Lines(string(data)) {
		var rec struct{ Choices []string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		for _, c := range rec.Choices {
			conts = append(conts, " "+c)
		}
	}
	var noEcho atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/models":
			json.NewEncoder(w).Encode(map[string]any{"data": []any{map[string]string{"id": "rev"}}})
		case "/v1/completions":
			var req struct {
				Prompt    string `json:"prompt"`
				MaxTokens int    `json:"max_tokens"`
				Echo      bool   `json:"echo"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			if noEcho.Load() || !req.Echo {
				json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"text": "x"}}})
				return
			}
			cut := strings.LastIndex(req.Prompt, " ") // the probe's
			for _, c := range conts {
				if strings.HasSuffix(req.Prompt, c) {
					cut = len(req.Prompt) - len(c)
				}
			}
			prompt, cont := req.Prompt[:cut], req.Prompt[cut:]
			v, err := ll.LogLikelihood(r.Context(), prompt, cont)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			toks, lps, tops, offs := []string{prompt, cont}, []any{nil, v}, []any{nil, map[string]float64{cont: v}}, []int{0, len(prompt)}
			if req.MaxTokens > 0 {
				toks, lps, tops, offs = append(toks, "\n"), append(lps, -0.5), append(tops, map[string]float64{"\n": -0.5}), append(offs, len(req.Prompt))
			}
			json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"index": 0, "text": req.Prompt + strings.Join(toks[2:], ""),
				"logprobs": map[string]any{"tokens": toks, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offs}}}})
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	want, err := runCLI(t, "eval", "--model", model, "--tasks", taskFile, "--db", filepath.Join(dir, "a.db"), "-q",
		"--log-samples", filepath.Join(dir, "a.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := runCLI(t, "eval", "--model", model, "--tasks", taskFile, "--db", filepath.Join(dir, "b.db"), "-q",
		"--log-samples", filepath.Join(dir, "b.jsonl"), "--base-url", srv.URL, "--served-name", "rev")
	if err != nil {
		t.Fatal(err)
	}
	row := func(out string) string { return strings.Join(strings.Fields(strings.Split(out, "\n")[1])[:7], " ") }
	if row(got) != row(want) || !strings.HasPrefix(row(got), "toy_acc ") {
		t.Errorf("through the server:\n%s\nbuilt in:\n%s", got, want)
	}
	samples := func(name string) []eval.Sample {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var out []eval.Sample
		for line := range strings.Lines(string(data)) {
			var s eval.Sample
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	ws, gs := samples("a.jsonl"), samples("b.jsonl")
	if len(gs) != len(ws) || len(gs) == 0 {
		t.Fatalf("%d samples through the server, %d built in", len(gs), len(ws))
	}
	for i := range ws {
		if gs[i].ItemID != ws[i].ItemID || gs[i].Extracted != ws[i].Extracted || !slices.Equal(gs[i].LogLikelihoods, ws[i].LogLikelihoods) || len(gs[i].LogLikelihoods) == 0 {
			t.Errorf("item %s: through the server %v → %s, built in %v → %s", ws[i].ItemID, gs[i].LogLikelihoods, gs[i].Extracted, ws[i].LogLikelihoods, ws[i].Extracted)
		}
	}

	noEcho.Store(true)
	_, err = runCLI(t, "eval", "--model", model, "--tasks", taskFile, "--db", filepath.Join(dir, "c.db"), "-q", "--base-url", srv.URL, "--served-name", "rev")
	if err == nil || !strings.Contains(err.Error(), "scoring: acc") || !strings.Contains(err.Error(), srv.URL+"/v1/completions") {
		t.Errorf("a server without prompt logprobs: %v", err)
	}
}
