package openai

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/ollama"
)

// fake is an OpenAI-compatible server: /v1/models lists models,
// /v1/completions answers with complete, /v1/chat/completions with chat.
type fake struct {
	models   []string
	complete func(w http.ResponseWriter, req completionRequest)
	chat     func(w http.ResponseWriter, req chatRequest)
	auth     atomic.Value // last Authorization header
	calls    atomic.Int64
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.auth.Store(r.Header.Get("Authorization"))
	switch r.URL.Path {
	case "/v1/models":
		var d []map[string]string
		for _, m := range f.models {
			d = append(d, map[string]string{"id": m, "object": "model"})
		}
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": d})
	case "/v1/completions":
		f.calls.Add(1)
		var req completionRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.complete(w, req)
	case "/v1/chat/completions":
		f.calls.Add(1)
		var req chatRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.chat(w, req)
	default:
		http.NotFound(w, r)
	}
}

func text(w http.ResponseWriter, s string, logprobs any) {
	c := map[string]any{"text": s, "index": 0}
	if logprobs != nil {
		c["logprobs"] = logprobs
	}
	json.NewEncoder(w).Encode(map[string]any{"choices": []any{c}})
}

// modelDir writes a tiny model directory.
func modelDir(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newFake(t *testing.T, f *fake, opt Options) (*Backend, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	opt.BaseURL = srv.URL
	if opt.ServedName == "" {
		opt.ServedName = "cand"
	}
	if opt.Backoff == 0 {
		opt.Backoff = time.Millisecond
	}
	b, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return b, srv
}

// TestRequestAndAnswer: a generation sends the raw prompt greedily with
// max_tokens and stop, and returns the text.
func TestRequestAndAnswer(t *testing.T) {
	var got completionRequest
	f := &fake{models: []string{"cand"}, complete: func(w http.ResponseWriter, req completionRequest) {
		got = req
		text(w, "cba", nil)
	}}
	b, _ := newFake(t, f, Options{Seed: 7})
	m, err := b.Open(t.Context(), modelDir(t, "{}"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Generate(t.Context(), "rev abc=", eval.GenerateOptions{MaxTokens: 16, Stop: []string{"\n", ""}})
	if err != nil || out != "cba" {
		t.Fatalf("Generate = %q, %v", out, err)
	}
	if got.Model != "cand" || got.Prompt != "rev abc=" || got.MaxTokens == nil || *got.MaxTokens != 16 ||
		got.Temperature != 0 || got.TopP != 1 || got.Seed != 7 || len(got.Stop) != 1 || got.Stop[0] != "\n" || got.Logprobs != nil {
		t.Errorf("request %+v", got)
	}
}

// TestTopTokensShapes: the completions logprobs field in the legacy
// OpenAI shape (vLLM, SGLang) and the chat shape (llama.cpp) give the
// same alternatives, most likely first, capped at k; none gives the
// greedy token alone; TopLogprobs < 0 is unsupported.
func TestTopTokensShapes(t *testing.T) {
	legacy := map[string]any{"tokens": []string{" B"}, "token_logprobs": []float64{-0.1},
		"top_logprobs": []map[string]float64{{" A": -2, " B": -0.1, "C": -3}}}
	chat := map[string]any{"content": []any{map[string]any{"token": " B", "logprob": -0.1,
		"top_logprobs": []any{map[string]any{"token": " B", "logprob": -0.1}, map[string]any{"token": " A", "logprob": -2}, map[string]any{"token": "C", "logprob": -3}}}}}
	want := []eval.TokenLogprob{{Token: " B", Logprob: -0.1}, {Token: " A", Logprob: -2}}
	for _, c := range []struct {
		name     string
		logprobs any
		want     []eval.TokenLogprob
	}{
		{"legacy", legacy, want},
		{"chat", chat, want},
		{"none", nil, []eval.TokenLogprob{{Token: " B", Logprob: 0}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var asked *int
			f := &fake{models: []string{"cand"}, complete: func(w http.ResponseWriter, req completionRequest) {
				asked = req.Logprobs
				text(w, " B", c.logprobs)
			}}
			b, _ := newFake(t, f, Options{})
			m, err := b.Open(t.Context(), modelDir(t, "{}"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.TopTokens(t.Context(), "q", 2)
			if err != nil {
				t.Fatal(err)
			}
			if asked == nil || *asked != 2 {
				t.Errorf("logprobs asked: %v, want 2", asked)
			}
			if len(got) != len(c.want) {
				t.Fatalf("TopTokens = %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("TopTokens = %v, want %v", got, c.want)
				}
			}
		})
	}
	b, _ := newFake(t, &fake{models: []string{"cand"}}, Options{TopLogprobs: -1})
	m, err := b.Open(t.Context(), modelDir(t, "{}"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.TopTokens(t.Context(), "q", 2); !errors.Is(err, eval.ErrUnsupported) {
		t.Errorf("TopTokens with top_logprobs off: %v, want ErrUnsupported", err)
	}
}

// TestErrors: a server error is retried, an over-long prompt wraps
// eval.ErrContextOverflow and is not retried, another 400 is final.
func TestErrors(t *testing.T) {
	cases := []struct {
		name      string
		fail      int // first this many calls fail with status/body
		status    int
		body      string
		wantErr   bool
		overflow  bool
		wantCalls int64
	}{
		{"retried 503", 2, 503, `{"error": {"message": "busy"}}`, false, false, 3},
		{"vllm overflow", 1, 400, `{"object":"error","message":"This model's maximum context length is 2048 tokens. However, you requested 3000 tokens"}`, true, true, 1},
		{"llama.cpp overflow", 1, 400, `{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}`, true, true, 1},
		{"bad request", 9, 400, `{"error": "invalid stop"}`, true, false, 1},
		{"gives up", 9, 500, `oops`, true, false, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n atomic.Int64
			f := &fake{models: []string{"cand"}, complete: func(w http.ResponseWriter, req completionRequest) {
				if n.Add(1) <= int64(c.fail) {
					w.WriteHeader(c.status)
					w.Write([]byte(c.body))
					return
				}
				text(w, "ok", nil)
			}}
			b, _ := newFake(t, f, Options{})
			m, err := b.Open(t.Context(), modelDir(t, "{}"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.Generate(t.Context(), "p", eval.GenerateOptions{MaxTokens: 4})
			if (err != nil) != c.wantErr || errors.Is(err, eval.ErrContextOverflow) != c.overflow {
				t.Errorf("err = %v, want error %v, overflow %v", err, c.wantErr, c.overflow)
			}
			if f.calls.Load() != c.wantCalls {
				t.Errorf("%d calls, want %d", f.calls.Load(), c.wantCalls)
			}
		})
	}
}

// TestProbe: a server that does not serve the name is refused with the
// names it lists; one that does not answer fails within the probe limit.
func TestProbe(t *testing.T) {
	b, _ := newFake(t, &fake{models: []string{"other", "x"}}, Options{})
	_, err := b.Open(t.Context(), modelDir(t, "{}"))
	if err == nil || !strings.Contains(err.Error(), `does not serve "cand"`) || !strings.Contains(err.Error(), "other") {
		t.Errorf("Open with an unserved name: %v", err)
	}
	var hangCalls atomic.Int32
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hangCalls.Add(1)
		<-r.Context().Done()
	}))
	defer hang.Close()
	hb, err := New(Options{BaseURL: hang.URL, ServedName: "cand", Timeouts: ollama.Timeouts{Probe: 200 * time.Millisecond}, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	// ErrNoAnswer comes only from the probe's limit (without one the
	// probe would wait for ever); one request, no retry. Not timed: a
	// busy machine makes elapsed-time thresholds fail at random.
	if err := hb.Probe(t.Context()); !errors.Is(err, ErrNoAnswer) {
		t.Errorf("Probe of a hung server: %v, want ErrNoAnswer", err)
	}
	if n := hangCalls.Load(); n != 1 {
		t.Errorf("Probe of a hung server sent %d requests, want 1", n)
	}
}

// TestOptions: bad options are refused with the field named; the API key
// is sent as a bearer token.
func TestOptions(t *testing.T) {
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{ServedName: "m"}, "base_url is required"},
		{Options{BaseURL: "ftp://x", ServedName: "m"}, "base_url"},
		{Options{BaseURL: "http://127.0.0.1:1"}, "served model name"},
		{Options{BaseURL: "http://127.0.0.1:1", ServedName: "m", APIKeyEnv: "MERGETUNE_TEST_NO_SUCH_KEY"}, "MERGETUNE_TEST_NO_SUCH_KEY"},
	} {
		if _, err := New(c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error with %q", c.opt, err, c.want)
		}
	}
	t.Setenv("MERGETUNE_TEST_KEY", "sekrit")
	f := &fake{models: []string{"cand"}}
	b, _ := newFake(t, f, Options{APIKeyEnv: "MERGETUNE_TEST_KEY"})
	if err := b.Probe(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := f.auth.Load(); got != "Bearer sekrit" {
		t.Errorf("Authorization %q", got)
	}
}

// TestCandidateDirAndReload: Open links candidate_dir to each candidate
// (replacing the previous link), runs the reload hook with the
// candidate's path, and fails with the hook's stderr or its time limit;
// a real directory at candidate_dir is never replaced.
func TestCandidateDirAndReload(t *testing.T) {
	root := t.TempDir()
	link := filepath.Join(root, "serve", "current")
	seen := filepath.Join(root, "seen")
	f := &fake{models: []string{"cand"}}
	b, _ := newFake(t, f, Options{CandidateDir: link,
		ReloadCommand: `echo "$1 $MERGETUNE_CANDIDATE $MERGETUNE_SERVED_NAME" >> ` + seen})
	a, c := modelDir(t, `{"a":1}`), modelDir(t, `{"c":1}`)
	ma, err := b.OpenModel(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := b.OpenModel(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if dest, err := os.Readlink(link); err != nil || dest != c {
		t.Errorf("candidate_dir links to %q (%v), want %q", dest, err, c)
	}
	data, _ := os.ReadFile(seen)
	if want := a + " " + a + " cand\n" + c + " " + c + " cand\n"; string(data) != want {
		t.Errorf("hook saw %q, want %q", data, want)
	}
	if ma.Digest() == mc.Digest() || !strings.HasPrefix(ma.Digest(), "sha256:") {
		t.Errorf("digests %s, %s: want distinct content digests", ma.Digest(), mc.Digest())
	}

	bad, _ := newFake(t, f, Options{ReloadCommand: `echo "vllm: no such model" >&2; exit 3`})
	if _, err := bad.Open(t.Context(), a); err == nil || !strings.Contains(err.Error(), "vllm: no such model") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("failing hook: %v", err)
	}
	// A hook that would run for 90 s is stopped at its 200 ms limit (and
	// its stderr given up WaitDelay later). The minute's watchdog only
	// catches a hook waited out (Open would take the hook's 90 s); no
	// tighter time limit, since a busy machine slows every step.
	slow, _ := newFake(t, f, Options{ReloadCommand: `sleep 90`, Timeouts: ollama.Timeouts{Import: 200 * time.Millisecond}})
	slowDone := make(chan error, 1)
	go func() {
		_, err := slow.Open(t.Context(), a)
		slowDone <- err
	}()
	select {
	case err := <-slowDone:
		if err == nil || !strings.Contains(err.Error(), "past its limit") {
			t.Errorf("slow hook: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Open still waiting for the slow hook a minute after its 200 ms limit")
	}

	realDir := filepath.Join(root, "real")
	os.Mkdir(realDir, 0o755)
	rb, _ := newFake(t, f, Options{CandidateDir: realDir})
	if _, err := rb.Open(t.Context(), a); err == nil || !strings.Contains(err.Error(), "not a symbolic link") {
		t.Errorf("candidate_dir over a real directory: %v", err)
	}
	if fi, err := os.Lstat(realDir); err != nil || !fi.IsDir() {
		t.Errorf("the real directory was touched: %v", err)
	}
}
