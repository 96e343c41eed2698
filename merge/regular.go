package merge

import (
	"io"

	"github.com/mergetune/mergetune/merge/safetensors"
)

// readRegular reads the whole file at path, refusing a FIFO, socket or
// device (which could block for ever) as safetensors.OpenRegular does.
func readRegular(path string) ([]byte, error) {
	f, _, err := safetensors.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
