package merge

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/merge/safetensors"
)

// writeExtras writes config.json (patched), the tokenizer files and the
// configuration used (mergetune_config.yml) next to the tensors.
func (e *engine) writeExtras(dir string, slices []config.Slice, layers int) error {
	src := e.extrasSource(slices)
	if src != nil && src.hf != nil {
		// only the keys set here change; every other byte is the source's
		hf := src.hf
		for _, d := range []string{e.cfg.OutDType, e.cfg.DType} {
			if d != "" {
				if err := hf.doc.Set("torch_dtype", d); err != nil {
					return fmt.Errorf("%s: %w", hf.path, err)
				}
				break
			}
		}
		if e.vocab != nil {
			if err := hf.setVocabSize(e.vocab.size()); err != nil {
				return err
			}
		}
		if layers > 0 {
			if n, ok := hf.numLayers(); ok && n != layers {
				if err := hf.setNumLayers(layers); err != nil {
					return err
				}
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "config.json"), hf.doc.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write config.json: %w", err)
		}
	}
	if e.vocab != nil {
		// a built vocabulary is always written (as mergekit does): the
		// embeddings were remapped to it
		if err := e.writeVocab(dir); err != nil {
			return err
		}
	} else if !e.opt.NoTokenizer {
		tok := src
		if ts := e.cfg.TokenizerSource; ts != "" && ts != "base" {
			tok = e.models[ts]
		}
		if tok != nil {
			for _, f := range tokenizerFiles() {
				if err := copyFile(filepath.Join(tok.dir, f), filepath.Join(dir, f)); err != nil {
					return err
				}
			}
		}
	}
	header := fmt.Sprintf("# written by mergetune (random seed %d)\n", e.opt.Seed)
	if err := os.WriteFile(filepath.Join(dir, "mergetune_config.yml"), append([]byte(header), e.cfg.Raw...), 0o644); err != nil {
		return fmt.Errorf("write mergetune_config.yml: %w", err)
	}
	return nil
}

// extrasSource is the model config.json and the tokenizer come from: the
// base model, else the first model of the first slice.
func (e *engine) extrasSource(slices []config.Slice) *model {
	if b := e.cfg.BaseFor(slices, 0); b != "" {
		return e.models[b]
	}
	if len(slices) > 0 && len(slices[0].Sources) > 0 {
		return e.models[slices[0].Sources[0].Model]
	}
	return nil
}

// copyFile copies src to dst; a missing src is not an error.
func copyFile(src, dst string) error {
	in, _, err := safetensors.OpenRegular(src)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("copy tokenizer file: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close %s: %w", dst, err)
	}
	return nil
}
