package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/ollama/ollama/api"
)

// ErrUnreachable is wrapped by the errors of requests that could not
// connect to the Ollama server at all (connection refused, unknown host).
var ErrUnreachable = errors.New("ollama: server unreachable")

// maxBackoff caps the wait between two attempts of a request.
const maxBackoff = 30 * time.Second

// unreachable reports whether err says that no server listens at the host.
func unreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

// unreachableError wraps err with ErrUnreachable and says how to start a
// server.
func (b *Backend) unreachableError(err error) error {
	return fmt.Errorf("%w at %s: %w\n\tstart one with `ollama serve` (it listens on OLLAMA_HOST, "+
		"default 127.0.0.1:11434), or point OLLAMA_HOST or Options.Host at a running server",
		ErrUnreachable, b.host, err)
}

// retryable reports whether a failed attempt may succeed when repeated: a
// dropped or refused connection, a timeout of the attempt, or a server-side
// failure (5xx, 429). Client errors (4xx: a bad request, an unknown model,
// an over-long prompt) are final.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false // the caller gave up
	}
	var se api.StatusError
	if errors.As(err, &se) {
		return se.StatusCode >= 500 || se.StatusCode == http.StatusTooManyRequests ||
			se.StatusCode == http.StatusRequestTimeout
	}
	var ae api.AuthorizationError
	if errors.As(err, &ae) {
		return false
	}
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne):
		return true
	case errors.Is(err, errIncomplete):
		return true
	}
	return false
}

// errIncomplete marks a response that ended before its final chunk.
var errIncomplete = errors.New("response ended before it was done")

// retry runs attempt until it succeeds, fails with an error that is not
// retryable, or has failed 1+Retries times, waiting Backoff, 2·Backoff,
// 4·Backoff, … between attempts. Each attempt gets its own limit, timeout
// (none when it is not positive; see Timeouts). what names the request in
// the error.
//
// An attempt that ran past its limit is followed by a health probe
// (Probe): a host that no longer answers at all ends the retries at once,
// with an error wrapping ErrNoAnswer, instead of after every attempt's
// full limit.
func (b *Backend) retry(ctx context.Context, what string, timeout time.Duration, attempt func(ctx context.Context) error) error {
	return b.attempts(ctx, what, timeout, attempt, false)
}

// attempts is retry; isProbe marks the health probe itself, which is not
// probed again and where a host where nothing listens fails at once
// instead of being tried again.
func (b *Backend) attempts(ctx context.Context, what string, timeout time.Duration, attempt func(ctx context.Context) error, isProbe bool) error {
	var err error
	tries := 1 + b.opt.Retries
	for i := range tries {
		if i > 0 {
			wait := min(b.opt.Backoff<<(i-1), maxBackoff)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("ollama: %s: %w (after %d attempts, last error: %v)", what, ctx.Err(), i, err)
			case <-t.C:
			}
		}
		err = attemptWithin(ctx, timeout, attempt)
		if err == nil {
			return nil
		}
		if !retryable(ctx, err) || isProbe && unreachable(err) {
			break
		}
		if !isProbe && errors.Is(err, context.DeadlineExceeded) && i < tries-1 {
			if _, perr := b.Probe(ctx); errors.Is(perr, ErrNoAnswer) {
				return fmt.Errorf("ollama: %s: attempt %d ran past its limit of %s, and %w", what, i+1, timeout, perr)
			}
		}
		if i == tries-1 {
			if unreachable(err) {
				return fmt.Errorf("ollama: %s: failed after %d attempts: %w", what, tries, b.unreachableError(err))
			}
			return fmt.Errorf("ollama: %s: failed after %d attempts: %w", what, tries, err)
		}
	}
	if unreachable(err) {
		return fmt.Errorf("ollama: %s: %w", what, b.unreachableError(err))
	}
	return fmt.Errorf("ollama: %s: %w", what, err)
}

// attemptWithin runs one attempt, bounded by timeout when it is positive.
func attemptWithin(ctx context.Context, timeout time.Duration, f func(ctx context.Context) error) error {
	if timeout <= 0 {
		return f(ctx)
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return f(actx)
}

// postGenerate sends one non-streaming /api/generate request. Unlike the
// api client's streaming reader, it reports a body cut short by a dropped
// connection as an error (io.ErrUnexpectedEOF), so the request is retried.
func (b *Backend) postGenerate(ctx context.Context, req *api.GenerateRequest) (api.GenerateResponse, error) {
	var out api.GenerateResponse
	err := b.post(ctx, "/api/generate", req, &out)
	return out, err
}

// post sends one non-streaming request to path and decodes the answer
// into out, with postGenerate's error rules.
func (b *Backend) post(ctx context.Context, path string, req, out any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, b.host.JoinPath(path).String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	resp, err := b.http.Do(hreq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= http.StatusBadRequest {
		se := api.StatusError{StatusCode: resp.StatusCode, Status: resp.Status}
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			se.ErrorMessage = e.Error
		} else {
			se.ErrorMessage = strings.TrimSpace(string(data))
		}
		return se
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%w: empty body (status %s)", errIncomplete, resp.Status)
	}
	if err := json.Unmarshal(data, out); err != nil {
		// A body cut short is not valid JSON; treat it as a dropped
		// connection.
		return fmt.Errorf("%w: decode response: %w", errIncomplete, err)
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		return api.StatusError{StatusCode: http.StatusInternalServerError, Status: resp.Status, ErrorMessage: e.Error}
	}
	return nil
}
