package ollama

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// placeBlob puts the GGUF f, of digest "sha256:<hex>", into the blob store
// of the server's models directory, as the server names its blobs
// (blobs/sha256-<hex>): a hard link to f where the file system allows
// one, else a copy written to a temporary name in the store and renamed
// into place when complete, so the store never holds a partial blob under
// a digest's name. It returns the path it made (unplace removes it), "" if
// the store held the blob already, and ok false, having done nothing, when
// the models directory has no blob store.
func placeBlob(modelsDir string, f *os.File, digest string) (made string, ok bool, err error) {
	if !hasBlobStore(modelsDir) {
		return "", false, nil
	}
	blobs := filepath.Join(modelsDir, "blobs")
	target := filepath.Join(blobs, strings.ReplaceAll(digest, ":", "-"))
	if _, err := os.Lstat(target); err == nil {
		return "", true, nil
	}
	err = os.Link(f.Name(), target)
	switch {
	case err == nil:
		return target, true, nil
	case errors.Is(err, fs.ErrExist):
		return "", true, nil
	}
	tmp, err := os.CreateTemp(blobs, ".mergetune-"+strings.ReplaceAll(digest, ":", "-")+"-*.partial")
	if err != nil {
		return "", false, fmt.Errorf("place blob in %s: %w", blobs, err)
	}
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return "", false, fmt.Errorf("copy blob into %s: %w", blobs, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return "", false, fmt.Errorf("place blob in %s: %w", blobs, err)
	}
	if err := tmp.Sync(); err != nil {
		return "", false, fmt.Errorf("sync blob in %s: %w", blobs, err)
	}
	if err := tmp.Close(); err != nil {
		return "", false, fmt.Errorf("close blob in %s: %w", blobs, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return "", false, fmt.Errorf("place blob %s: %w", target, err)
	}
	return target, true, nil
}

// hasBlobStore reports whether modelsDir ("": none) holds a blob store.
func hasBlobStore(modelsDir string) bool {
	if modelsDir == "" {
		return false
	}
	st, err := os.Stat(filepath.Join(modelsDir, "blobs"))
	return err == nil && st.IsDir()
}

// canPlace reports whether a candidate will be placed into the server's
// blob store (Options.ModelsDir) rather than uploaded: false once the
// server has not seen a blob placed there (see place).
func (b *Backend) canPlace() bool { return !b.noPlace.Load() && hasBlobStore(b.opt.ModelsDir) }

// place puts the GGUF f, of digest, into the server's blob store
// (Options.ModelsDir) and reports whether the server now holds it. Where
// the server does not see it (the directory is not the server's, or not
// as the server sees it), the blob place made is removed again, so
// nothing is left in a store no model uses, and this Backend uploads its
// candidates (or streams them) from then on.
func (b *Backend) place(ctx context.Context, f *os.File, digest string) (bool, error) {
	if !b.canPlace() {
		return false, nil
	}
	made, ok, err := placeBlob(b.opt.ModelsDir, f, digest)
	if !ok || err != nil {
		return false, err
	}
	held, err := b.hasBlob(ctx, digest)
	if held || err != nil {
		return held, err
	}
	b.noPlace.Store(true)
	if made != "" {
		if err := os.Remove(made); err != nil {
			return false, fmt.Errorf("remove the blob the server did not see from %s: %w", b.opt.ModelsDir, err)
		}
	}
	return false, nil
}
