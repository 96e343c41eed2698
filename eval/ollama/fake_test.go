package ollama

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/mergetune/mergetune/eval"
)

// fakeModel returns a model handle on a fake server that answers
// /api/generate with handle.
func fakeModel(t *testing.T, opt Options, handle http.HandlerFunc) *Model {
	t.Helper()
	srv := httptest.NewServer(handle)
	t.Cleanup(srv.Close)
	opt.Host = srv.URL
	if opt.Backoff == 0 {
		opt.Backoff = time.Millisecond
	}
	b, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return b.newModel("fake:latest", "sha256:00", "0.0.0")
}

func reply(w http.ResponseWriter, r api.GenerateResponse) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(r)
}

// dropConnection closes the connection without an answer.
func dropConnection(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	conn.Close()
}

func TestRetryThenSuccess(t *testing.T) {
	for _, fault := range []string{"500", "503", "drop", "truncated", "empty"} {
		t.Run(fault, func(t *testing.T) {
			var calls atomic.Int32
			m := fakeModel(t, Options{}, func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) <= 2 {
					switch fault {
					case "500":
						http.Error(w, `{"error":"runner crashed"}`, http.StatusInternalServerError)
					case "503":
						http.Error(w, `{"error":"server busy"}`, http.StatusServiceUnavailable)
					case "drop":
						dropConnection(t, w)
					case "truncated":
						w.Header().Set("Content-Length", "100")
						w.Write([]byte(`{"response":"o`))
					case "empty":
						w.WriteHeader(http.StatusOK)
					}
					return
				}
				reply(w, api.GenerateResponse{Response: "ok", Done: true})
			})
			got, err := m.Generate(t.Context(), "p", eval.GenerateOptions{MaxTokens: 2})
			if err != nil || got != "ok" {
				t.Fatalf("Generate = %q, %v; want ok", got, err)
			}
			if n := calls.Load(); n != 3 {
				t.Errorf("%d calls, want 3", n)
			}
		})
	}
}

func TestRetryExhausted(t *testing.T) {
	var calls atomic.Int32
	m := fakeModel(t, Options{Retries: 2, Backoff: 5 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, `{"error":"model runner has unexpectedly stopped"}`, http.StatusInternalServerError)
	})
	start := time.Now()
	_, err := m.Generate(t.Context(), "item 17 prompt", eval.GenerateOptions{MaxTokens: 2})
	if err == nil {
		t.Fatal("Generate succeeded against a failing server")
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d calls, want 1 + 2 retries", n)
	}
	for _, s := range []string{"failed after 3 attempts", "model runner has unexpectedly stopped", "item 17 prompt"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	var se api.StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 {
		t.Errorf("error does not wrap the cause: %#v", err)
	}
	// Backoff 5ms, 10ms.
	if d := time.Since(start); d < 15*time.Millisecond {
		t.Errorf("no backoff between attempts (%v)", d)
	}

	calls.Store(0)
	m = fakeModel(t, Options{Retries: -1}, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, `{"error":"boom"}`, http.StatusInternalServerError)
	})
	if _, err := m.Generate(t.Context(), "p", eval.GenerateOptions{}); err == nil || calls.Load() != 1 {
		t.Errorf("Retries -1: %d calls, error %v", calls.Load(), err)
	}
}

func TestClientErrorNotRetried(t *testing.T) {
	var calls atomic.Int32
	m := fakeModel(t, Options{}, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, `{"error":"the input length exceeds the context length"}`, http.StatusBadRequest)
	})
	_, err := m.Generate(t.Context(), "p", eval.GenerateOptions{})
	if err == nil || !strings.Contains(err.Error(), "exceeds the context length") || !errors.Is(err, eval.ErrContextOverflow) {
		t.Errorf("error = %v, want one wrapping eval.ErrContextOverflow", err)
	}
	if calls.Load() != 1 {
		t.Errorf("%d calls, want 1", calls.Load())
	}
}

// TestEmptyResponse checks that an empty answer (EOS first, or a dropped
// partial UTF-8 token) is "" or no tokens, not an error.
func TestEmptyResponse(t *testing.T) {
	m := fakeModel(t, Options{}, func(w http.ResponseWriter, r *http.Request) {
		reply(w, api.GenerateResponse{Response: "", Done: true, DoneReason: "stop",
			Metrics: api.Metrics{EvalCount: 1}})
	})
	got, err := m.Generate(t.Context(), "p", eval.GenerateOptions{MaxTokens: 1})
	if err != nil || got != "" {
		t.Errorf("Generate = %q, %v; want \"\", nil", got, err)
	}
	top, err := m.TopTokens(t.Context(), "p", 5)
	if err != nil || len(top) != 0 {
		t.Errorf("TopTokens = %v, %v; want none, nil", top, err)
	}
}

// TestRequest checks the request the backend sends.
func TestRequest(t *testing.T) {
	var mu sync.Mutex
	var reqs []map[string]any
	m := fakeModel(t, Options{Seed: 7, NumCtx: 512}, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/generate" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Error(err)
		}
		mu.Lock()
		reqs = append(reqs, req)
		mu.Unlock()
		lp := api.Logprob{TokenLogprob: api.TokenLogprob{Token: "a", Logprob: -0.1}}
		for i := range 20 {
			lp.TopLogprobs = append(lp.TopLogprobs, api.TokenLogprob{Token: string(rune('a' + i)), Logprob: -0.1 * float64(i+1)})
		}
		reply(w, api.GenerateResponse{Response: "a", Done: true, Logprobs: []api.Logprob{lp}})
	})
	if _, err := m.Generate(t.Context(), "gen", eval.GenerateOptions{MaxTokens: 5, Stop: []string{"\n", ""}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Generate(t.Context(), "gen0", eval.GenerateOptions{}); err != nil {
		t.Fatal(err)
	}
	top, err := m.TopTokens(t.Context(), "top", 30)
	if err != nil || len(top) != 20 || top[0].Token != "a" || top[0].Logprob != -0.1 {
		t.Fatalf("TopTokens = %v, %v", top, err)
	}
	top, err = m.TopTokens(t.Context(), "top3", 3)
	if err != nil || len(top) != 3 {
		t.Fatalf("TopTokens(3) = %v, %v", top, err)
	}
	if len(reqs) != 4 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, r := range reqs {
		if r["model"] != "fake:latest" || r["raw"] != true || r["stream"] != false || r["truncate"] != false || r["shift"] != false {
			t.Errorf("request %v", r)
		}
		if r["keep_alive"] == nil {
			t.Errorf("request %v has no keep_alive", r)
		}
		o, _ := r["options"].(map[string]any)
		want := map[string]float64{"temperature": 0, "repeat_penalty": 1, "top_k": 1, "seed": 7, "num_ctx": 512}
		for k, v := range want {
			if o[k] != v {
				t.Errorf("option %s = %v, want %v (request %v)", k, o[k], v, r)
			}
		}
	}
	if o := reqs[0]["options"].(map[string]any); o["num_predict"] != 5.0 || fmt.Sprint(o["stop"]) != "[\n]" {
		t.Errorf("generate options %v", o)
	}
	if o := reqs[1]["options"].(map[string]any); o["num_predict"] != -1.0 || o["stop"] != nil {
		t.Errorf("generate (no limit) options %v", o)
	}
	if r := reqs[2]; r["logprobs"] != true || r["top_logprobs"] != 20.0 || r["options"].(map[string]any)["num_predict"] != 1.0 {
		t.Errorf("top tokens request %v", r)
	}
	if r := reqs[3]; r["top_logprobs"] != 3.0 {
		t.Errorf("top tokens request %v", r)
	}
}

// TestParallelLimit checks that at most Options.Parallel requests of a
// model are in flight.
func TestParallelLimit(t *testing.T) {
	var inFlight, peak atomic.Int32
	// The first requests wait until two are in flight, so the peak is the
	// limit whatever the machine's speed (a sleep hoped to overlap them
	// could fail on a busy machine); the minute only ends a run that
	// never has two in flight, whose peak then shows it.
	two := make(chan struct{})
	var once sync.Once
	m := fakeModel(t, Options{Parallel: 2}, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if n >= 2 {
			once.Do(func() { close(two) })
		}
		select {
		case <-two:
		case <-time.After(time.Minute):
			once.Do(func() { close(two) })
		}
		reply(w, api.GenerateResponse{Response: "x", Done: true})
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := m.Generate(t.Context(), "p", eval.GenerateOptions{MaxTokens: 1}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrency %d, want 2", p)
	}
}

// closedAddr returns an address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestConnectionRefused(t *testing.T) {
	addr := closedAddr(t)
	b, err := New(Options{Host: addr, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Open(t.Context(), modelDir())
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Open error = %v, want ErrUnreachable", err)
	}
	for _, s := range []string{"ollama serve", "OLLAMA_HOST", "http://" + addr, "connection refused"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	// A server that goes away mid-run: retried, then the same hint.
	m := b.newModel("gone:latest", "sha256:00", "0.0.0")
	_, err = m.Generate(t.Context(), "p", eval.GenerateOptions{})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "failed after 4 attempts") {
		t.Errorf("Generate error = %v", err)
	}
}

// TestHostFromEnvironment checks that OLLAMA_HOST is honoured.
func TestHostFromEnvironment(t *testing.T) {
	addr := closedAddr(t)
	t.Setenv("OLLAMA_HOST", addr)
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Host() != "http://"+addr {
		t.Errorf("Host() = %q", b.Host())
	}
	if _, err := b.Open(t.Context(), modelDir()); err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("Open error = %v, want one naming %s", err, addr)
	}
}

func TestHostURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "http://127.0.0.1:11434",
		"127.0.0.1:8080":        "http://127.0.0.1:8080",
		"localhost":             "http://localhost:11434",
		":9000":                 "http://127.0.0.1:9000",
		"http://example.com":    "http://example.com:80",
		"https://example.com":   "https://example.com:443",
		"http://10.0.0.1:1234/": "http://10.0.0.1:1234",
		"[::1]:5000":            "http://[::1]:5000",
	} {
		t.Setenv("OLLAMA_HOST", "")
		u, err := hostURL(in)
		if err != nil || u.String() != want {
			t.Errorf("hostURL(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, bad := range []string{"ftp://x", "host:99999"} {
		if _, err := hostURL(bad); err == nil {
			t.Errorf("hostURL(%q) succeeded", bad)
		}
	}
}

// TestBackendLocal: a Backend counts its server as on this machine (an
// upload's copy written here: releaser) exactly for loopback hosts.
func TestBackendLocal(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:8080":           true,
		"localhost":                true,
		"http://[::1]:5000":        true,
		":9000":                    true,
		"http://10.0.0.1:1234":     false,
		"https://example.com":      false,
		"http://192.168.1.7:11434": false,
	} {
		b, err := New(Options{Host: host})
		if err != nil {
			t.Fatal(err)
		}
		if b.local != want {
			t.Errorf("New(Host %q): local %v, want %v", host, b.local, want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{Quantize: "q3_weird"}); err == nil {
		t.Error("New accepted an unknown quantization")
	}
	if _, err := New(Options{Engine: "vllm"}); err == nil {
		t.Error("New accepted an unknown engine")
	}
	b, err := New(Options{NamePrefix: "Study 1/Trial#7", Host: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if b.opt.NamePrefix != "study-1-trial-7" || b.opt.Retries != DefaultRetries || b.opt.NumCtx != DefaultNumCtx {
		t.Errorf("options %+v", b.opt)
	}
}

// TestCloseRidesOutListingFailure checks that Close polls the running
// models again when the listing fails with a server error (Ollama's
// /api/ps can fail while a runner is being torn down), and that a client
// error ends the wait at once with the request named.
func TestCloseRidesOutListingFailure(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int // of the first listings
		fails   int32
		wantErr string
	}{
		{"5xx then unloaded", http.StatusInternalServerError, 2, ""},
		{"4xx is final", http.StatusNotFound, 1, "wait for fake:latest to unload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var listings, deletes atomic.Int32
			m := fakeModel(t, Options{}, func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/api/version":
					json.NewEncoder(w).Encode(map[string]string{"version": "0.0.0"})
				case "/api/generate":
					reply(w, api.GenerateResponse{Done: true})
				case "/api/ps":
					n := listings.Add(1)
					switch {
					case n <= tc.fails:
						w.WriteHeader(tc.status) // gin's recovery: a bare 500
					case n == tc.fails+1:
						json.NewEncoder(w).Encode(api.ProcessResponse{Models: []api.ProcessModelResponse{{Name: "fake:latest", Model: "fake:latest"}}})
					default:
						json.NewEncoder(w).Encode(api.ProcessResponse{})
					}
				case "/api/delete":
					deletes.Add(1)
				default:
					http.NotFound(w, r)
				}
			})
			err := m.Close()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Close = %v", err)
				}
				if n := listings.Load(); n != tc.fails+2 {
					t.Errorf("%d listings, want %d (failed, still running, gone)", n, tc.fails+2)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Close = %v, want an error naming %q", err, tc.wantErr)
				}
				if n := listings.Load(); n != 1 {
					t.Errorf("%d listings after a client error, want 1", n)
				}
			}
			if deletes.Load() != 1 {
				t.Errorf("%d deletes, want 1 (the model is deleted either way)", deletes.Load())
			}
		})
	}
}
