package ollama

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mergetune/mergetune/eval"
)

// requestLog is an http.Client whose transport records each request it
// sends (method and path) and the deadline its context carried, then
// sends it on. Tests count attempts and read limits from it instead of
// timing calls, which a busy machine makes unreliable.
type requestLog struct {
	mu   sync.Mutex
	reqs []loggedRequest
	next http.RoundTripper
}

// loggedRequest is one request seen by a requestLog: at is when the
// transport got it, deadline its context's deadline (zero: none).
type loggedRequest struct {
	what         string // "GET /api/version"
	at, deadline time.Time
}

func (l *requestLog) RoundTrip(r *http.Request) (*http.Response, error) {
	dl, _ := r.Context().Deadline()
	l.mu.Lock()
	l.reqs = append(l.reqs, loggedRequest{r.Method + " " + r.URL.Path, time.Now(), dl})
	l.mu.Unlock()
	return l.next.RoundTrip(r)
}

// newRequestLog returns a requestLog and an http.Client (for
// Options.HTTPClient) that sends through it.
func newRequestLog() (*requestLog, *http.Client) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	l := &requestLog{next: tr}
	return l, &http.Client{Transport: l}
}

// take returns the requests logged since the last take, as "METHOD
// /path" strings, and the requests themselves.
func (l *requestLog) take() ([]string, []loggedRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	reqs := l.reqs
	l.reqs = nil
	whats := make([]string, len(reqs))
	for i, r := range reqs {
		whats[i] = r.what
	}
	return whats, reqs
}

// checkLimit reports whether r's context carried a limit of want, given
// that the call that sent it began at start. The limit was set after
// start and before the transport saw r, so it lies between
// r.deadline-r.at and r.deadline-start whatever the machine's speed.
func checkLimit(r loggedRequest, start time.Time, want time.Duration) error {
	if r.deadline.IsZero() {
		return fmt.Errorf("%s had no deadline, want a limit of %v", r.what, want)
	}
	if lo, hi := r.deadline.Sub(r.at), r.deadline.Sub(start); want < lo || want > hi {
		return fmt.Errorf("%s had a limit between %v and %v, want %v", r.what, lo, hi, want)
	}
	return nil
}

// hungHost returns the address of a TCP listener that accepts connections
// and never answers, as a hung server does.
func hungHost(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// TestProbeHungHost checks that a host that accepts connections but never
// answers fails Open within the probe timeout (seconds, by default), with
// an error that names the host, instead of blocking a study for minutes
// (issue 10, point 8).
func TestProbeHungHost(t *testing.T) {
	addr := hungHost(t)
	tests := []struct {
		name     string
		timeouts Timeouts
		limit    time.Duration
	}{
		{"default", Timeouts{}, DefaultProbeTimeout},
		{"short", Timeouts{Probe: 300 * time.Millisecond}, 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, hc := newRequestLog()
			b, err := New(Options{Host: addr, Timeouts: tc.timeouts, HTTPClient: hc})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = b.Open(t.Context(), modelDir())
			if !errors.Is(err, ErrNoAnswer) {
				t.Fatalf("Open error = %v, want ErrNoAnswer", err)
			}
			for _, s := range []string{"http://" + addr, "health probe", tc.limit.String(), modelDir()} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			// Open gave up after one probe, bounded by the probe limit:
			// no retry, nothing sent after it.
			whats, reqs := log.take()
			if want := []string{"GET /api/version"}; !slices.Equal(whats, want) {
				t.Fatalf("Open sent %q, want %q", whats, want)
			}
			if err := checkLimit(reqs[0], start, tc.limit); err != nil {
				t.Error(err)
			}
			if tc.limit > time.Second {
				return
			}
			start = time.Now()
			if _, err := b.Probe(t.Context()); !errors.Is(err, ErrNoAnswer) {
				t.Errorf("Probe = %v", err)
			}
			if whats, reqs := log.take(); len(whats) != 1 || whats[0] != "GET /api/version" {
				t.Errorf("Probe sent %q, want one GET /api/version", whats)
			} else if err := checkLimit(reqs[0], start, tc.limit); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestProbeAnswers checks the probe against a server that answers, and
// that a refused connection still says how to start a server at once.
func TestProbeAnswers(t *testing.T) {
	m := fakeModel(t, Options{}, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/version" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"version":"0.17.4"}`))
	})
	if v, err := m.b.Probe(t.Context()); err != nil || v != "0.17.4" {
		t.Errorf("Probe = %q, %v", v, err)
	}
	log, hc := newRequestLog()
	b, err := New(Options{Host: closedAddr(t), Backoff: time.Second, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Probe(t.Context()); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Probe of a closed port = %v, want ErrUnreachable", err)
	}
	if whats, _ := log.take(); len(whats) != 1 {
		t.Errorf("Probe of a closed port sent %q, want one attempt (no retry)", whats)
	}
}

// TestGenerateTimeoutScales checks that a generate attempt's limit is the
// base plus a share per token asked for, against a server that never
// answers.
func TestGenerateTimeoutScales(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	to := Timeouts{Request: 100 * time.Millisecond, PerToken: 40 * time.Millisecond}
	log, hc := newRequestLog()
	m := fakeModel(t, Options{Retries: -1, Timeouts: to, HTTPClient: hc}, func(w http.ResponseWriter, r *http.Request) {
		select { // hang until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	})
	for _, tc := range []struct {
		name string
		run  func() error
		want time.Duration
	}{
		{"generate 10 tokens", func() error {
			_, err := m.Generate(t.Context(), "p", eval.GenerateOptions{MaxTokens: 10})
			return err
		}, 500 * time.Millisecond},
		{"top tokens", func() error {
			_, err := m.TopTokens(t.Context(), "p", 5)
			return err
		}, 140 * time.Millisecond},
		{"generate to the context's end", func() error {
			_, err := m.Generate(t.Context(), "p", eval.GenerateOptions{})
			return err
		}, -1}, // num_ctx 2048 tokens: far beyond the test; cut by the caller
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want < 0 {
				if got := to.WithDefaults().Generate(DefaultNumCtx); got != 100*time.Millisecond+2048*40*time.Millisecond {
					t.Errorf("limit %v", got)
				}
				return
			}
			start := time.Now()
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
				t.Errorf("error %v, want a deadline", err)
			}
			whats, reqs := log.take()
			if len(reqs) != 1 {
				t.Fatalf("sent %q, want one attempt", whats)
			}
			if err := checkLimit(reqs[0], start, tc.want); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestTimeoutsGenerate(t *testing.T) {
	tests := []struct {
		t      Timeouts
		tokens int
		want   time.Duration
	}{
		{Timeouts{}.WithDefaults(), 0, DefaultRequestTimeout},
		{Timeouts{}.WithDefaults(), 256, DefaultRequestTimeout + 256*DefaultPerTokenTimeout},
		{Timeouts{Request: time.Second, PerToken: -1}, 100, time.Second},
		{Timeouts{Request: -1, PerToken: time.Second}, 100, -1},
	}
	for _, tc := range tests {
		if got := tc.t.Generate(tc.tokens); got != tc.want {
			t.Errorf("%v.Generate(%d) = %v, want %v", tc.t, tc.tokens, got, tc.want)
		}
	}
}

func TestParseTimeouts(t *testing.T) {
	tests := []struct {
		in   string
		want Timeouts
		err  string
	}{
		{"", Timeouts{}, ""},
		{"probe=3s", Timeouts{Probe: 3 * time.Second}, ""},
		{"probe=2s, request=30s,token=1s,import=none", Timeouts{2 * time.Second, 30 * time.Second, time.Second, -1}, ""},
		{"request=0", Timeouts{}, ""},
		{"probe", Timeouts{}, `timeouts "probe": "probe" is not key=duration (keys: probe, request, token, import)`},
		{"probes=1s", Timeouts{}, `timeouts "probes=1s": unknown key "probes" (want probe, request, token or import)`},
		{"probe=fast", Timeouts{}, `timeouts "probe=fast": probe: want a duration such as 5s or 2m, or none, got "fast"`},
		{"probe=-2s", Timeouts{}, `timeouts "probe=-2s": probe: want a duration such as 5s or 2m, or none, got "-2s"`},
		{"probe=1s,probe=2s", Timeouts{}, `timeouts "probe=1s,probe=2s": probe given twice`},
	}
	for _, tc := range tests {
		got, err := ParseTimeouts(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseTimeouts(%q) error %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseTimeouts(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if got, err := ParseTimeouts(Timeouts{}.WithDefaults().String()); err != nil || got != (Timeouts{}).WithDefaults() {
		t.Errorf("round trip: %v, %v", got, err)
	}
}

// TestHungHostMidRun checks that a host that stops answering during a run
// ends a request's retries after one attempt and a probe, and fails Close
// at once, instead of waiting out every attempt.
func TestHungHostMidRun(t *testing.T) {
	to := Timeouts{Probe: 200 * time.Millisecond, Request: 300 * time.Millisecond, PerToken: -1}
	log, hc := newRequestLog()
	b, err := New(Options{Host: hungHost(t), Retries: 3, Backoff: time.Millisecond, Timeouts: to, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	m := b.newModel("hung:latest", "sha256:00", "0.0.0")
	_, err = m.Generate(t.Context(), "p", eval.GenerateOptions{MaxTokens: 4})
	if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "attempt 1 ran past its limit of 300ms") {
		t.Errorf("Generate error = %v", err)
	}
	// One attempt and one probe, not 1+Retries attempts.
	if whats, _ := log.take(); !slices.Equal(whats, []string{"POST /api/generate", "GET /api/version"}) {
		t.Errorf("Generate sent %q, want one attempt and a probe", whats)
	}
	if err := m.Close(); !errors.Is(err, ErrNoAnswer) {
		t.Errorf("Close = %v", err)
	}
	// Close probes once and sends nothing more (no unload, no delete).
	if whats, _ := log.take(); !slices.Equal(whats, []string{"GET /api/version"}) {
		t.Errorf("Close sent %q, want one probe", whats)
	}
}
