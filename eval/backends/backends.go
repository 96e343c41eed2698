// Package backends is the table of evaluator backends mergetune can open
// by name: the built-in runner, an Ollama server, an OpenAI-compatible
// server. The command line (eval, extend) and the study runner open their
// backend through it from a typed Config, and the study parser checks a
// study file's evaluator section against it, so an unknown name is the
// same error everywhere and lists the known names.
//
// Each backend is a method of the drivers type in its own file
// (builtin.go, ollama.go, openai.go); All collects them, so adding a
// backend whose settings Config already has is one new file plus its
// test. The table is built afresh on each call: there is no
// package-level mutable registry. Package eval cannot hold the table
// (the backends import eval); cmd builds it with All and passes it down
// (search.Options.Backends).
package backends

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/ollama"
)

// Config is the typed setting of a backend, read from a study file's
// evaluator section or from the evaluator flags. Each backend reads the
// fields it needs (its Driver.Settings) and ignores the others.
type Config struct {
	// Parallel is the most requests in flight at once (0: the backend's
	// default).
	Parallel int
	// Host is the Ollama server's address (empty: OLLAMA_HOST, else
	// http://127.0.0.1:11434).
	Host string
	// Quantize is Ollama's quantization on import: "", "q8_0" or
	// "q4_K_M".
	Quantize string
	// ModelsDir is the Ollama server's models directory (its
	// OLLAMA_MODELS) when the server runs on this machine: GGUF
	// candidates are put straight into its blob store, with no upload
	// (empty: OLLAMA_MODELS for a loopback server, else the store the
	// server reports, where this machine sees it; "-": never; see
	// ollama.Options.ModelsDir).
	ModelsDir string
	// NoStream makes the Ollama backend upload a GGUF candidate once its
	// merge has ended, not while the merge writes it (study file:
	// evaluator.stream: false; see ollama.Options.NoStream).
	NoStream bool
	// NumCtx is Ollama's context size of every request (0: its default).
	NumCtx int
	// NamePrefix starts the names of the models created on an Ollama
	// server (empty: the backend's default).
	NamePrefix string
	// Timeouts bound the probe, each request and the import (Ollama) or
	// reload hook (openai); zero fields take their defaults.
	Timeouts ollama.Timeouts
	// BaseURL is the OpenAI-compatible server, e.g. http://127.0.0.1:8000.
	BaseURL string
	// ServedName is the name the OpenAI-compatible server serves the
	// candidate under.
	ServedName string
	// APIKeyEnv names the environment variable holding the API key.
	APIKeyEnv string
	// CandidateDir is the path the OpenAI-compatible server loads its
	// model from, replaced by a link to each candidate.
	CandidateDir string
	// ReloadCommand is run before each candidate's evaluation to make
	// the server serve it.
	ReloadCommand string
	// Workers is the number of workers that share the backend in a study
	// (0 or 1: one), for Check.
	Workers int
	// Progress, when set, receives the stages of an Ollama import.
	Progress func(ollama.ImportProgress)
}

// Driver is one backend of the table.
type Driver struct {
	// Name is the backend's name: a study file's evaluator type and the
	// value of --backend.
	Name string
	// Help says in a line what it evaluates on.
	Help string
	// Settings are the study-file evaluator keys the backend reads,
	// besides type and parallel.
	Settings []string
	// Check validates a study's setting of the backend (nil: nothing to
	// check); its errors are *FieldError.
	Check func(Config) error
	// Identity returns the settings that change the backend's answers,
	// recorded with a study's definition (nil: none beyond its name).
	Identity func(Config) map[string]any
	// Open opens the backend and checks that it answers (a server that
	// does not fails here, before any work). It returns the backend and
	// the host that names it in the records.
	Open func(context.Context, Config) (eval.Backend, string, error)
}

// FieldError is a wrong setting found by a Driver's Check.
type FieldError struct {
	Field string // the study-file field, e.g. "evaluator.base_url" or "workers"
	Value string // the offending value ("" when missing)
	Msg   string // what is wrong
}

// Error renders the error as `field: value "v": msg`.
func (e *FieldError) Error() string {
	if e.Value == "" {
		return e.Field + ": " + e.Msg
	}
	return fmt.Sprintf("%s: value %q: %s", e.Field, e.Value, e.Msg)
}

// UnknownError is the error of a backend name the table lacks.
type UnknownError struct {
	Name  string   // the name asked for
	Known []string // the names there are
}

// Error renders the error as `unknown backend "x" (known: a, b)`.
func (e *UnknownError) Error() string {
	return fmt.Sprintf("unknown backend %q (known: %s)", e.Name, strings.Join(e.Known, ", "))
}

// Table holds the backends by name.
type Table map[string]Driver

// Lookup returns the backend called name, or an *UnknownError.
func (t Table) Lookup(name string) (Driver, error) {
	if d, ok := t[name]; ok {
		return d, nil
	}
	return Driver{}, &UnknownError{Name: name, Known: t.Names()}
}

// Names lists the backends in alphabetical order.
func (t Table) Names() []string {
	names := make([]string, 0, len(t))
	for n := range t {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open opens the backend called name with cfg (see Driver.Open).
func (t Table) Open(ctx context.Context, name string, cfg Config) (eval.Backend, string, error) {
	d, err := t.Lookup(name)
	if err != nil {
		return nil, "", err
	}
	return d.Open(ctx, cfg)
}

// drivers carries one exported method per backend, each in its own file,
// returning its Driver.
type drivers struct{}

// All returns the table of every backend.
func All() Table {
	t := Table{}
	v := reflect.ValueOf(drivers{})
	want := reflect.TypeFor[Driver]()
	for i := range v.NumMethod() {
		m := v.Method(i)
		if m.Type().NumIn() != 0 || m.Type().NumOut() != 1 || m.Type().Out(0) != want {
			continue
		}
		d := m.Call(nil)[0].Interface().(Driver)
		if _, dup := t[d.Name]; dup || d.Name == "" {
			panic(fmt.Sprintf("backends: backend %q defined twice or unnamed (method %s)", d.Name, v.Type().Method(i).Name))
		}
		t[d.Name] = d
	}
	return t
}
