// Package openai is an eval.Backend for servers with an OpenAI-compatible
// completions API: vLLM, llama.cpp's llama-server, SGLang, or Ollama's own
// /v1 endpoints.
//
// The server is the user's: mergetune does not start it or load models
// into it. Each candidate reaches it in one of two ways, both optional:
// Options.CandidateDir is a path the server reads its model from, which
// Open replaces by a symbolic link to the candidate's directory, and
// Options.ReloadCommand is a shell command Open runs (with the candidate's
// path as $1 and in MERGETUNE_CANDIDATE) to make the server serve it
// under Options.ServedName: restart vLLM, call a reload endpoint, copy the
// files elsewhere. A hook that fails or runs past its limit
// (Timeouts.Import) fails Open with the hook's stderr, and the study
// marks the trial failed. Open then waits until GET /v1/models lists the
// served name.
//
// Requests are POST {base_url}/v1/completions with the raw prompt,
// temperature 0, top_p 1, a fixed seed, max_tokens and stop. Multiple-choice
// letters are read from the completions logprobs field (one generated
// token, top Options.TopLogprobs alternatives), in either the legacy
// OpenAI shape (vLLM, SGLang: top_logprobs as a list of token → logprob
// maps) or the chat shape (llama.cpp, Ollama: content[].top_logprobs);
// from a server that reports none (Ollama's /v1 drops them) the greedy
// first token is the letter, as the most likely token.
// Log-likelihood scoring (scoring: acc, acc_norm, acc_bytes) sends
// prompt+continuation with echo: true, logprobs: 1 and max_tokens 0 (1
// where the server refuses 0), as lm-eval's local-completions model, and
// sums the echoed prompt log-probabilities of the continuation's tokens
// (see loglik.go). A server that does not return them (Ollama's /v1,
// llama.cpp's llama-server) is found out by one probe request before a
// task's first item, and the task fails naming the server. Chat tasks
// (chat: true) go to POST /v1/chat/completions, where the server applies
// the served model's chat template (see chat.go).
//
// Open first probes the server (GET /v1/models) within Timeouts.Probe;
// each attempt of a request is bounded by Timeouts.Generate of its tokens
// and failed attempts (a dropped connection, 5xx, 429) are retried with
// exponential backoff. A 400 answer that says the prompt exceeds the
// context wraps eval.ErrContextOverflow, so the evaluator truncates or
// skips the item.
package openai

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/ollama"
)

// Defaults of Options.
const (
	DefaultTopLogprobs = 20
	DefaultRetries     = ollama.DefaultRetries // the same retry policy as the Ollama backend
	DefaultBackoff     = ollama.DefaultBackoff
)

// Options configure the backend.
type Options struct {
	// BaseURL is the server's address, e.g. http://127.0.0.1:8000 (a
	// trailing /v1 is accepted). Required.
	BaseURL string
	// ServedName is the model name requests carry (vLLM's
	// --served-model-name, llama-server's --alias). Required.
	ServedName string
	// APIKeyEnv names the environment variable that holds the API key,
	// sent as a bearer token (empty: no key).
	APIKeyEnv string
	// Parallel is the most requests in flight at once (0: 1).
	Parallel int
	// TopLogprobs is how many alternatives a multiple-choice request asks
	// for (0: DefaultTopLogprobs; negative: none, letters are read from
	// the generated text). Servers cap it (vLLM's --max-logprobs, 20 by
	// default; OpenAI itself 5).
	TopLogprobs int
	// Seed is sent with every request.
	Seed int
	// CandidateDir, when set, is replaced by a symbolic link to each
	// candidate's directory before its evaluation: the path the server
	// loads its model from. An existing directory there that is not a
	// link is an error (it is never deleted).
	CandidateDir string
	// ReloadCommand, when set, is run with sh -c before each candidate's
	// evaluation, the candidate's directory as $1 and in
	// MERGETUNE_CANDIDATE (CandidateDir in MERGETUNE_CANDIDATE_DIR, the
	// served name in MERGETUNE_SERVED_NAME); it must make the server
	// serve that candidate. It is bounded by Timeouts.Import.
	ReloadCommand string
	// Timeouts bound the probe (Probe), each request attempt (Request +
	// PerToken × tokens asked) and the reload hook with the wait for the
	// server to list the model (Import). Zero fields take the ollama
	// package's defaults; negative ones mean no limit.
	Timeouts ollama.Timeouts
	// Retries is how many times a failed request is repeated (0:
	// DefaultRetries; negative: never).
	Retries int
	// Backoff is the wait before the first retry, doubled before each
	// further one (0: DefaultBackoff).
	Backoff time.Duration
	// HTTPClient is used for all requests (nil: a client without an
	// overall timeout and without proxies).
	HTTPClient *http.Client
}

// Backend is the OpenAI-compatible eval.Backend. It is safe for
// concurrent use.
type Backend struct {
	opt  Options
	base *url.URL
	key  string
	http *http.Client
}

var _ eval.Backend = (*Backend)(nil)

// New checks opt and returns a backend. It does not contact the server:
// Open and Probe do.
func New(opt Options) (*Backend, error) {
	if strings.TrimSpace(opt.BaseURL) == "" {
		return nil, errors.New("openai: base_url is required (e.g. http://127.0.0.1:8000)")
	}
	base, err := url.Parse(strings.TrimSpace(opt.BaseURL))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("openai: base_url %q: want http://host:port or https://host:port", opt.BaseURL)
	}
	base.Path = strings.TrimSuffix(strings.TrimSuffix(base.Path, "/"), "/v1")
	if opt.ServedName == "" {
		return nil, errors.New("openai: the served model name is required (vLLM's --served-model-name, llama-server's --alias)")
	}
	var key string
	if opt.APIKeyEnv != "" {
		key = os.Getenv(opt.APIKeyEnv)
		if key == "" {
			return nil, fmt.Errorf("openai: api_key_env %s: the environment variable is empty or unset", opt.APIKeyEnv)
		}
	}
	if opt.Parallel <= 0 {
		opt.Parallel = 1
	}
	if opt.TopLogprobs == 0 {
		opt.TopLogprobs = DefaultTopLogprobs
	}
	switch {
	case opt.Retries == 0:
		opt.Retries = DefaultRetries
	case opt.Retries < 0:
		opt.Retries = 0
	}
	if opt.Backoff <= 0 {
		opt.Backoff = DefaultBackoff
	}
	opt.Timeouts = opt.Timeouts.WithDefaults()
	if opt.CandidateDir != "" {
		if opt.CandidateDir, err = filepath.Abs(opt.CandidateDir); err != nil {
			return nil, fmt.Errorf("openai: candidate_dir: %w", err)
		}
	}
	hc := opt.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	return &Backend{opt: opt, base: base, key: key, http: hc}, nil
}

// BaseURL returns the server's address, without /v1.
func (b *Backend) BaseURL() string { return b.base.String() }

// endpoint returns the URL of path under /v1.
func (b *Backend) endpoint(path string) string { return b.base.JoinPath("/v1", path).String() }

// ErrNoAnswer is wrapped by the error of a probe that the server did not
// answer in time.
var ErrNoAnswer = errors.New("openai: server does not answer")

// StatusError is a server's answer with an error status.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string { return fmt.Sprintf("status %d: %s", e.Code, e.Message) }

// Models returns the model names GET /v1/models lists, within
// Timeouts.Probe.
func (b *Backend) Models(ctx context.Context) ([]string, error) {
	limit := b.opt.Timeouts.Probe
	pctx := ctx
	if limit > 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	var out struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	err := b.do(pctx, http.MethodGet, "/models", nil, &out)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, fmt.Errorf("openai: probe of %s: %w", b.base, ctx.Err())
	case pctx.Err() != nil:
		return nil, fmt.Errorf("%w: %s did not answer GET /v1/models within %s (a hung or loading server; the limit is the probe timeout)", ErrNoAnswer, b.base, limit)
	default:
		return nil, fmt.Errorf("openai: probe of %s (GET /v1/models): %w", b.base, err)
	}
	names := make([]string, 0, len(out.Data))
	for _, m := range out.Data {
		names = append(names, m.ID)
	}
	return names, nil
}

// Probe checks that the server answers and serves ServedName.
func (b *Backend) Probe(ctx context.Context) error {
	names, err := b.Models(ctx)
	if err != nil {
		return err
	}
	if !slices.Contains(names, b.opt.ServedName) {
		return fmt.Errorf("openai: %s does not serve %q (it lists %q)", b.base, b.opt.ServedName, names)
	}
	return nil
}

// do sends one request and decodes a JSON answer into out.
func (b *Backend) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.endpoint(path), r)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.key != "" {
		req.Header.Set("Authorization", "Bearer "+b.key)
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= http.StatusBadRequest {
		return &StatusError{Code: resp.StatusCode, Message: errorMessage(data)}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: decode answer: %w", errIncomplete, err)
	}
	return nil
}

// errIncomplete marks an answer that is not the JSON asked for (cut short).
var errIncomplete = errors.New("incomplete answer")

// errorMessage reads the message of an error body: {"error": {"message":
// …}} (OpenAI, vLLM, llama.cpp), {"error": "…"} (Ollama) or
// {"message": "…"}; else the body itself.
func errorMessage(data []byte) string {
	var e struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(data, &e) == nil {
		var s string
		var o struct {
			Message string `json:"message"`
		}
		switch {
		case json.Unmarshal(e.Error, &s) == nil && s != "":
			return s
		case json.Unmarshal(e.Error, &o) == nil && o.Message != "":
			return o.Message
		case e.Message != "":
			return e.Message
		}
	}
	return strings.TrimSpace(string(data))
}

// retryable reports whether a failed attempt may succeed when repeated.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code >= 500 || se.Code == http.StatusTooManyRequests || se.Code == http.StatusRequestTimeout
	}
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errIncomplete) ||
		errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne)
}

// retry runs attempt, each try bounded by timeout (none when not
// positive), until it succeeds, fails for good or has failed 1+Retries
// times.
func (b *Backend) retry(ctx context.Context, what string, timeout time.Duration, attempt func(ctx context.Context) error) error {
	var err error
	tries := 1 + b.opt.Retries
	for i := range tries {
		if i > 0 {
			t := time.NewTimer(min(b.opt.Backoff<<(i-1), 30*time.Second))
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("openai: %s: %w (after %d attempts, last error: %v)", what, ctx.Err(), i, err)
			case <-t.C:
			}
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, timeout)
		}
		err = attempt(actx)
		cancel()
		if err == nil {
			return nil
		}
		if !retryable(ctx, err) {
			break
		}
		if i == tries-1 {
			return fmt.Errorf("openai: %s: failed after %d attempts: %w", what, tries, err)
		}
	}
	return fmt.Errorf("openai: %s: %w", what, err)
}

// Open implements eval.Backend: it probes the server, points
// CandidateDir at dir and runs the reload hook (when configured), waits
// until the server lists ServedName, and returns a model that identifies
// its weights by a digest of dir's files.
func (b *Backend) Open(ctx context.Context, dir string) (eval.Model, error) {
	return b.OpenModel(ctx, dir)
}

// OpenModel is Open with the concrete result type.
func (b *Backend) OpenModel(ctx context.Context, dir string) (*Model, error) {
	if _, err := b.Models(ctx); err != nil {
		return nil, fmt.Errorf("openai: open %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("openai: open %s: %w", dir, err)
	}
	digest, err := dirDigest(abs)
	if err != nil {
		return nil, fmt.Errorf("openai: open %s: %w", dir, err)
	}
	if b.opt.CandidateDir != "" {
		if err := pointAt(b.opt.CandidateDir, abs); err != nil {
			return nil, fmt.Errorf("openai: open %s: candidate_dir: %w", dir, err)
		}
	}
	if b.opt.ReloadCommand != "" {
		if err := b.reload(ctx, abs); err != nil {
			return nil, fmt.Errorf("openai: open %s: %w", dir, err)
		}
	}
	if err := b.waitServed(ctx); err != nil {
		return nil, fmt.Errorf("openai: open %s: %w", dir, err)
	}
	return &Model{b: b, digest: digest, sem: make(chan struct{}, b.opt.Parallel)}, nil
}

// waitServed waits, within Timeouts.Import, until the server lists the
// served name (a server restarted by the reload hook takes a while).
func (b *Backend) waitServed(ctx context.Context) error {
	if b.opt.ReloadCommand == "" {
		return b.Probe(ctx)
	}
	wctx := ctx
	if b.opt.Timeouts.Import > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, b.opt.Timeouts.Import)
		defer cancel()
	}
	for {
		err := b.Probe(wctx)
		if err == nil {
			return nil
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("the server did not serve %q after the reload command: %w", b.opt.ServedName, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// reload runs the reload hook for the candidate dir.
func (b *Backend) reload(ctx context.Context, dir string) error {
	rctx := ctx
	if b.opt.Timeouts.Import > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, b.opt.Timeouts.Import)
		defer cancel()
	}
	cmd := exec.CommandContext(rctx, "sh", "-c", b.opt.ReloadCommand, "sh", dir)
	cmd.Env = append(os.Environ(), "MERGETUNE_CANDIDATE="+dir, "MERGETUNE_CANDIDATE_DIR="+b.opt.CandidateDir,
		"MERGETUNE_SERVED_NAME="+b.opt.ServedName)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(stderr.String())
	if len(msg) > 2000 {
		msg = "…" + msg[len(msg)-2000:]
	}
	if rctx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("ran past its limit of %s (the import timeout)", b.opt.Timeouts.Import)
	}
	return fmt.Errorf("reload command %q: %w; stderr: %s", b.opt.ReloadCommand, err, msg)
}

// pointAt makes link a symbolic link to target, replacing an earlier link
// atomically (a new link renamed over it). A directory or file at link
// that is not a link is left alone and is an error.
func pointAt(link, target string) error {
	if fi, err := os.Lstat(link); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
		return fmt.Errorf("%s exists and is not a symbolic link (mergetune replaces it by a link to each candidate; move it away)", link)
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.tmp-%d", link, os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// dirDigest returns "sha256:<hex>" over the names and contents of the
// regular files in dir (not below it), in name order: the candidate's
// weights, configuration and tokenizer.
func dirDigest(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	n := 0
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", err
		}
		fh := sha256.New()
		_, err = io.Copy(fh, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", e.Name(), err)
		}
		fmt.Fprintf(h, "%s\x00%x\n", e.Name(), fh.Sum(nil))
		n++
	}
	if n == 0 {
		return "", fmt.Errorf("%s holds no files (want a model directory: config.json, safetensors)", dir)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// Model is the served candidate. It is safe for concurrent use; at most
// Options.Parallel requests are in flight at once.
type Model struct {
	b      *Backend
	digest string
	sem    chan struct{}
	ll     llState // what the log-likelihood probe found
}

var _ eval.Model = (*Model)(nil)

// Digest implements eval.Model: the digest of the candidate directory's
// files.
func (m *Model) Digest() string { return m.digest }

// Settings implements eval.Model: the server, served name and every
// request option that can change an answer.
func (m *Model) Settings() string {
	return fmt.Sprintf("openai base_url=%s model=%s temperature=0 top_p=1 seed=%d top_logprobs=%d",
		m.b.base, m.b.opt.ServedName, m.b.opt.Seed, m.b.opt.TopLogprobs)
}

// Close implements eval.Model. The server keeps serving the model.
func (m *Model) Close() error { return nil }

// completionRequest is the body of POST /v1/completions.
type completionRequest struct {
	Model       string   `json:"model"`
	Prompt      string   `json:"prompt"`
	MaxTokens   *int     `json:"max_tokens,omitempty"`
	Temperature float64  `json:"temperature"`
	TopP        float64  `json:"top_p"`
	Seed        int      `json:"seed"`
	Stop        []string `json:"stop,omitempty"`
	Logprobs    *int     `json:"logprobs,omitempty"`
	Echo        bool     `json:"echo,omitempty"`
	Stream      bool     `json:"stream"`
}

// completion is the answer of POST /v1/completions.
type completion struct {
	Choices []struct {
		Text     string          `json:"text"`
		Logprobs json.RawMessage `json:"logprobs"`
	} `json:"choices"`
}

// complete sends one completion request, retried on transient failures.
func (m *Model) complete(ctx context.Context, what string, tokens int, req completionRequest) (completion, error) {
	var out completion
	req.Model, req.TopP, req.Seed = m.b.opt.ServedName, 1, m.b.opt.Seed
	err := m.send(ctx, what, tokens, "/completions", req, func() { out = completion{} }, &out, func() int { return len(out.Choices) })
	return out, err
}

// send POSTs req to path under /v1 and decodes the answer into out,
// within the model's parallelism and retried on transient failures: reset
// clears out before each attempt, and an answer where choices() is 0 is
// incomplete. A refused over-long prompt wraps eval.ErrContextOverflow.
func (m *Model) send(ctx context.Context, what string, tokens int, path string, req any, reset func(), out any, choices func() int) error {
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-m.sem }()
	err := m.b.retry(ctx, what, m.b.opt.Timeouts.Generate(tokens), func(ctx context.Context) error {
		reset()
		if err := m.b.do(ctx, http.MethodPost, path, req, out); err != nil {
			return err
		}
		if choices() == 0 {
			return fmt.Errorf("%w: no choices", errIncomplete)
		}
		return nil
	})
	if err != nil && overflow(err) {
		err = fmt.Errorf("%w: %w", err, eval.ErrContextOverflow)
	}
	return err
}

// overflow reports whether err is a server's refusal of a prompt longer
// than its context (vLLM: "maximum context length"; llama.cpp:
// "exceeds the available context size"; Ollama: "exceeds the context
// length").
func overflow(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest {
		return false
	}
	msg := strings.ToLower(se.Message)
	for _, s := range []string{"maximum context length", "context size", "context length", "context window", "too long"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// describe shortens a prompt for an error message.
func describe(prompt string) string {
	if len(prompt) > 40 {
		prompt = prompt[:40] + "…"
	}
	return fmt.Sprintf("%q", prompt)
}

// Generate implements eval.Model: the greedy continuation of prompt, at
// most opt.MaxTokens tokens (0: the server's default limit), cut before
// the first stop string.
func (m *Model) Generate(ctx context.Context, prompt string, opt eval.GenerateOptions) (string, error) {
	if opt.MaxTokens < 0 {
		return "", fmt.Errorf("openai: generate: negative MaxTokens %d", opt.MaxTokens)
	}
	req := completionRequest{Prompt: prompt}
	if opt.MaxTokens > 0 {
		req.MaxTokens = &opt.MaxTokens
	}
	for _, s := range opt.Stop {
		if s != "" {
			req.Stop = append(req.Stop, s)
		}
	}
	tokens := opt.MaxTokens
	if tokens == 0 {
		tokens = 2048
	}
	out, err := m.complete(ctx, "generate "+describe(prompt), tokens, req)
	if err != nil {
		return "", err
	}
	return out.Choices[0].Text, nil
}

// TopTokens implements eval.Model: the min(k, TopLogprobs) most likely
// first tokens after prompt, from one generated token's logprobs. A
// server that returns no logprobs (Ollama's /v1/completions drops them)
// gives the greedy token alone, the most likely one, with Logprob 0
// standing for "unknown": a letter there is the letter top_logprobs
// would have picked, and anything else leaves the letter to the
// generated text. TopLogprobs < 0 gives eval.ErrUnsupported.
func (m *Model) TopTokens(ctx context.Context, prompt string, k int) ([]eval.TokenLogprob, error) {
	if m.b.opt.TopLogprobs < 0 {
		return nil, fmt.Errorf("openai: top tokens: %w (top_logprobs is off)", eval.ErrUnsupported)
	}
	if k <= 0 {
		return nil, nil
	}
	k = min(k, m.b.opt.TopLogprobs)
	one := 1
	out, err := m.complete(ctx, "top tokens "+describe(prompt), 1, completionRequest{Prompt: prompt, MaxTokens: &one, Logprobs: &k})
	if err != nil {
		return nil, err
	}
	toks, err := firstTokens(out.Choices[0].Logprobs, out.Choices[0].Text, k)
	if err != nil {
		return nil, fmt.Errorf("openai: top tokens %s: %w", describe(prompt), err)
	}
	return toks, nil
}

// firstTokens returns the k most likely first tokens of an answer from
// its logprobs field; from an answer without logprobs (Ollama's /v1
// drops them) the greedy token text alone, the most likely one, with
// Logprob 0 standing for "unknown".
func firstTokens(raw json.RawMessage, text string, k int) ([]eval.TokenLogprob, error) {
	toks, err := parseTopLogprobs(raw)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 && text != "" {
		return []eval.TokenLogprob{{Token: text, Logprob: 0}}, nil
	}
	return toks[:min(k, len(toks))], nil
}

// parseTopLogprobs reads the first position's alternatives from a
// completions logprobs field, in the legacy shape ({"top_logprobs":
// [{"A": -0.1, …}], …}) or the chat shape ({"content": [{"top_logprobs":
// [{"token": "A", "logprob": -0.1}]}]}), most likely first. Null or no
// position gives an empty list.
func parseTopLogprobs(raw json.RawMessage) ([]eval.TokenLogprob, error) {
	out := []eval.TokenLogprob{}
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return out, nil
	}
	var lp struct {
		TopLogprobs []map[string]float64 `json:"top_logprobs"`
		Content     []struct {
			TopLogprobs []struct {
				Token   string  `json:"token"`
				Logprob float64 `json:"logprob"`
			} `json:"top_logprobs"`
		} `json:"content"`
	}
	if err := json.Unmarshal(raw, &lp); err != nil {
		return nil, fmt.Errorf("logprobs field: %w", err)
	}
	switch {
	case len(lp.Content) > 0:
		for _, t := range lp.Content[0].TopLogprobs {
			out = append(out, eval.TokenLogprob{Token: t.Token, Logprob: t.Logprob})
		}
	case len(lp.TopLogprobs) > 0:
		for tok, v := range lp.TopLogprobs[0] {
			out = append(out, eval.TokenLogprob{Token: tok, Logprob: v})
		}
	}
	slices.SortStableFunc(out, func(a, b eval.TokenLogprob) int {
		switch {
		case a.Logprob > b.Logprob:
			return -1
		case a.Logprob < b.Logprob:
			return 1
		}
		return strings.Compare(a.Token, b.Token)
	})
	return out, nil
}
