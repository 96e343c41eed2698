package backends

import (
	"context"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/runner"
)

// Builtin is the built-in pure-Go runner: tiny llama models in-process.
func (drivers) Builtin() Driver {
	return Driver{
		Name: Builtin,
		Help: "the built-in pure-Go runner (tiny llama models, in-process)",
		Open: func(context.Context, Config) (eval.Backend, string, error) {
			return runner.New(runner.Options{}), Builtin, nil
		},
	}
}

// Builtin is the built-in runner's name, the backend of a study or an
// evaluation that names no other.
const Builtin = "builtin"
