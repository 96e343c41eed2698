package eval

import (
	"context"
	"errors"
)

// ErrUnsupported is returned by a backend that cannot serve a request kind
// (Ollama, for instance, has no prompt log-likelihood).
var ErrUnsupported = errors.New("not supported by this backend")

// Backend opens models for evaluation.
type Backend interface {
	// Open readies the model in dir (a Hugging Face style directory:
	// config.json, tokenizer files, safetensors) for requests.
	Open(ctx context.Context, dir string) (Model, error)
}

// GenerateOptions control a greedy generation.
type GenerateOptions struct {
	MaxTokens int      // at most this many new tokens (0: until the context is full)
	Stop      []string // stop before the first occurrence of any of these
}

// Model answers requests for one opened model. Its methods are safe for
// concurrent use.
type Model interface {
	// Generate returns the greedy continuation of prompt, without the stop
	// string that ended it.
	Generate(ctx context.Context, prompt string, opt GenerateOptions) (string, error)
	// LogLikelihood returns the sum of the log-probabilities of the tokens
	// of continuation after prompt.
	LogLikelihood(ctx context.Context, prompt, continuation string) (float64, error)
	// Close releases the model.
	Close() error
}
