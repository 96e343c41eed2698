package merge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ollama/ollama/convert"

	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/merge/gguf"
)

// ggufName is the GGUF file's name inside the temporary output directory.
const ggufName = "model.gguf"

// writeGGUF merges tasks into one GGUF file at out. The model's
// config.json and tokenizer files are written to the temporary directory
// tmp first (the GGUF's metadata comes from them, through Ollama's
// converter), the GGUF is written beside them and renamed to out when
// complete, and tmp is removed. An architecture the direct writer does not
// reproduce is written as safetensors and converted by Ollama's converter,
// with a warning.
func (e *engine) writeGGUF(ctx context.Context, tmp *tempDir, out string, slices []config.Slice, tasks []*task, layers int) (*Result, error) {
	if err := e.writeExtras(tmp.path, slices, layers); err != nil {
		return nil, err
	}
	file := filepath.Join(tmp.path, ggufName)
	w, err := gguf.Create(file, os.DirFS(tmp.path), specs(tasks), gguf.Options{Type: e.opt.GGUFType, NoHash: e.opt.NoDigest})
	var res *Result
	switch {
	case errors.Is(err, gguf.ErrUnsupported):
		if e.opt.GGUFType != "" {
			return nil, fmt.Errorf("%s: %w, and Ollama's converter does not write type %s", e.cfg.File, err, e.opt.GGUFType)
		}
		e.warn("%v: writing safetensors and converting them with Ollama's converter", err)
		if res, err = e.writeSafetensors(ctx, tmp.path, tasks); err != nil {
			return nil, err
		}
		if err := convertDir(tmp.path, file); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("%s: %w", e.cfg.File, err)
	default:
		if e.opt.Follow != nil {
			r, err := w.Follow()
			if err != nil {
				w.Abort()
				return nil, err
			}
			e.opt.Follow(r, w.Size())
		}
		if res, err = e.write(ctx, w, tasks); err != nil {
			return nil, err
		}
		res.Bytes = w.Size()
		res.Digest = w.Digest()
	}
	if err := os.Rename(file, out); err != nil {
		return nil, fmt.Errorf("rename %s to %s: %w", file, out, err)
	}
	tmp.remove()
	res.Files = []string{out}
	return res, nil
}

// convertDir converts the safetensors checkpoint in dir into the GGUF file
// path with Ollama's converter (a panic in it becomes an error).
func convertDir(dir, path string) (err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("convert to GGUF: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("convert %s to GGUF: Ollama's converter panicked: %v", dir, r)
		}
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("convert to GGUF: close %s: %w", path, cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if err := convert.ConvertModel(os.DirFS(dir), f); err != nil {
		return fmt.Errorf("convert %s to GGUF: %w", dir, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("convert to GGUF: sync %s: %w", path, err)
	}
	return nil
}

// checkOutFile refuses an existing output file unless forced, and an
// existing directory at a GGUF output path.
func checkOutFile(path string, force bool) error {
	st, err := os.Stat(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output %s: %w", path, err)
	}
	if st.IsDir() {
		return fmt.Errorf("output %s is a directory; a GGUF output is one file", path)
	}
	if !force {
		return fmt.Errorf("output file %s exists (use --force to replace it)", path)
	}
	return nil
}
