package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/runner"
)

// TestEvalCommandOpenAI: `eval --base-url URL --served-name NAME` scores
// through an OpenAI-compatible server (here one answering with the
// built-in runner) and prints the same table as --backend builtin; a
// missing served name or a server that does not serve it is an error.
func TestEvalCommandOpenAI(t *testing.T) {
	model := filepath.Join("..", "..", "datasets", "toy", "family", "reverse")
	m, err := runner.New(runner.Options{}).Open(t.Context(), model)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/models":
			json.NewEncoder(w).Encode(map[string]any{"data": []any{map[string]string{"id": "rev"}}})
		case "/v1/completions":
			var req struct {
				Prompt    string   `json:"prompt"`
				MaxTokens int      `json:"max_tokens"`
				Stop      []string `json:"stop"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			out, err := m.Generate(r.Context(), req.Prompt, eval.GenerateOptions{MaxTokens: req.MaxTokens, Stop: req.Stop})
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"text": out}}})
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	want, err := runCLI(t, "eval", "--model", model, "--tasks", "toy:reverse", "--db", filepath.Join(dir, "a.db"), "--limit", "20", "-q")
	if err != nil {
		t.Fatal(err)
	}
	got, err := runCLI(t, "eval", "--model", model, "--tasks", "toy:reverse", "--db", filepath.Join(dir, "b.db"), "--limit", "20", "-q",
		"--base-url", srv.URL, "--served-name", "rev")
	if err != nil {
		t.Fatal(err)
	}
	// Same task, split, items, accuracy, interval and invalid answers.
	row := func(out string) string { return strings.Join(strings.Fields(strings.Split(out, "\n")[1])[:7], " ") }
	if row(got) != row(want) || !strings.Contains(row(got), "toy:reverse holdout 20 1.000") {
		t.Errorf("through the server:\n%s\nbuilt in:\n%s", got, want)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--backend", "openai", "--base-url", srv.URL}, "served model name is required"},
		{[]string{"--base-url", srv.URL, "--served-name", "other"}, `does not serve "other"`},
		{[]string{"--backend", "openai", "--served-name", "rev"}, "base_url is required"},
	} {
		args := append([]string{"eval", "--model", model, "--tasks", "toy:reverse", "--db", filepath.Join(dir, "c.db"), "-q"}, c.args...)
		if _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.args, err, c.want)
		}
	}
}
