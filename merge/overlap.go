package merge

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// realPath returns the absolute path of p with every symlink of its
// longest existing prefix resolved; the missing rest is appended as is.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	cur, rest := abs, ""
	for {
		r, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs, nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// within reports whether path p is dir or lies inside it (both real paths).
func within(p, dir string) bool {
	if p == dir {
		return true
	}
	if !strings.HasSuffix(dir, string(filepath.Separator)) {
		dir += string(filepath.Separator)
	}
	return strings.HasPrefix(p, dir)
}

// checkOverlap refuses an output directory that is, contains or lies
// inside an input model's directory, that contains one of the opened
// input files (a shard may be a symlink to elsewhere, as in the Hugging
// Face cache), or that contains the configuration file: replacing it would
// delete the merge's own inputs. Paths are compared with symlinks
// resolved.
func (e *engine) checkOverlap(outDir string) error {
	out, err := realPath(outDir)
	if err != nil {
		return fmt.Errorf("output %s: %w", outDir, err)
	}
	refuse := func(what string) error {
		return fmt.Errorf("%s: output directory %s %s; choose an output directory outside the inputs", e.cfg.File, outDir, what)
	}
	for _, ref := range e.order {
		m := e.models[ref]
		dir, err := realPath(m.dir)
		if err != nil {
			return fmt.Errorf("%s: model %s: %w", e.cfg.File, ref, err)
		}
		switch {
		case out == dir:
			return refuse(fmt.Sprintf("is the directory of input model %s (%s)", ref, m.dir))
		case within(dir, out):
			return refuse(fmt.Sprintf("contains input model %s (%s)", ref, m.dir))
		case within(out, dir):
			return refuse(fmt.Sprintf("lies inside input model %s (%s)", ref, m.dir))
		}
		if m.lora != nil {
			if a, err := realPath(m.lora.Dir); err == nil && (out == a || within(a, out)) {
				return refuse(fmt.Sprintf("is or contains the LoRA adapter %s of input model %s", m.lora.Dir, ref))
			}
		}
		for _, f := range m.st.Files() {
			if p, err := realPath(f.Path); err == nil && within(p, out) {
				return refuse(fmt.Sprintf("contains %s, a file of input model %s", p, ref))
			}
		}
	}
	// The configuration file, where it is a file on disk (a study's
	// generated configurations are not).
	if st, err := os.Stat(e.cfg.File); err == nil && st.Mode().IsRegular() {
		if p, err := realPath(e.cfg.File); err == nil && within(p, out) {
			return refuse(fmt.Sprintf("contains the configuration file %s", e.cfg.File))
		}
	}
	return nil
}
