// Package eval scores merged models on task sets. A Backend opens a model
// directory and answers generation and log-likelihood requests; the
// built-in runner (package eval/runner) serves tiny models in-process, and
// an Ollama backend serves real checkpoints through a local server.
//
// Scoring is the one rule that reduces task accuracies to a number: the
// weighted mean, or the normalized accuracy (each task's accuracy divided
// by its own model's, weighted), as a study's objective, extend's curve,
// the demo and the report all compute it.
package eval
