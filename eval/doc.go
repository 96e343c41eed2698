// Package eval will score merged models on task sets, through a local
// Ollama server or the built-in runner for tiny models. It is not
// implemented yet; see the project's open issues.
package eval
