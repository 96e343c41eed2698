package merge

import (
	"fmt"

	"github.com/mergetune/mergetune/merge/methods"
)

// inputFault returns the first fault met reading the mapping of a file
// holding one of the task's inputs (the file was truncated or replaced in
// place during the merge), naming the file; nil if none.
func (t *task) inputFault() error {
	for _, in := range t.inputs {
		if err := in.tensor.File().Err(); err != nil {
			return fmt.Errorf("merge %s: %w", t.name, err)
		}
	}
	return nil
}

// faultChecked wraps a task's kernel so that a chunk read from a faulted
// input mapping is an error instead of output: safetensors.Tensor.Read
// turns the fault (SIGBUS) into zeros and a recorded error, which is
// checked after each chunk, before the chunk is written.
func (t *task) faultChecked(k methods.Kernel) methods.Kernel {
	return func(off int, out []float32) error {
		err := k(off, out)
		if ferr := t.inputFault(); ferr != nil {
			return ferr
		}
		return err
	}
}
