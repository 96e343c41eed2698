package backends

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/eval/ollama"
	"github.com/mergetune/mergetune/eval/openai"
	"github.com/mergetune/mergetune/eval/runner"
)

// fakeServer answers the probes of Ollama (GET /api/version) and of an
// OpenAI-compatible server (GET /v1/models), and counts them.
func fakeServer(t *testing.T) (*httptest.Server, *int) {
	t.Helper()
	probes := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/version":
			probes++
			w.Write([]byte(`{"version":"0.17.4"}`))
		case "/v1/models":
			probes++
			w.Write([]byte(`{"data":[{"id":"cand"}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &probes
}

// TestOpen: each backend opens by its name from a Config, probing its
// server first (the host it returns names it in the records), and the
// backend is the right kind.
func TestOpen(t *testing.T) {
	srv, probes := fakeServer(t)
	table := All()
	tests := []struct {
		name   string
		cfg    Config
		host   string
		probed bool
		check  func(any) bool
	}{
		{"builtin", Config{}, "builtin", false, func(b any) bool { _, ok := b.(*runner.Backend); return ok }},
		{"ollama", Config{Host: srv.URL, Parallel: 2, Quantize: "q8_0"}, srv.URL, true, func(b any) bool { _, ok := b.(*ollama.Backend); return ok }},
		{"openai", Config{BaseURL: srv.URL, ServedName: "cand", Parallel: 3}, srv.URL, true, func(b any) bool { _, ok := b.(*openai.Backend); return ok }},
	}
	if got, want := table.Names(), []string{"builtin", "ollama", "openai"}; !slices.Equal(got, want) {
		t.Errorf("backends %v, want %v", got, want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := *probes
			b, host, err := table.Open(context.Background(), tt.name, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(b) || !strings.HasPrefix(host, tt.host) {
				t.Errorf("opened %T on %q, want a %s backend on %s", b, host, tt.name, tt.host)
			}
			if probed := *probes > before; probed != tt.probed {
				t.Errorf("server probed: %v, want %v", probed, tt.probed)
			}
			d, _ := table.Lookup(tt.name)
			if d.Name != tt.name || d.Help == "" {
				t.Errorf("driver %+v: want name %s and a help line", d, tt.name)
			}
		})
	}
}

// TestOpenErrors: an unknown name is an *UnknownError listing the known
// names; a server that is not there fails at Open, naming it.
func TestOpenErrors(t *testing.T) {
	table := All()
	for _, name := range []string{"vllm", "", "Ollama"} {
		_, _, err := table.Open(context.Background(), name, Config{})
		var u *UnknownError
		if !errors.As(err, &u) || u.Name != name || !slices.Equal(u.Known, table.Names()) {
			t.Errorf("open %q: %v, want an UnknownError listing %v", name, err, table.Names())
		}
		if err != nil && !strings.Contains(err.Error(), "builtin, ollama, openai") {
			t.Errorf("open %q: %v does not list the backends", name, err)
		}
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there now
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"ollama", Config{Host: addr}},
		{"openai", Config{BaseURL: addr, ServedName: "cand"}},
	} {
		_, _, err := table.Open(context.Background(), c.name, c.cfg)
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(addr, "http://")) {
			t.Errorf("%s on a closed port: %v, want an error naming %s", c.name, err, addr)
		}
	}
}

// TestCheck: each backend's Check refuses its wrong settings with the
// study field and value, and accepts the right ones; Identity records
// the settings that change answers.
func TestCheck(t *testing.T) {
	table := All()
	tests := []struct {
		backend     string
		cfg         Config
		field, want string // want "": accepted
	}{
		{"builtin", Config{}, "", ""},
		{"ollama", Config{Quantize: "q4_K_M"}, "", ""},
		{"ollama", Config{Quantize: "q3"}, "evaluator.quantize", "want q8_0 or q4_K_M"},
		{"openai", Config{BaseURL: "http://h:1", ServedName: "m"}, "", ""},
		{"openai", Config{ServedName: "m"}, "evaluator.base_url", "required"},
		{"openai", Config{BaseURL: "h:1", ServedName: "m"}, "evaluator.base_url", "want http://host:port"},
		{"openai", Config{BaseURL: "http://h:1"}, "evaluator.model", "required"},
		{"openai", Config{BaseURL: "http://h:1", ServedName: "m", ReloadCommand: "x", Workers: 2}, "workers", "use workers: 1"},
	}
	for _, tt := range tests {
		d, err := table.Lookup(tt.backend)
		if err != nil {
			t.Fatal(err)
		}
		if d.Check == nil {
			if tt.want != "" {
				t.Errorf("%s has no Check", tt.backend)
			}
			continue
		}
		err = d.Check(tt.cfg)
		var fe *FieldError
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s %+v: %v", tt.backend, tt.cfg, err)
		case tt.want != "" && (!errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(fe.Msg, tt.want)):
			t.Errorf("%s %+v: %v, want field %s: %s", tt.backend, tt.cfg, err, tt.field, tt.want)
		}
	}
	o, _ := table.Lookup("openai")
	if id := o.Identity(Config{BaseURL: "http://h:1", ServedName: "m", APIKeyEnv: "K"}); len(id) != 2 || id["base_url"] != "http://h:1" || id["model"] != "m" {
		t.Errorf("openai identity %v, want base_url and model", id)
	}
}
