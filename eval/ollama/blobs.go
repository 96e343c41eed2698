package ollama

import (
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
// a digest's name. It returns false, and does nothing, when the models
// directory has no blob store.
func placeBlob(modelsDir string, f *os.File, digest string) (bool, error) {
	if !hasBlobStore(modelsDir) {
		return false, nil
	}
	blobs := filepath.Join(modelsDir, "blobs")
	target := filepath.Join(blobs, strings.ReplaceAll(digest, ":", "-"))
	if _, err := os.Lstat(target); err == nil {
		return true, nil
	}
	err := os.Link(f.Name(), target)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return true, nil
	}
	tmp, err := os.CreateTemp(blobs, ".mergetune-"+strings.ReplaceAll(digest, ":", "-")+"-*.partial")
	if err != nil {
		return false, fmt.Errorf("place blob in %s: %w", blobs, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return false, fmt.Errorf("copy blob into %s: %w", blobs, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return false, fmt.Errorf("place blob in %s: %w", blobs, err)
	}
	if err := tmp.Sync(); err != nil {
		return false, fmt.Errorf("sync blob in %s: %w", blobs, err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("close blob in %s: %w", blobs, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return false, fmt.Errorf("place blob %s: %w", target, err)
	}
	ok = true
	return true, nil
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
// blob store (Options.ModelsDir) rather than uploaded.
func (b *Backend) canPlace() bool { return hasBlobStore(b.opt.ModelsDir) }
