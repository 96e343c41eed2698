package openai

// Log-likelihood of a continuation from a completions server's echoed
// prompt log-probabilities, as lm-eval's local-completions model scores
// multiple choice against vLLM.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/mergetune/mergetune/eval"
)

var (
	_ eval.LogLikelihooder     = (*Model)(nil)
	_ eval.LogLikelihoodProber = (*Model)(nil)
)

// Score is the outcome of scoring a continuation: lm-eval's
// (loglikelihood, is_greedy) pair.
type Score struct {
	// LogLikelihood is the sum of the continuation tokens'
	// log-probabilities.
	LogLikelihood float64
	// Greedy says every continuation token is a most likely one at its
	// position: its log-probability is the highest among the position's
	// top_logprobs (a tie counts as greedy, as in lm-eval).
	Greedy bool
	// Tokens is the number of continuation tokens.
	Tokens int
}

// llState is what the log-likelihood probe found, shared by a model's
// requests.
type llState struct {
	mu        sync.Mutex
	probed    bool
	err       error // the probe's definitive answer: nil, or wrapping eval.ErrUnsupported
	maxTokens int   // 0, or 1 where the server refuses max_tokens 0
}

// The probe's text, which any tokenizer splits into several tokens.
const probeContext, probeContinuation = "The capital of France is", " Paris"

// ProbeLogLikelihood implements eval.LogLikelihoodProber. One request
// (max_tokens 1) shows whether the server echoes the prompt with its
// log-probabilities; when it does, a second one whether it accepts
// max_tokens 0 (vLLM does; a server that refuses it, or generates anyway,
// gets 1 and its generated token is left out). The finding is kept: later
// calls send nothing. A failure that is no finding (the server is down)
// is returned and the next call probes again.
func (m *Model) ProbeLogLikelihood(ctx context.Context) error {
	m.ll.mu.Lock()
	defer m.ll.mu.Unlock()
	if m.ll.probed {
		return m.ll.err
	}
	if _, err := m.score(ctx, probeContext, probeContinuation, 1); err != nil {
		if errors.Is(err, eval.ErrUnsupported) {
			m.ll.probed, m.ll.err = true, err
		}
		return err
	}
	m.ll.maxTokens = 1
	_, err := m.score(ctx, probeContext, probeContinuation, 0)
	switch {
	case err == nil:
		m.ll.maxTokens = 0
	case ctx.Err() != nil:
		return err
	}
	m.ll.probed = true
	return nil
}

// LogLikelihood implements eval.LogLikelihooder: Score's sum.
func (m *Model) LogLikelihood(ctx context.Context, prompt, continuation string) (float64, error) {
	s, err := m.Score(ctx, prompt, continuation)
	return s.LogLikelihood, err
}

// Score scores continuation after prompt from one request: POST
// /v1/completions with prompt+continuation, echo: true, logprobs: 1 and
// max_tokens 0 (or 1, see ProbeLogLikelihood, which it runs first). The
// continuation's tokens are those that hold any of its characters, found
// by their text_offset counted back from the end of the echoed prompt
// (a server's offsets may count a BOS token's text, "<s>", that the prompt
// lacks); a token that straddles the boundary counts as the
// continuation's. Offsets are in characters (Unicode code points), as
// vLLM's and llama-cpp-python's; without text_offset they are summed from
// the tokens' texts. An empty continuation scores 0.
func (m *Model) Score(ctx context.Context, prompt, continuation string) (Score, error) {
	if continuation == "" {
		return Score{Greedy: true}, nil
	}
	if prompt == "" {
		return Score{}, errors.New("openai: log-likelihood needs a non-empty prompt (its first token has no log-probability)")
	}
	if err := m.ProbeLogLikelihood(ctx); err != nil {
		return Score{}, err
	}
	m.ll.mu.Lock()
	maxTokens := m.ll.maxTokens
	m.ll.mu.Unlock()
	return m.score(ctx, prompt, continuation, maxTokens)
}

// score sends one echo request with maxTokens and reads the score.
func (m *Model) score(ctx context.Context, prompt, continuation string, maxTokens int) (Score, error) {
	one := 1
	req := completionRequest{Prompt: prompt + continuation, MaxTokens: &maxTokens, Logprobs: &one, Echo: true}
	out, err := m.complete(ctx, "log-likelihood "+describe(prompt), max(maxTokens, 1), req)
	if err != nil {
		return Score{}, err
	}
	s, err := echoScore(out.Choices[0].Text, out.Choices[0].Logprobs, prompt, continuation, maxTokens)
	if err != nil {
		return Score{}, fmt.Errorf("openai: log-likelihood from %s (model %s; echo: true, logprobs: 1, max_tokens: %d): %w",
			m.b.endpoint("/completions"), m.b.opt.ServedName, maxTokens, err)
	}
	return s, nil
}

// errNoPromptLogprobs is the finding of a server that cannot score a
// continuation.
var errNoPromptLogprobs = fmt.Errorf("the server returns no log-probabilities of the prompt (%w; Ollama's /v1 and llama.cpp's llama-server do not, vLLM does)", eval.ErrUnsupported)

// echoToken is one echoed token.
type echoToken struct {
	text    string
	logprob *float64  // nil for the first token
	top     []float64 // the position's top_logprobs values
	offset  int       // in characters
}

// echoScore scores continuation from an echo answer's text and logprobs
// field, the last generated tokens being the server's own.
func echoScore(text string, raw json.RawMessage, prompt, continuation string, generated int) (Score, error) {
	full := prompt + continuation
	if !strings.HasPrefix(text, full) {
		return Score{}, fmt.Errorf("%w: its text does not begin with the prompt (echo: true was ignored)", errNoPromptLogprobs)
	}
	if generated == 0 && text != full {
		return Score{}, fmt.Errorf("max_tokens 0 generated %q", text[len(full):])
	}
	toks, err := echoTokens(raw)
	if err != nil {
		return Score{}, err
	}
	n := len(toks) - generated
	if n < 2 {
		return Score{}, fmt.Errorf("%w: its logprobs hold %d tokens", errNoPromptLogprobs, len(toks))
	}
	toks = toks[:n]
	end := toks[n-1].offset + utf8.RuneCountInString(toks[n-1].text)
	if covered, want := end-toks[0].offset, utf8.RuneCountInString(full); covered < want {
		return Score{}, fmt.Errorf("%w: its logprobs cover %d of the prompt's %d characters", errNoPromptLogprobs, covered, want)
	}
	start := end - utf8.RuneCountInString(continuation)
	s := Score{Greedy: true}
	for i, tk := range toks {
		if tk.offset < start && tk.offset+utf8.RuneCountInString(tk.text) <= start {
			continue // a context token
		}
		if i == 0 {
			return Score{}, fmt.Errorf("the continuation %s begins in the prompt's first token %q, which has no log-probability", describe(continuation), tk.text)
		}
		if tk.logprob == nil {
			return Score{}, fmt.Errorf("token %d (%q) of the continuation has no log-probability", i, tk.text)
		}
		s.LogLikelihood += *tk.logprob
		s.Tokens++
		if !tk.greedy() {
			s.Greedy = false
		}
	}
	return s, nil
}

// greedy reports whether the token's log-probability is the highest of
// its position's top_logprobs (ties included); false without them.
func (t echoToken) greedy() bool {
	if t.logprob == nil || len(t.top) == 0 {
		return false
	}
	for _, v := range t.top {
		if v > *t.logprob {
			return false
		}
	}
	return true
}

// echoTokens reads the tokens of a completions logprobs field: the legacy
// shape (tokens, token_logprobs, top_logprobs, text_offset: vLLM, SGLang,
// llama-cpp-python) or the chat shape (content[]: token, logprob,
// top_logprobs), offsets summed from the texts where text_offset is
// missing.
func echoTokens(raw json.RawMessage) ([]echoToken, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return nil, fmt.Errorf("%w: the answer has no logprobs", errNoPromptLogprobs)
	}
	var lp struct {
		Tokens        []string             `json:"tokens"`
		TokenLogprobs []*float64           `json:"token_logprobs"`
		TopLogprobs   []map[string]float64 `json:"top_logprobs"`
		TextOffset    []int                `json:"text_offset"`
		Content       []struct {
			Token       string  `json:"token"`
			Logprob     float64 `json:"logprob"`
			TopLogprobs []struct {
				Logprob float64 `json:"logprob"`
			} `json:"top_logprobs"`
		} `json:"content"`
	}
	if err := json.Unmarshal(raw, &lp); err != nil {
		return nil, fmt.Errorf("logprobs field: %w", err)
	}
	var out []echoToken
	switch {
	case len(lp.Tokens) > 0:
		if len(lp.TokenLogprobs) != len(lp.Tokens) {
			return nil, fmt.Errorf("logprobs field: %d tokens but %d token_logprobs", len(lp.Tokens), len(lp.TokenLogprobs))
		}
		for i, t := range lp.Tokens {
			e := echoToken{text: t, logprob: lp.TokenLogprobs[i]}
			if i < len(lp.TopLogprobs) {
				for _, v := range lp.TopLogprobs[i] {
					e.top = append(e.top, v)
				}
			}
			out = append(out, e)
		}
	case len(lp.Content) > 0:
		for _, c := range lp.Content {
			e := echoToken{text: c.Token, logprob: &c.Logprob}
			for _, t := range c.TopLogprobs {
				e.top = append(e.top, t.Logprob)
			}
			out = append(out, e)
		}
	default:
		return nil, fmt.Errorf("%w: its logprobs hold no tokens", errNoPromptLogprobs)
	}
	if len(lp.TextOffset) == len(out) {
		for i := range out {
			out[i].offset = lp.TextOffset[i]
		}
		return out, nil
	}
	for i := 1; i < len(out); i++ {
		out[i].offset = out[i-1].offset + utf8.RuneCountInString(out[i-1].text)
	}
	return out, nil
}
