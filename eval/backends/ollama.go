package backends

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/ollama"
)

// Ollama is an Ollama server: each candidate is imported (converted to
// GGUF, optionally quantized) and evaluated there.
func (drivers) Ollama() Driver {
	return Driver{
		Name:     Ollama,
		Help:     "an Ollama server (candidates are imported, optionally quantized)",
		Settings: []string{"host", "hosts", "quantize", "models_dir", "stream"},
		Check: func(c Config) error {
			switch c.Quantize {
			case "", "q8_0", "q4_K_M":
			default:
				return &FieldError{Field: "evaluator.quantize", Value: c.Quantize, Msg: "want q8_0 or q4_K_M (or nothing to keep F16/BF16)"}
			}
			if c.ModelsDir != "" && c.ModelsDir != "-" {
				st, err := os.Stat(c.ModelsDir)
				switch {
				case err != nil:
					return &FieldError{Field: "evaluator.models_dir", Value: c.ModelsDir, Msg: "want the server's models directory (its OLLAMA_MODELS): " + errors.Unwrap(err).Error()}
				case !st.IsDir():
					return &FieldError{Field: "evaluator.models_dir", Value: c.ModelsDir, Msg: "not a directory; want the server's models directory (its OLLAMA_MODELS)"}
				}
			}
			return nil
		},
		Identity: func(c Config) map[string]any { return map[string]any{"quantize": c.Quantize} },
		Open: func(ctx context.Context, c Config) (eval.Backend, string, error) {
			b, err := ollama.New(ollama.Options{Host: c.Host, Parallel: c.Parallel, Quantize: c.Quantize, NumCtx: c.NumCtx, ModelsDir: c.ModelsDir, NoStream: c.NoStream,
				NamePrefix: c.NamePrefix, Timeouts: c.Timeouts, Progress: c.Progress})
			if err != nil {
				return nil, "", fmt.Errorf("host %q: %w", c.Host, err)
			}
			// A host that does not answer fails here, within the
			// probe's short deadline, before any work.
			if _, err := b.Probe(ctx); err != nil {
				return nil, "", err
			}
			return b, b.Host(), nil
		},
	}
}

// Ollama is the Ollama backend's name.
const Ollama = "ollama"
