package openai

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/mergetune/mergetune/eval"
)

// Served log-probabilities of the fake vLLM: a token's own, and the most
// likely token at its position when that is another one.
var (
	servedLogprob = map[string]float64{" Paris": -0.25, " Lyon": -2.5, " Nice": -0.7, " Zürich": -4.0, ".": -0.05, ":": -1.5}
	servedBest    = map[string]struct {
		tok string
		lp  float64
	}{" Lyon": {" Paris", -0.3}, " Nice": {" Nizza", -0.7}} // " Nice" ties with " Nizza"
)

const (
	defaultLogprob = -1.0
	generatedToken = " ok"
)

// fakeTokens splits text as a toy tokenizer: a word with its leading
// space, a lone space, or one other character.
var fakeTokens = regexp.MustCompile(`\s?[\p{L}\p{N}]+|\s|[^\s\p{L}\p{N}]`)

// vllm answers a completions request with echo as vLLM does: choices[0]
// holds the prompt plus max_tokens generated tokens, and logprobs in the
// legacy shape over a BOS token "<s>" (null logprob, counted in
// text_offset though the prompt lacks it), the prompt's tokens and the
// generated ones; each position's top_logprobs holds the token and the
// most likely token. refuse0 answers max_tokens 0 as older vLLM does.
func vllm(refuse0 bool) func(w http.ResponseWriter, req completionRequest) {
	return func(w http.ResponseWriter, req completionRequest) {
		maxTokens := 16
		if req.MaxTokens != nil {
			maxTokens = *req.MaxTokens
		}
		if maxTokens == 0 && refuse0 {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"object":"error","message":"max_tokens must be at least 1, got 0.","type":"BadRequestError","param":null,"code":400}`))
			return
		}
		if !req.Echo || req.Logprobs == nil {
			text(w, generatedToken, nil)
			return
		}
		toks := append([]string{"<s>"}, fakeTokens.FindAllString(req.Prompt, -1)...)
		gen := ""
		for range maxTokens {
			toks = append(toks, generatedToken)
			gen += generatedToken
		}
		lps := []any{nil}
		tops := []any{nil}
		offsets := []int{0}
		for i, tk := range toks[1:] {
			lp, ok := servedLogprob[tk]
			if !ok {
				lp = defaultLogprob
			}
			top := map[string]float64{tk: lp}
			if b, ok := servedBest[tk]; ok {
				top[b.tok] = b.lp
			}
			lps, tops = append(lps, lp), append(tops, top)
			offsets = append(offsets, offsets[i]+utf8.RuneCountInString(toks[i])) // Python's len: code points
		}
		json.NewEncoder(w).Encode(map[string]any{"id": "cmpl-1", "object": "text_completion", "created": 1, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "text": req.Prompt + gen, "finish_reason": "length", "stop_reason": nil, "prompt_logprobs": nil,
				"logprobs": map[string]any{"text_offset": offsets, "token_logprobs": lps, "tokens": toks, "top_logprobs": tops}}},
			"usage": map[string]int{"prompt_tokens": len(toks) - maxTokens, "completion_tokens": maxTokens, "total_tokens": len(toks)}})
	}
}

// recorder keeps the completions requests a fake answers.
type recorder struct {
	mu   sync.Mutex
	reqs []completionRequest
}

func (r *recorder) wrap(h func(w http.ResponseWriter, req completionRequest)) func(w http.ResponseWriter, req completionRequest) {
	return func(w http.ResponseWriter, req completionRequest) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		r.mu.Unlock()
		h(w, req)
	}
}

// TestLogLikelihoodVLLM: a continuation's log-likelihood is the sum of the
// served logprobs of the tokens that hold it, located from the end of the
// echoed prompt (past vLLM's "<s>" offset) in code points; greedy when
// each is its position's most likely token, ties included. A server that
// refuses max_tokens 0 is asked with 1, its generated token left out.
func TestLogLikelihoodVLLM(t *testing.T) {
	const ctx = "Q: capital of France?\nAnswer:"
	cases := []struct {
		name, prompt, cont string
		ll                 float64 // from the served numbers, by hand
		greedy             bool
		tokens             int
	}{
		{"one token", ctx, " Paris", -0.25, true, 1},
		{"two tokens, not greedy", ctx, " Lyon.", -2.5 + -0.05, false, 2},
		{"tie is greedy", ctx, " Nice", -0.7, true, 1},
		{"code points", ctx, " Zürich", -4.0, true, 1},                          // in bytes, ":" (-1.5) would be counted too
		{"straddling token", ctx + " Pa", "ris", -0.25, true, 1},                // " Paris" holds the boundary
		{"context after a multibyte rune", "Zürich:", " Paris", -0.25, true, 1}, // offsets before the boundary in code points
		{"empty continuation", ctx, "", 0, true, 0},
	}
	for _, server := range []struct {
		name      string
		refuse0   bool
		maxTokens int
	}{{"accepts max_tokens 0", false, 0}, {"refuses max_tokens 0", true, 1}} {
		t.Run(server.name, func(t *testing.T) {
			var rec recorder
			b, _ := newFake(t, &fake{models: []string{"cand"}, complete: rec.wrap(vllm(server.refuse0))}, Options{})
			m, err := b.OpenModel(t.Context(), modelDir(t, "{}"))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.ProbeLogLikelihood(t.Context()); err != nil {
				t.Fatal(err)
			}
			probes := len(rec.reqs)
			if probes != 2 {
				t.Errorf("the probe sent %d requests, want 2 (max_tokens 1, then 0)", probes)
			}
			for _, c := range cases {
				s, err := m.Score(t.Context(), c.prompt, c.cont)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if math.Abs(s.LogLikelihood-c.ll) > 1e-12 || s.Greedy != c.greedy || s.Tokens != c.tokens {
					t.Errorf("%s: Score = %+v, want ll %v greedy %v tokens %d", c.name, s, c.ll, c.greedy, c.tokens)
				}
				ll, err := m.LogLikelihood(t.Context(), c.prompt, c.cont)
				if err != nil || ll != s.LogLikelihood {
					t.Errorf("%s: LogLikelihood = %v, %v, want %v", c.name, ll, err, s.LogLikelihood)
				}
			}
			for i, req := range rec.reqs[probes:] {
				if !req.Echo || req.Logprobs == nil || *req.Logprobs != 1 || req.MaxTokens == nil || *req.MaxTokens != server.maxTokens ||
					req.Temperature != 0 || !strings.HasPrefix(req.Prompt, "Q: capital") && !strings.HasPrefix(req.Prompt, "Zürich") {
					t.Errorf("request %d: %+v, want echo, logprobs 1, max_tokens %d", i, req, server.maxTokens)
				}
			}
			if got, want := len(rec.reqs)-probes, 2*(len(cases)-1); got != want {
				t.Errorf("%d scoring requests, want %d (one per non-empty continuation, the probe kept)", got, want)
			}
		})
	}
}

// TestLogLikelihoodUnsupported: a server that returns no prompt
// log-probabilities (Ollama's /v1: no echo, no logprobs; llama-server:
// the generated token's logprobs only; one that echoes the text without
// logprobs) is found out by one probe request, an error wrapping
// eval.ErrUnsupported that names the endpoint; the finding is kept.
func TestLogLikelihoodUnsupported(t *testing.T) {
	generatedOnly := map[string]any{"content": []any{map[string]any{"token": generatedToken, "logprob": -0.1,
		"top_logprobs": []any{map[string]any{"token": generatedToken, "logprob": -0.1}}}}}
	for _, c := range []struct {
		name     string
		complete func(w http.ResponseWriter, req completionRequest)
		want     string
	}{
		{"ollama", func(w http.ResponseWriter, req completionRequest) { text(w, generatedToken, nil) }, "does not begin with the prompt"},
		{"llama-server", func(w http.ResponseWriter, req completionRequest) { text(w, generatedToken, generatedOnly) }, "does not begin with the prompt"},
		{"echo without logprobs", func(w http.ResponseWriter, req completionRequest) { text(w, req.Prompt+generatedToken, nil) }, "no logprobs"},
		{"echoed generated logprobs only", func(w http.ResponseWriter, req completionRequest) {
			text(w, req.Prompt+generatedToken, generatedOnly)
		}, "hold 1 tokens"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var rec recorder
			b, srv := newFake(t, &fake{models: []string{"cand"}, complete: rec.wrap(c.complete)}, Options{})
			m, err := b.OpenModel(t.Context(), modelDir(t, "{}"))
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				_, err = m.LogLikelihood(t.Context(), "Q: 1+1=", " 2")
				if !errors.Is(err, eval.ErrUnsupported) || !strings.Contains(err.Error(), srv.URL+"/v1/completions") ||
					!strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "no log-probabilities of the prompt") {
					t.Errorf("LogLikelihood: %v, want ErrUnsupported naming %s and saying %q", err, srv.URL, c.want)
				}
			}
			if len(rec.reqs) != 1 {
				t.Errorf("%d requests, want the one probe", len(rec.reqs))
			}
		})
	}
}

// TestEvaluateLogLikelihood: a task with scoring: acc evaluated through
// eval.Evaluate against the fake vLLM picks, per item, the choice of the
// highest served log-likelihood (recorded per choice); against a server
// without prompt logprobs it fails before its first item with an error
// naming the backend, the URL and the scoring mode, after one request.
func TestEvaluateLogLikelihood(t *testing.T) {
	task := writeTask(t, t.TempDir(), "capitals", "prompt: \"Q: {{.q}}\"\nchoices: choices\ngold: gold\nscoring: acc\nscorer: {type: choice}\n",
		[]map[string]any{
			{"q": "capital of France?", "choices": []string{"Lyon", "Paris", "Nice"}, "gold": 1},
			{"q": "largest Swiss city?", "choices": []string{"Zürich", "Paris"}, "gold": 0},
			{"q": "on the Riviera?", "choices": []string{"Lyon.", "Nice"}, "gold": 1},
		})
	b, _ := newFake(t, &fake{models: []string{"cand"}, complete: vllm(true)}, Options{Parallel: 2})
	m, err := b.Open(t.Context(), modelDir(t, "{}"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := eval.Evaluate(t.Context(), m, task, eval.Options{Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		lls     []float64
		answer  string
		correct bool
	}{
		{[]float64{-2.5, -0.25, -0.7}, "B", true},
		{[]float64{-4.0, -0.25}, "B", false},
		{[]float64{-2.55, -0.7}, "B", true},
	}
	for i, w := range want {
		it := res.Items[i]
		if !strings.HasSuffix(it.Prompt, "Answer:") || it.Extracted != w.answer || it.Correct != w.correct || len(it.LogLikelihoods) != len(w.lls) {
			t.Fatalf("item %d: %+v, want answer %s correct %v", i, it, w.answer, w.correct)
		}
		for j := range w.lls {
			if math.Abs(it.LogLikelihoods[j]-w.lls[j]) > 1e-12 {
				t.Errorf("item %d choice %d: log-likelihood %v, want %v", i, j, it.LogLikelihoods[j], w.lls[j])
			}
		}
	}
	if res.N != 3 || res.Correct != 2 {
		t.Errorf("N %d correct %d, want 3 and 2", res.N, res.Correct)
	}

	var rec recorder
	nb, srv := newFake(t, &fake{models: []string{"cand"}, complete: rec.wrap(func(w http.ResponseWriter, req completionRequest) { text(w, "B", nil) })}, Options{})
	nm, err := nb.Open(t.Context(), modelDir(t, "{}"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = eval.Evaluate(t.Context(), nm, task, eval.Options{Parallel: 2})
	if !errors.Is(err, eval.ErrUnsupported) {
		t.Fatalf("Evaluate on a server without prompt logprobs: %v, want ErrUnsupported", err)
	}
	t.Logf("the error: %v", err)
	for _, s := range []string{"task capitals", "scoring: acc", "openai base_url=" + srv.URL, srv.URL + "/v1/completions", "scoring: letter"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if len(rec.reqs) != 1 {
		t.Errorf("%d requests, want the one probe", len(rec.reqs))
	}
}
