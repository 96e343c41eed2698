package study

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mergetune/mergetune/eval/backends"
)

// TestOpenAIEvaluator: an openai evaluator's fields are read (candidate_dir
// relative to the study file), and each wrong or missing one is an error
// naming the file, field and value.
func TestOpenAIEvaluator(t *testing.T) {
	fam := family(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "s.yml")
	ok := base(fam) + `evaluator: {type: openai, base_url: "http://127.0.0.1:8000/v1", model: cand, api_key_env: VLLM_KEY,
  candidate_dir: serve/current, reload_command: "./reload.sh", reload_timeout: 3m, parallel: 8}
`
	s, err := Parse([]byte(ok), file)
	if err != nil {
		t.Fatal(err)
	}
	want := OpenAIEvaluator{BaseURL: "http://127.0.0.1:8000/v1", Model: "cand", APIKeyEnv: "VLLM_KEY",
		CandidateDir: filepath.Join(dir, "serve", "current"), ReloadCommand: "./reload.sh", ReloadTimeout: 3 * time.Minute}
	if s.Evaluator != backends.OpenAI || s.OpenAI != want || s.Parallel != 8 {
		t.Errorf("evaluator %s %+v parallel %d, want openai %+v parallel 8", s.Evaluator, s.OpenAI, s.Parallel, want)
	}
	if !strings.Contains(s.Definition()["evaluator"], `"model":"cand"`) {
		t.Errorf("definition %s lacks the served name", s.Definition()["evaluator"])
	}
	for _, c := range []struct{ evaluator, want string }{
		{"{type: openai, model: cand}", `s.yml: evaluator.base_url: required for the openai evaluator`},
		{"{type: openai, base_url: 'localhost:8000', model: cand}", `s.yml: evaluator.base_url: value "localhost:8000": want http://host:port`},
		{"{type: openai, base_url: 'http://h:1'}", `s.yml: evaluator.model: required for the openai evaluator`},
		{"{type: openai, base_url: 'http://h:1', model: m, reload_timeout: soon}", `s.yml: evaluator.reload_timeout: value "soon": want a positive duration`},
		{"{type: openai, base_url: 'http://h:1', model: m, hosts: [a]}", `s.yml: evaluator.type: value "openai": hosts is a setting of the ollama evaluator; openai takes base_url, model, api_key_env, candidate_dir, reload_command, reload_timeout`},
		{"{type: ollama, base_url: 'http://h:1'}", `s.yml: evaluator.type: value "ollama": base_url is a setting of the openai evaluator; ollama takes host, hosts, quantize`},
		{"{type: builtin, quantize: q8_0}", `s.yml: evaluator.type: value "builtin": quantize is a setting of the ollama evaluator; builtin takes only parallel`},
		{"{type: openai, base_url: 'http://h:1', model: m, served: x}", `s.yml: evaluator.served: unknown field; known: type, host, hosts, parallel, quantize, base_url, model`},
		{"{type: openai, base_url: 'http://h:1', model: m, reload_command: x}\nworkers: 2", `s.yml: workers: value "2": the openai evaluator's candidate_dir and reload_command put one candidate at a time on the server: use workers: 1`},
		{"{type: vllm}", `s.yml: evaluator.type: value "vllm": unknown evaluator; known: builtin, ollama, openai`},
	} {
		_, err := Parse([]byte(base(fam)+"evaluator: "+c.evaluator+"\n"), file)
		if err == nil || !strings.HasPrefix(strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""), c.want) {
			t.Errorf("evaluator %s: %v, want %s…", c.evaluator, err, c.want)
		}
	}
}

// TestEvaluatorKeysCoverBackends: every setting a backend of the table
// reads is a field the parser decodes, so none is silently dropped.
func TestEvaluatorKeysCoverBackends(t *testing.T) {
	keys := strings.Split(evaluatorKeys, ", ")
	table := backends.All()
	for _, name := range table.Names() {
		for _, k := range table[name].Settings {
			if !slices.Contains(keys, k) {
				t.Errorf("backend %s reads %s, which the study parser does not decode (evaluatorKeys)", name, k)
			}
		}
	}
}
