package backends

import (
	"context"
	"net/url"
	"strconv"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/openai"
)

// OpenAI is a server with an OpenAI-compatible completions API (vLLM,
// llama.cpp's llama-server, SGLang, Ollama's /v1).
func (drivers) OpenAI() Driver {
	return Driver{
		Name:     OpenAI,
		Help:     "an OpenAI-compatible completions server (vLLM, llama-server, SGLang, Ollama's /v1)",
		Settings: []string{"base_url", "model", "api_key_env", "candidate_dir", "reload_command", "reload_timeout"},
		Check: func(c Config) error {
			if c.BaseURL == "" {
				return &FieldError{Field: "evaluator.base_url", Msg: "required for the openai evaluator (e.g. http://127.0.0.1:8000)"}
			}
			if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return &FieldError{Field: "evaluator.base_url", Value: c.BaseURL, Msg: "want http://host:port or https://host:port"}
			}
			if c.ServedName == "" {
				return &FieldError{Field: "evaluator.model", Msg: "required for the openai evaluator: the name the server serves the candidate under (vLLM's --served-model-name, llama-server's --alias)"}
			}
			if (c.CandidateDir != "" || c.ReloadCommand != "") && c.Workers > 1 {
				return &FieldError{Field: "workers", Value: strconv.Itoa(c.Workers), Msg: "the openai evaluator's candidate_dir and reload_command put one candidate at a time on the server: use workers: 1"}
			}
			return nil
		},
		// The server and the name it serves the candidates under.
		Identity: func(c Config) map[string]any { return map[string]any{"base_url": c.BaseURL, "model": c.ServedName} },
		Open: func(ctx context.Context, c Config) (eval.Backend, string, error) {
			b, err := openai.New(openai.Options{BaseURL: c.BaseURL, ServedName: c.ServedName, APIKeyEnv: c.APIKeyEnv, Parallel: c.Parallel,
				CandidateDir: c.CandidateDir, ReloadCommand: c.ReloadCommand, Timeouts: c.Timeouts})
			if err != nil {
				return nil, "", err
			}
			// The server must answer now; the served name may appear
			// only after the reload hook, which Open runs per candidate.
			if _, err := b.Models(ctx); err != nil {
				return nil, "", err
			}
			return b, b.BaseURL(), nil
		},
	}
}

// OpenAI is the OpenAI-compatible backend's name.
const OpenAI = "openai"
