package eval

import "github.com/mergetune/mergetune/results"

// StageReporter is implemented by a model whose Open went through stages
// worth telling apart (Ollama's convert, hash, upload, create, load), so
// that a trial records where its time went. For a model without it, the
// search records Open's whole time as "load".
type StageReporter interface {
	// Stages returns the stages Open took, in order.
	Stages() results.Stages
}
