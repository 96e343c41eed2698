// Package eval scores merged models on task sets. A Backend opens a model
// directory and answers generation and log-likelihood requests; the
// built-in runner (package eval/runner) serves tiny models in-process, and
// an Ollama backend serves real checkpoints through a local server.
package eval
