package ollama

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/results"
)

// maxTopLogprobs is the most alternatives Ollama returns per position.
const maxTopLogprobs = 20

// Model is a model imported into the server. It implements eval.Model and
// is safe for concurrent use; at most Options.Parallel requests are in
// flight at once.
type Model struct {
	b       *Backend
	name    string
	digest  string
	version string
	stats   ImportStats
	sem     chan struct{}
	// source is the digest of the uploaded GGUF when the server
	// quantized it: no layer of the model holds that blob, so deleting
	// the model does not remove it (Close drops it).
	source string

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
}

var _ eval.Model = (*Model)(nil)

// Name returns the model's name on the server, e.g.
// "mergetune-s1-t7-0123456789ab:latest".
func (m *Model) Name() string { return m.name }

// Stats returns the times Open spent importing the model.
func (m *Model) Stats() ImportStats { return m.stats }

// Stages implements eval.StageReporter: the import's stages.
func (m *Model) Stages() results.Stages { return m.stats.Stages() }

var _ eval.StageReporter = (*Model)(nil)

// Digest implements eval.Model: the "sha256:<hex>" digest of the GGUF the
// converter wrote or, for a quantized model, the digest the server lists
// for the created model.
func (m *Model) Digest() string { return m.digest }

// Settings implements eval.Model: the server version, engine and every
// request option that can change an answer.
func (m *Model) Settings() string {
	q := m.b.opt.Quantize
	if q == "" {
		q = "none"
	}
	threads := "auto"
	if m.b.opt.NumThread > 0 {
		threads = fmt.Sprint(m.b.opt.NumThread)
	}
	return fmt.Sprintf("ollama/%s engine=%s num_ctx=%d num_thread=%s seed=%d quantize=%s raw temperature=0 top_k=1 repeat_penalty=1 truncate=false shift=false",
		m.version, m.b.opt.Engine, m.b.opt.NumCtx, threads, m.b.opt.Seed, strings.ToLower(q))
}

// options returns the request options: greedy and deterministic.
func (m *Model) options(numPredict int, stop []string) map[string]any {
	o := map[string]any{
		"temperature":    0,
		"top_k":          1,
		"repeat_penalty": 1,
		"seed":           m.b.opt.Seed,
		"num_ctx":        m.b.opt.NumCtx,
		"num_predict":    numPredict,
	}
	if m.b.opt.NumThread > 0 {
		o["num_thread"] = m.b.opt.NumThread
	}
	if !m.b.opt.NoMmap {
		o["use_mmap"] = true
	}
	if len(stop) > 0 {
		o["stop"] = stop
	}
	return o
}

// errClosed is returned by requests on a closed model.
var errClosed = errors.New("ollama: model is closed")

// acquire waits for a request slot.
func (m *Model) acquire(ctx context.Context) error {
	if m.isClosed() {
		return errClosed
	}
	select {
	case m.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Model) release() { <-m.sem }

func (m *Model) isClosed() bool {
	select {
	case <-m.closed:
		return true
	default:
		return false
	}
}

// generate sends one non-streaming raw generate request, retried on
// transient failures, each attempt bounded by timeout, and returns the
// server's response.
func (m *Model) generate(ctx context.Context, what string, timeout time.Duration, req *api.GenerateRequest) (api.GenerateResponse, error) {
	if err := m.acquire(ctx); err != nil {
		return api.GenerateResponse{}, fmt.Errorf("ollama: %s: %w", what, err)
	}
	defer m.release()
	no := false
	req.Model = m.name
	req.Raw = true
	req.Stream = &no
	req.Truncate = &no
	req.Shift = &no
	req.KeepAlive = &api.Duration{Duration: DefaultKeepAlive}
	var out api.GenerateResponse
	err := m.b.retry(ctx, what, timeout, func(ctx context.Context) error {
		r, err := m.b.postGenerate(ctx, req)
		out = r
		return err
	})
	return out, err
}

// describe shortens a prompt for an error message.
func describe(prompt string) string {
	const n = 40
	if len(prompt) > n {
		prompt = prompt[:n] + "…"
	}
	return fmt.Sprintf("%q", prompt)
}

// Generate implements eval.Model: the greedy continuation of prompt (raw,
// without a template), at most opt.MaxTokens tokens (0: until the context
// is full), cut before the first stop string. A prompt longer than the
// context is an error. An empty answer (the model ended at once, or its
// only token was an incomplete UTF-8 byte the server drops) is "" and no
// error.
func (m *Model) Generate(ctx context.Context, prompt string, opt eval.GenerateOptions) (string, error) {
	if prompt == "" {
		return "", errors.New("ollama: generate: empty prompt (the server would only load the model)")
	}
	numPredict, stop, tokens, err := m.predict(opt)
	if err != nil {
		return "", fmt.Errorf("ollama: generate: %w", err)
	}
	r, err := m.generate(ctx, "generate "+describe(prompt), m.b.opt.Timeouts.Generate(tokens), &api.GenerateRequest{
		Prompt:  prompt,
		Options: m.options(numPredict, stop),
	})
	if err != nil {
		return "", m.contextError(err)
	}
	return r.Response, nil
}

// predict returns a generation's num_predict (-1: until the context is
// full), its non-empty stop strings and the number of tokens it may take.
func (m *Model) predict(opt eval.GenerateOptions) (numPredict int, stop []string, tokens int, err error) {
	if opt.MaxTokens < 0 {
		return 0, nil, 0, fmt.Errorf("negative MaxTokens %d", opt.MaxTokens)
	}
	numPredict = opt.MaxTokens
	if numPredict == 0 {
		numPredict = -1
	}
	stop = make([]string, 0, len(opt.Stop))
	for _, s := range opt.Stop {
		if s != "" {
			stop = append(stop, s)
		}
	}
	tokens = numPredict
	if tokens < 0 {
		tokens = m.b.opt.NumCtx // until the context is full
	}
	return numPredict, stop, tokens, nil
}

// contextError adds a hint to the server's over-long-prompt error and
// marks it eval.ErrContextOverflow, so the evaluator truncates or skips
// the item instead of failing the run.
func (m *Model) contextError(err error) error {
	if strings.Contains(err.Error(), "exceeds the context length") {
		return fmt.Errorf("%w (num_ctx %d, capped at the model's context length; the prompt is not truncated): %w", err, m.b.opt.NumCtx, eval.ErrContextOverflow)
	}
	return err
}

// TopTokens implements eval.Model: the min(k, 20) most likely first
// tokens after prompt, from one generated token's top_logprobs (Ollama
// returns at most 20). When the server reports no logprobs (the greedy
// token was an end-of-sequence token, or an incomplete UTF-8 byte that the
// server drops with its logprobs), the result is empty and no error.
// Tokens that are not valid UTF-8 on their own arrive as "\uFFFD".
func (m *Model) TopTokens(ctx context.Context, prompt string, k int) ([]eval.TokenLogprob, error) {
	if prompt == "" {
		return nil, errors.New("ollama: top tokens: empty prompt")
	}
	if k <= 0 {
		return nil, nil
	}
	k = min(k, maxTopLogprobs)
	r, err := m.generate(ctx, "top tokens "+describe(prompt), m.b.opt.Timeouts.Generate(1), &api.GenerateRequest{
		Prompt:      prompt,
		Options:     m.options(1, nil),
		Logprobs:    true,
		TopLogprobs: k,
	})
	if err != nil {
		return nil, m.contextError(err)
	}
	return firstTop(r.Logprobs, k), nil
}

// firstTop returns the first k top_logprobs of the first generated token
// (none when the server reported no logprobs).
func firstTop(lps []api.Logprob, k int) []eval.TokenLogprob {
	if len(lps) == 0 {
		return []eval.TokenLogprob{}
	}
	top := lps[0].TopLogprobs
	out := make([]eval.TokenLogprob, 0, min(k, len(top)))
	for _, t := range top[:min(k, len(top))] {
		out = append(out, eval.TokenLogprob{Token: t.Token, Logprob: t.Logprob})
	}
	return out
}

// load loads the model into a runner with the request options (an empty
// prompt only loads), so load errors show at Open.
func (m *Model) load(ctx context.Context) error {
	_, err := m.generate(ctx, "load "+m.name, m.b.opt.Timeouts.Import, &api.GenerateRequest{Options: m.options(1, nil)})
	return err
}

// dropSource removes the unquantized blob a quantized model was made from
// from the server's store: the server deletes a blob when the last model
// holding it is deleted, so a model is created from it and deleted (a blob
// another model still holds stays).
func (m *Model) dropSource(ctx context.Context) error {
	name := strings.TrimSuffix(m.name, ":latest") + "-source:latest"
	if err := m.b.dropBlob(ctx, name, m.source); err != nil {
		return fmt.Errorf("ollama: drop the unquantized blob %s of %s: %w", m.source, m.name, err)
	}
	return nil
}

// dropBlob removes the blob digest from the server's store: the API has
// no call for it, but the server deletes a blob that no model uses when
// a model is deleted, so a model name is created from it and deleted.
func (b *Backend) dropBlob(ctx context.Context, name, digest string) error {
	err := b.retry(ctx, "create "+name, b.opt.Timeouts.Request, func(ctx context.Context) error {
		return b.client.Create(ctx, &api.CreateRequest{Model: name, Files: map[string]string{"model.gguf": digest}},
			func(api.ProgressResponse) error { return nil })
	})
	if err != nil {
		return err
	}
	return b.retry(ctx, "delete "+name, b.opt.Timeouts.Request, func(ctx context.Context) error {
		return b.client.Delete(ctx, &api.DeleteRequest{Model: name})
	})
}

// Reload unloads the model from the server's memory, waits until it is
// unloaded, and loads it again, returning how long the load took (for
// measuring the load alone).
func (m *Model) Reload(ctx context.Context) (time.Duration, error) {
	err := m.b.retry(ctx, "unload "+m.name, m.b.opt.Timeouts.Request, func(ctx context.Context) error {
		return m.b.client.Generate(ctx, &api.GenerateRequest{Model: m.name, KeepAlive: &api.Duration{}},
			func(api.GenerateResponse) error { return nil })
	})
	if err != nil {
		return 0, err
	}
	if err := m.waitUnloaded(ctx); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := m.load(ctx); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// waitUnloaded waits until the server no longer lists the model as
// running: the unload request only schedules the runner's end, and the
// next model of a sweep should find the memory free.
//
// The listing is polled until the wait's limit, so a failure that may
// pass (a 5xx: Ollama's /api/ps reads the scheduler's table without its
// lock and can fail while a runner is being torn down) is polled again;
// a final one (a 4xx) ends the wait at once.
func (m *Model) waitUnloaded(ctx context.Context) error {
	const poll = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var lastErr error
	for {
		ps, err := m.b.client.ListRunning(ctx)
		switch {
		case err == nil:
			lastErr = nil
			running := false
			for _, r := range ps.Models {
				if r.Name == m.name || r.Model == m.name {
					running = true
				}
			}
			if !running {
				return nil
			}
		case retryable(ctx, err):
			lastErr = err
		default:
			return fmt.Errorf("ollama: wait for %s to unload: %w", m.name, err)
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("ollama: wait for %s to unload: %w (last listing failed: %w)", m.name, ctx.Err(), lastErr)
			}
			return fmt.Errorf("ollama: %s is still loaded: %w", m.name, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// Close implements eval.Model: it unloads the model from the server's
// memory (keep_alive 0), waits until the server no longer runs it, and
// deletes it unless Options.Keep is set. A server that does not answer
// the health probe fails Close at once. Later
// requests fail; a second Close returns the first's result.
func (m *Model) Close() error {
	m.closeOnce.Do(func() {
		close(m.closed)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := m.b.Probe(ctx); err != nil {
			// A host that is gone or hung: nothing to unload or
			// delete there now, and nothing to wait for.
			m.closeErr = fmt.Errorf("ollama: close %s: %w", m.name, err)
			return
		}
		var errs []error
		zero := &api.Duration{}
		err := m.b.retry(ctx, "unload "+m.name, m.b.opt.Timeouts.Request, func(ctx context.Context) error {
			return m.b.client.Generate(ctx, &api.GenerateRequest{Model: m.name, KeepAlive: zero},
				func(api.GenerateResponse) error { return nil })
		})
		if err != nil {
			errs = append(errs, err)
		} else if err := m.waitUnloaded(ctx); err != nil {
			errs = append(errs, err)
		}
		if !m.b.opt.Keep {
			err := m.b.retry(ctx, "delete "+m.name, m.b.opt.Timeouts.Request, func(ctx context.Context) error {
				return m.b.client.Delete(ctx, &api.DeleteRequest{Model: m.name})
			})
			if err != nil {
				errs = append(errs, err)
			} else if m.source != "" {
				errs = append(errs, m.dropSource(ctx))
			}
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}
