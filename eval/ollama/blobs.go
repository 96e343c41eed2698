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

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/parser"
)

// placeBlob puts the GGUF f, of digest "sha256:<hex>", into the blob store
// of the server's models directory, as the server names its blobs
// (blobs/sha256-<hex>): a hard link to f where the file system allows
// one, else a copy written to a temporary name in the store and renamed
// into place when complete, so the store never holds a partial blob under
// a digest's name; linkOnly: never a copy (the link's error instead). It
// returns the path it made (place removes it again where the server does
// not see it), "" if the store held the blob already, and ok false,
// having done nothing, when the models directory has no blob store.
func placeBlob(modelsDir string, f *os.File, digest string, linkOnly bool) (made string, ok bool, err error) {
	if !hasBlobStore(modelsDir) {
		return "", false, nil
	}
	blobs := filepath.Join(modelsDir, "blobs")
	target := filepath.Join(blobs, blobName(digest))
	if _, err := os.Lstat(target); err == nil {
		return "", true, nil
	}
	err = os.Link(f.Name(), target)
	switch {
	case err == nil:
		return target, true, nil
	case errors.Is(err, fs.ErrExist):
		return "", true, nil
	case linkOnly:
		return "", false, fmt.Errorf("place blob in %s: %w", blobs, err)
	}
	tmp, err := os.CreateTemp(blobs, ".mergetune-"+blobName(digest)+"-*.partial")
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

// blobName is the file name the server gives the blob digest
// ("sha256:<hex>") in its store: sha256-<hex>.
func blobName(digest string) string { return strings.ReplaceAll(digest, ":", "-") }

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
func (b *Backend) canPlace() bool { return !b.noPlace.Load() && hasBlobStore(b.modelsDir()) }

// modelsDir is the server's models directory: Options.ModelsDir, else the
// one learned from the server (learnStore), else "".
func (b *Backend) modelsDir() string {
	if b.opt.ModelsDir != "" {
		return b.opt.ModelsDir
	}
	if d := b.learned.Load(); d != nil {
		return *d
	}
	return ""
}

// learnStore learns, once, the server's models directory from the model
// name it has just created from the blob digest of size bytes: its
// Modelfile's FROM is the path of the model's blob as the server sees it
// (digest's own, or the server's quantization of it), and where this
// machine sees digest's blob, of that size, in the same blob store, that
// store is the server's (placement checks each blob the server then holds
// all the same). Best effort: a Backend that learns nothing uploads, as
// before. Only for a server on this machine whose directory was not given
// (Options.ModelsDir).
func (b *Backend) learnStore(ctx context.Context, name, digest string, size int64) {
	if !b.learn || !b.learnTried.CompareAndSwap(false, true) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, b.opt.Timeouts.Request)
	defer cancel()
	show, err := b.client.Show(ctx, &api.ShowRequest{Model: name})
	if err != nil {
		return
	}
	mf, err := parser.ParseFile(strings.NewReader(show.Modelfile))
	if err != nil {
		return
	}
	for _, c := range mf.Commands {
		if c.Name != "model" {
			continue
		}
		blobs := filepath.Dir(c.Args)
		if !filepath.IsAbs(c.Args) || filepath.Base(blobs) != "blobs" {
			return
		}
		st, err := os.Stat(filepath.Join(blobs, blobName(digest)))
		if err == nil && st.Mode().IsRegular() && st.Size() == size {
			dir := filepath.Dir(blobs)
			b.learned.Store(&dir)
		}
		return
	}
}

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
	// A store learned from the server, not named by the user, takes
	// links only (a copy is what the upload makes, and a stream overlaps
	// it with the merge); where that fails, candidates go up from now on.
	dir, learned := b.modelsDir(), b.opt.ModelsDir == ""
	made, ok, err := placeBlob(dir, f, digest, learned)
	if err != nil && learned {
		b.noPlace.Store(true)
		return false, nil
	}
	if !ok || err != nil {
		return false, err
	}
	held, err := b.hasBlob(ctx, digest)
	if held {
		return true, nil
	}
	// Not seen, or the check failed (the import fails): leave nothing
	// behind.
	if err == nil {
		b.noPlace.Store(true)
	}
	if made != "" {
		if rerr := os.Remove(made); rerr != nil && err == nil {
			return false, fmt.Errorf("remove the blob the server did not see from %s: %w", dir, rerr)
		}
	}
	return false, err
}
