// Package family embeds the tiny model family of datasets/toy (a base model
// and one fine-tune per toy task, with the family's README) in the binary,
// so that an installed mergetune runs its demo anywhere, and extracts it to
// a directory on disk, where the merge engine can memory-map it.
//
// The embedded copy holds only what a model needs (config.json,
// model.safetensors, tokenizer.json and tokenizer_config.json of every model
// directory, the same-task fine-tunes under seeds/ included) and README.md;
// the training scripts, results and fixtures stay in the repository.
package family

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed README.md */config.json */model.safetensors */tokenizer.json */tokenizer_config.json
//go:embed seeds/*/config.json seeds/*/model.safetensors seeds/*/tokenizer.json seeds/*/tokenizer_config.json
var files embed.FS

// Base is the name of the family's base model directory.
const Base = "base"

// SeedsDir is the directory holding the same-task fine-tunes from several
// seeds, one directory per model named <task>-seed<N> (train.py --seed-tasks writes
// them).
const SeedsDir = "seeds"

// FS returns the embedded family: README.md and the model directories.
func FS() fs.FS { return files }

// Models lists the embedded model directories in name order: Base and one
// fine-tune per toy task.
func Models() ([]string, error) {
	entries, err := files.ReadDir(".")
	if err != nil {
		return nil, fmt.Errorf("embedded model family: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != SeedsDir {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// SeedModel is one same-task fine-tune of the family: Dir is its directory
// relative to the family's root (seeds/<task>-seed<N>).
type SeedModel struct {
	Task string
	Seed int
	Dir  string
}

// seedName is a seeds directory entry's name: <task>-seed<N>.
var seedName = regexp.MustCompile(`^([a-z0-9_]+)-seed([0-9]+)$`)

// Seeds lists the same-task fine-tunes under fsys's seeds directory (the
// embedded family's with FS(), a family on disk with os.DirFS) by task
// name, each task's in seed order: whatever train.py wrote, no number of
// tasks or seeds assumed. A family without the directory has none; an
// entry not named <task>-seed<N> is an error naming it.
func Seeds(fsys fs.FS) (map[string][]SeedModel, error) {
	entries, err := fs.ReadDir(fsys, SeedsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][]SeedModel{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("model family: seeds: %w", err)
	}
	out := map[string][]SeedModel{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		m := seedName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("model family: %s/%s: want a directory named <task>-seed<N>", SeedsDir, e.Name())
		}
		n, err := strconv.Atoi(m[2])
		if err != nil {
			return nil, fmt.Errorf("model family: %s/%s: seed %q: %w", SeedsDir, e.Name(), m[2], err)
		}
		out[m[1]] = append(out[m[1]], SeedModel{Task: m[1], Seed: n, Dir: SeedsDir + "/" + e.Name()})
	}
	for _, ms := range out {
		slices.SortFunc(ms, func(a, b SeedModel) int { return cmp.Compare(a.Seed, b.Seed) })
	}
	return out, nil
}

// paths returns every embedded file's slash-separated path, in the
// lexical order fs.WalkDir visits them.
func paths() ([]string, error) {
	var out []string
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded model family: %w", err)
	}
	return out, nil
}

// Hash returns the first 16 hex digits of the SHA-256 of the embedded
// family (every file's path, length and contents, in path order). It names
// the directory Extract writes, so a binary with a different family never
// reuses another's.
func Hash() (string, error) {
	ps, err := paths()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, p := range ps {
		data, err := files.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("embedded model family: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// DirName returns the name of the directory Extract writes under its
// parent: "family-" and Hash.
func DirName() (string, error) {
	h, err := Hash()
	if err != nil {
		return "", err
	}
	return "family-" + h, nil
}

// staleAge is how old a temporary sibling left by an interrupted
// extraction must be before Extract removes it; an extraction takes well
// under a second.
const staleAge = time.Hour

// Extract writes the embedded family into parent/DirName() and returns that
// directory's absolute path. A directory already there that matches the
// embedded family file for file is reused as it is; one that does not (a
// file missing, truncated or changed) is replaced. The family is written to
// a temporary sibling and renamed into place only when complete, so
// concurrent calls (several demos at once) never see a partial family and
// all end up with the same directory. Temporary siblings older than an hour
// (left by killed extractions) are removed.
func Extract(ctx context.Context, parent string) (string, error) {
	name, err := DirName()
	if err != nil {
		return "", err
	}
	parent, err = filepath.Abs(parent)
	if err != nil {
		return "", fmt.Errorf("extract the model family: %w", err)
	}
	dir := filepath.Join(parent, name)
	if err := Verify(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("extract the model family: %w", err)
	}
	removeStale(parent, name)
	// The family is written to work/family (made with the usual 0o755 less
	// umask) inside a private temporary sibling, then renamed into place.
	work, err := os.MkdirTemp(parent, "."+name+".tmp-")
	if err != nil {
		return "", fmt.Errorf("extract the model family: %w", err)
	}
	defer os.RemoveAll(work) // what is left of it once renamed
	tmp := filepath.Join(work, "family")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return "", fmt.Errorf("extract the model family: %w", err)
	}
	if err := writeAll(ctx, tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err == nil {
		return dir, nil
	}
	// Another extraction got there first, or a damaged copy is in the way:
	// move the damaged copy into the temporary sibling, to be removed with it.
	if Verify(dir) == nil {
		return dir, nil
	}
	if err := os.Rename(dir, filepath.Join(work, "damaged")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("extract the model family: move the damaged copy %s aside: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if Verify(dir) == nil {
			return dir, nil
		}
		return "", fmt.Errorf("extract the model family into %s: %w", dir, err)
	}
	return dir, nil
}

// writeAll writes every embedded file under dir.
func writeAll(ctx context.Context, dir string) error {
	ps, err := paths()
	if err != nil {
		return err
	}
	for _, p := range ps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("extract the model family: %w", err)
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return fmt.Errorf("embedded model family: %w", err)
		}
		out := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return fmt.Errorf("extract the model family: %w", err)
		}
		if err := writeFile(out, data); err != nil {
			return fmt.Errorf("extract the model family: %w", err)
		}
	}
	return nil
}

// writeFile writes data to a new file at path and syncs it.
func writeFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Verify reports whether dir holds the embedded family: every embedded
// file present as a regular file with the same contents. The error names
// the first file that differs.
func Verify(dir string) error {
	ps, err := paths()
	if err != nil {
		return err
	}
	for _, p := range ps {
		want, err := files.ReadFile(p)
		if err != nil {
			return fmt.Errorf("embedded model family: %w", err)
		}
		path := filepath.Join(dir, filepath.FromSlash(p))
		if err := sameFile(path, want); err != nil {
			return err
		}
	}
	return nil
}

// sameFile reports whether path is a regular file holding want.
func sameFile(path string, want []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() != int64(len(want)) {
		return fmt.Errorf("%s holds %d bytes, want %d", path, st.Size(), len(want))
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(f, got); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s differs from the embedded model family", path)
	}
	return nil
}

// removeStale removes temporary siblings of parent/name older than
// staleAge: what a killed extraction left behind.
func removeStale(parent, name string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	prefix := "." + name + ".tmp-"
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < staleAge {
			continue
		}
		os.RemoveAll(filepath.Join(parent, e.Name()))
	}
}
