package family

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/mergetune/mergetune/datasets/toy"
)

// TestEmbedded checks that the binary carries the whole family: the base
// model and one fine-tune per toy task, each with every model file, byte
// for byte the files of this directory, and the README.
func TestEmbedded(t *testing.T) {
	models, err := Models()
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string{Base}, toy.Names()...)
	slices.Sort(want)
	if !slices.Equal(models, want) {
		t.Fatalf("embedded models %v, want %v", models, want)
	}
	ps, err := paths()
	if err != nil {
		t.Fatal(err)
	}
	var wantPaths []string
	for _, m := range want {
		for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
			wantPaths = append(wantPaths, m+"/"+f)
		}
	}
	// The same-task fine-tunes, whatever train.py wrote.
	seeds, err := Seeds(os.DirFS("."))
	if err != nil {
		t.Fatal(err)
	}
	if len(seeds) == 0 {
		t.Fatalf("no same-task fine-tunes under %s/", SeedsDir)
	}
	for _, ms := range seeds {
		for _, m := range ms {
			for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
				wantPaths = append(wantPaths, m.Dir+"/"+f)
			}
		}
	}
	wantPaths = append(wantPaths, "README.md")
	slices.Sort(wantPaths)
	if !slices.Equal(ps, wantPaths) {
		t.Fatalf("embedded files %v, want %v", ps, wantPaths)
	}
	// The checkout's family is the embedded one.
	if err := Verify("."); err != nil {
		t.Fatal(err)
	}
	h, err := Hash()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(h) {
		t.Fatalf("hash %q", h)
	}
}

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// extract runs Extract into parent and checks the result is the verified
// family directory, alone in parent.
func extract(t *testing.T, parent string) string {
	t.Helper()
	dir, err := Extract(context.Background(), parent)
	if err != nil {
		t.Fatal(err)
	}
	name, err := DirName()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(parent, name); dir != want {
		t.Fatalf("extracted into %s, want %s", dir, want)
	}
	if err := Verify(dir); err != nil {
		t.Fatalf("extracted family: %v", err)
	}
	if got := entries(t, parent); !slices.Equal(got, []string{name}) {
		t.Fatalf("%s holds %v after the extraction, want only %s", parent, got, name)
	}
	return dir
}

func TestExtract(t *testing.T) {
	parent := t.TempDir()
	dir := extract(t, parent)
	// The directories get the usual mode (0o755 less umask), like any
	// directory made with os.Mkdir, not MkdirTemp's 0o700.
	ref := filepath.Join(t.TempDir(), "ref")
	if err := os.Mkdir(ref, 0o755); err != nil {
		t.Fatal(err)
	}
	refInfo, err := os.Stat(ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(dir, Base)} {
		info, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != refInfo.Mode().Perm() {
			t.Errorf("%s has mode %v, want %v", d, info.Mode().Perm(), refInfo.Mode().Perm())
		}
	}

	// A complete copy is reused as it is, not written again.
	cfg := filepath.Join(dir, Base, "model.safetensors")
	before, err := os.Stat(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again := extract(t, parent); again != dir {
		t.Fatalf("second extraction into %s, first into %s", again, dir)
	}
	after, err := os.Stat(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("a complete family was written again")
	}
}

// TestExtractRepairs damages an extracted family in each way a user or a
// crash might, and checks the next extraction puts the whole family back.
func TestExtractRepairs(t *testing.T) {
	model := filepath.Join(Base, "model.safetensors")
	for _, tc := range []struct {
		name   string
		damage func(dir string) error
	}{
		{"file removed", func(dir string) error { return os.Remove(filepath.Join(dir, model)) }},
		{"model dir removed", func(dir string) error { return os.RemoveAll(filepath.Join(dir, "reverse")) }},
		{"file truncated", func(dir string) error { return os.Truncate(filepath.Join(dir, model), 100) }},
		{"byte changed", func(dir string) error {
			p := filepath.Join(dir, "reverse", "config.json")
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			data[0] ^= 1
			return os.WriteFile(p, data, 0o644)
		}},
		{"file replaced by a directory", func(dir string) error {
			p := filepath.Join(dir, "upper", "tokenizer.json")
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o755)
		}},
		{"empty directory", func(dir string) error {
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
			return os.Mkdir(dir, 0o755)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := extract(t, parent)
			if err := tc.damage(dir); err != nil {
				t.Fatal(err)
			}
			if err := Verify(dir); err == nil {
				t.Fatal("Verify accepts the damaged family")
			}
			extract(t, parent)
		})
	}
}

// TestExtractConcurrent runs several extractions at once into one empty
// parent, as several demos started together do: each must return the same
// complete directory and nothing else may be left.
func TestExtractConcurrent(t *testing.T) {
	parent := t.TempDir()
	const n = 6
	dirs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dirs[i], errs[i] = Extract(context.Background(), parent) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("extraction %d: %v", i, errs[i])
		}
		if dirs[i] != dirs[0] {
			t.Fatalf("extraction %d into %s, extraction 0 into %s", i, dirs[i], dirs[0])
		}
	}
	extract(t, parent) // verified, alone in parent
}

// TestExtractStale checks that a temporary sibling left by a killed
// extraction is removed once it is old, and a recent one (an extraction
// under way) is left alone.
func TestExtractStale(t *testing.T) {
	parent := t.TempDir()
	name, err := DirName()
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(parent, "."+name+".tmp-123")
	recent := filepath.Join(parent, "."+name+".tmp-456")
	for _, d := range []string{old, recent} {
		if err := os.MkdirAll(filepath.Join(d, "family", Base), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * staleAge)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	if _, err := Extract(context.Background(), parent); err != nil {
		t.Fatal(err)
	}
	got := entries(t, parent)
	if want := []string{"." + name + ".tmp-456", name}; !slices.Equal(got, want) {
		t.Fatalf("%s holds %v, want %v", parent, got, want)
	}
}

// TestExtractCancelled checks that a cancelled extraction fails and
// leaves nothing behind.
func TestExtractCancelled(t *testing.T) {
	parent := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Extract(ctx, parent); !errors.Is(err, context.Canceled) {
		t.Fatalf("Extract with a cancelled context: %v", err)
	}
	if got := entries(t, parent); len(got) != 0 {
		t.Fatalf("a cancelled extraction left %v", got)
	}
}

// TestFS checks the embedded file system serves the model files.
func TestFS(t *testing.T) {
	got, err := fs.ReadFile(FS(), "reverse/config.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("reverse", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("FS serves a config.json that differs from the repository's")
	}
}

// TestSeeds lists the same-task fine-tunes by task in seed order (seed 10
// after seed 2), takes a family without them as having none, and refuses
// a directory not named <task>-seed<N>.
func TestSeeds(t *testing.T) {
	model := &fstest.MapFile{Data: []byte("{}")}
	for _, c := range []struct {
		name  string
		files fstest.MapFS
		want  map[string][]SeedModel
		err   string
	}{
		{"none", fstest.MapFS{"base/config.json": model}, map[string][]SeedModel{}, ""},
		{"two tasks", fstest.MapFS{"seeds/rot1-seed10/config.json": model, "seeds/rot1-seed2/config.json": model,
			"seeds/pred-seed1/config.json": model, "seeds/results.json": model},
			map[string][]SeedModel{
				"rot1": {{"rot1", 2, "seeds/rot1-seed2"}, {"rot1", 10, "seeds/rot1-seed10"}},
				"pred": {{"pred", 1, "seeds/pred-seed1"}}}, ""},
		{"bad name", fstest.MapFS{"seeds/rot1_s1/config.json": model}, nil, "seeds/rot1_s1: want a directory named <task>-seed<N>"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Seeds(c.files)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Seeds = %v, %v; want %v", got, err, c.want)
			}
		})
	}
}
