package ollama

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults of Timeouts.
const (
	// DefaultProbeTimeout bounds the health probe: a server answers
	// GET /api/version at once, whatever it is doing.
	DefaultProbeTimeout = 5 * time.Second
	// DefaultRequestTimeout is the base limit of one attempt of a
	// request: loading the prompt, and the whole of a small request
	// (blob check, list, unload, delete).
	DefaultRequestTimeout = time.Minute
	// DefaultPerTokenTimeout is added to the base for each token a
	// request may generate.
	DefaultPerTokenTimeout = 500 * time.Millisecond
	// DefaultImportTimeout bounds one attempt of the blob upload, the
	// create (quantizing included) and the first load of a model, which
	// take minutes for a large model.
	DefaultImportTimeout = 10 * time.Minute
)

// Timeouts bound the backend's requests. Each attempt of a request gets
// its limit afresh (a failed attempt is retried, Options.Retries). A zero
// field takes its default; a negative one means no limit.
type Timeouts struct {
	// Probe bounds the health probe (GET /api/version) that Open and
	// Probe send before any work, all its attempts together: a host that
	// accepts connections but never answers fails within it (0:
	// DefaultProbeTimeout).
	Probe time.Duration
	// Request is the base limit of one attempt of a request (0:
	// DefaultRequestTimeout).
	Request time.Duration
	// PerToken is added to Request for each token a generate request
	// may produce: its num_predict, or num_ctx when it is unbounded (0:
	// DefaultPerTokenTimeout).
	PerToken time.Duration
	// Import bounds one attempt of the upload, the create and the first
	// load of a model (0: DefaultImportTimeout).
	Import time.Duration
}

// WithDefaults returns t with its zero fields set to their defaults.
func (t Timeouts) WithDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&t.Probe, DefaultProbeTimeout)
	def(&t.Request, DefaultRequestTimeout)
	def(&t.PerToken, DefaultPerTokenTimeout)
	def(&t.Import, DefaultImportTimeout)
	return t
}

// Generate returns the limit of one attempt of a request that may generate
// up to tokens tokens: Request + tokens·PerToken (none when Request is
// negative; PerToken negative adds nothing).
func (t Timeouts) Generate(tokens int) time.Duration {
	if t.Request < 0 {
		return -1
	}
	d := t.Request
	if t.PerToken > 0 && tokens > 0 {
		d += time.Duration(tokens) * t.PerToken
	}
	return d
}

// String formats t as ParseTimeouts reads it.
func (t Timeouts) String() string {
	return fmt.Sprintf("probe=%s,request=%s,token=%s,import=%s", t.Probe, t.Request, t.PerToken, t.Import)
}

// ParseTimeouts reads timeouts written as comma-separated key=duration
// pairs, keys probe, request, token and import (e.g.
// "probe=3s,token=2s"); keys not given are 0 (their default), and a
// duration of -1 or "none" means no limit.
func ParseTimeouts(s string) (Timeouts, error) {
	var t Timeouts
	if strings.TrimSpace(s) == "" {
		return t, nil
	}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k = strings.TrimSpace(k)
		if !ok {
			return t, fmt.Errorf("timeouts %q: %q is not key=duration (keys: probe, request, token, import)", s, part)
		}
		var d *time.Duration
		switch k {
		case "probe":
			d = &t.Probe
		case "request":
			d = &t.Request
		case "token":
			d = &t.PerToken
		case "import":
			d = &t.Import
		default:
			return t, fmt.Errorf("timeouts %q: unknown key %q (want probe, request, token or import)", s, k)
		}
		if seen[k] {
			return t, fmt.Errorf("timeouts %q: %s given twice", s, k)
		}
		seen[k] = true
		v = strings.TrimSpace(v)
		switch v {
		case "none", "-1":
			*d = -1
			continue
		}
		dur, err := time.ParseDuration(v)
		if err != nil {
			if n, err2 := strconv.ParseFloat(v, 64); err2 == nil && n == 0 {
				dur, err = 0, nil
			}
		}
		if err != nil || dur < 0 {
			return t, fmt.Errorf("timeouts %q: %s: want a duration such as 5s or 2m, or none, got %q", s, k, v)
		}
		*d = dur
	}
	return t, nil
}

// ErrNoAnswer is wrapped by the error of a health probe that a host did
// not answer in time: something accepts connections there but does not
// answer HTTP requests (a hung or overloaded server, or not an Ollama
// server at all).
var ErrNoAnswer = errors.New("ollama: server does not answer")

// Probe checks, within Timeouts.Probe, that an Ollama server answers at
// the backend's host, and returns its version. A host where nothing
// listens gives an error wrapping ErrUnreachable, one that accepts
// connections but does not answer in time an error wrapping ErrNoAnswer;
// both name the host.
func (b *Backend) Probe(ctx context.Context) (string, error) {
	limit := b.opt.Timeouts.Probe
	pctx := ctx
	if limit > 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	var version string
	err := b.attempts(pctx, "health probe (GET /api/version)", limit, func(ctx context.Context) error {
		v, err := b.client.Version(ctx)
		version = v
		return err
	}, true)
	switch {
	case err == nil:
		return version, nil
	case ctx.Err() != nil:
		return "", fmt.Errorf("ollama: health probe of %s: %w", b.host, ctx.Err())
	case errors.Is(err, ErrUnreachable):
		return "", err
	case pctx.Err() != nil:
		return "", fmt.Errorf("%w: %s accepts connections but did not answer the health probe (GET /api/version) within %s "+
			"(a hung or overloaded server, or no Ollama server; the limit is Options.Timeouts.Probe)", ErrNoAnswer, b.host, limit)
	}
	return "", fmt.Errorf("ollama: health probe of %s: %w", b.host, err)
}
