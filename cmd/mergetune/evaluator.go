package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/eval/ollama"
)

// autoBackend is --backend's default: ollama when --host is set, openai
// when --base-url is, else the built-in runner.
const autoBackend = "auto"

// evaluatorFlags pick and set the evaluation backend: one flag set,
// defined here once, shared by the commands that evaluate models outside
// a study (eval, extend; a study names its evaluator in its file).
type evaluatorFlags struct {
	backend, host, quantize, timeouts                    string
	baseURL, servedName, apiKeyEnv, candidateDir, reload string
	parallel, numCtx                                     int
}

// addEvaluatorFlags defines the evaluator flags on fl, with parallel
// requests in flight by default.
func addEvaluatorFlags(fl *pflag.FlagSet, f *evaluatorFlags, parallel int) {
	names := backends.All().Names()
	fl.StringVar(&f.backend, "backend", autoBackend, fmt.Sprintf("%s (ollama when --host is set, openai when --base-url is, else builtin), %s", autoBackend, strings.Join(names, ", ")))
	fl.StringVar(&f.host, "host", "", "Ollama server address (default: OLLAMA_HOST when --backend ollama)")
	fl.StringVar(&f.baseURL, "base-url", "", "openai: the OpenAI-compatible server (vLLM, llama-server, SGLang, Ollama's /v1), e.g. http://127.0.0.1:8000")
	fl.StringVar(&f.servedName, "served-name", "", "openai: the name the server serves the model under (vLLM's --served-model-name, llama-server's --alias)")
	fl.StringVar(&f.apiKeyEnv, "api-key-env", "", "openai: environment variable holding the API key (sent as a bearer token)")
	fl.StringVar(&f.candidateDir, "candidate-dir", "", "openai: path the server loads its model from; replaced by a link to the model before evaluating")
	fl.StringVar(&f.reload, "reload-command", "", "openai: shell command run with the model directory as $1 before evaluating, to make the server serve it (bounded by --timeouts import=)")
	fl.StringVar(&f.timeouts, "timeouts", "", "Ollama and openai: time limits, e.g. probe=5s,request=1m,token=500ms,import=10m (health probe; per request: request + token × tokens asked; upload/create/load, or openai's reload command); unset keys keep these defaults, none means no limit")
	fl.StringVar(&f.quantize, "quantize", "", "Ollama: quantize on import (q8_0, q4_K_M)")
	fl.IntVar(&f.parallel, "parallel", parallel, "requests in flight at once (match the server's OLLAMA_NUM_PARALLEL)")
	fl.IntVar(&f.numCtx, "num-ctx", 0, "Ollama: context size of every request (0: the backend default)")
}

// name is the backend the flags ask for, --backend auto resolved.
func (f *evaluatorFlags) name() string {
	if f.backend != autoBackend {
		return f.backend
	}
	switch {
	case f.host != "":
		return backends.Ollama
	case f.baseURL != "":
		return backends.OpenAI
	}
	return backends.Builtin
}

// open opens the backend the flags name from table, checking that it
// answers. With progress, an Ollama import reports its stages there.
func (f *evaluatorFlags) open(ctx context.Context, table backends.Table, progress func(ollama.ImportProgress)) (eval.Backend, string, error) {
	timeouts, err := ollama.ParseTimeouts(f.timeouts)
	if err != nil {
		return nil, "", fmt.Errorf("--timeouts: %w", err)
	}
	name := f.name()
	if _, err := table.Lookup(name); err != nil {
		return nil, "", fmt.Errorf("--backend: unknown backend %q (known: %s, %s)", f.backend, autoBackend, strings.Join(table.Names(), ", "))
	}
	cfg := backends.Config{Host: f.host, Parallel: f.parallel, Quantize: f.quantize, NumCtx: f.numCtx, Timeouts: timeouts,
		BaseURL: f.baseURL, ServedName: f.servedName, APIKeyEnv: f.apiKeyEnv, CandidateDir: f.candidateDir, ReloadCommand: f.reload,
		Progress: progress}
	b, host, err := table.Open(ctx, name, cfg)
	if err != nil {
		return nil, "", fmt.Errorf("--backend %s: %w", name, err)
	}
	return b, host, nil
}

// importProgress shows an Ollama import's stages on a progress bar (nil
// when quiet).
func importProgress(quiet bool) func(ollama.ImportProgress) {
	bar := newBar(quiet, "importing")
	if bar == nil {
		return nil
	}
	return func(p ollama.ImportProgress) {
		bar.Describe("importing: " + p.Stage)
		if p.Total > 0 {
			bar.ChangeMax64(p.Total)
			bar.Set64(p.Done)
		}
		if p.Stage == "load" {
			bar.Finish()
			fmt.Fprintln(os.Stderr)
		}
	}
}
