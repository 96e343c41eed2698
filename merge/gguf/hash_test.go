package gguf

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mergetune/mergetune/merge/safetensors"
)

// TestFrontierHasher writes a file's holes in pieces, out of order and
// from several goroutines at once, reporting each piece as the merge
// workers do, and checks that the digest the hasher followed the writes
// with is the SHA-256 of the finished file.
func TestFrontierHasher(t *testing.T) {
	tests := []struct {
		name  string
		size  int64
		holes [][2]int64
		piece int64
		order string // "forward", "reverse" or "shuffled"
	}{
		{name: "no holes", size: 1000, order: "forward"},
		{name: "one hole, in order", size: 10 << 20, holes: [][2]int64{{100, 9 << 20}}, piece: 64 << 10, order: "forward"},
		{name: "reverse", size: 9<<20 + 7, holes: [][2]int64{{0, 3 << 20}, {3<<20 + 32, 9 << 20}}, piece: 100003, order: "reverse"},
		{name: "shuffled", size: 12 << 20, holes: [][2]int64{{64, 5 << 20}, {5<<20 + 64, 6 << 20}, {6 << 20, 12<<20 - 1}}, piece: 77777, order: "shuffled"},
		{name: "hole at the end", size: 5 << 20, holes: [][2]int64{{4 << 20, 5 << 20}}, piece: 1 << 16, order: "shuffled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "f"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rng := rand.New(rand.NewPCG(1, uint64(tt.size)))
			// The bytes outside the holes are written first (the header).
			data := make([]byte, tt.size)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			inHole := make([]bool, tt.size)
			for _, h := range tt.holes {
				for i := h[0]; i < h[1]; i++ {
					inHole[i] = true
				}
			}
			outside := make([]byte, tt.size)
			for i := range outside {
				if !inHole[i] {
					outside[i] = data[i]
				}
			}
			if _, err := f.WriteAt(outside, 0); err != nil {
				t.Fatal(err)
			}
			p := newPrefix(tt.size, tt.holes)
			h := newFrontierHasher(f, tt.size, p)
			var pieces [][2]int64
			for _, hole := range tt.holes {
				for at := hole[0]; at < hole[1]; at += tt.piece {
					pieces = append(pieces, [2]int64{at, min(at+tt.piece, hole[1])})
				}
			}
			switch tt.order {
			case "reverse":
				for i, j := 0, len(pieces)-1; i < j; i, j = i+1, j-1 {
					pieces[i], pieces[j] = pieces[j], pieces[i]
				}
			case "shuffled":
				rng.Shuffle(len(pieces), func(i, j int) { pieces[i], pieces[j] = pieces[j], pieces[i] })
			}
			next := make(chan [2]int64)
			var wg sync.WaitGroup
			for range 3 {
				wg.Go(func() {
					for p := range next {
						if _, err := f.WriteAt(data[p[0]:p[1]], p[0]); err != nil {
							t.Error(err)
						}
						h.p.mark(p[0], p[1])
					}
				})
			}
			for _, p := range pieces {
				next <- p
			}
			close(next)
			wg.Wait()
			got, err := h.sum()
			if err != nil {
				t.Fatal(err)
			}
			whole, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(whole)
			if want := "sha256:" + hex.EncodeToString(sum[:]); got != want {
				t.Errorf("digest %s, the file's %s", got, want)
			}
		})
	}
}

// TestFrontierHasherIncomplete: a range never written is an error, not a
// hang, and an abort ends the hasher.
func TestFrontierHasherIncomplete(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(1 << 20); err != nil {
		t.Fatal(err)
	}
	h := newFrontierHasher(f, 1<<20, newPrefix(1<<20, [][2]int64{{1000, 1 << 20}}))
	h.p.mark(2000, 1<<20)
	if _, err := h.sum(); err == nil || !strings.Contains(err.Error(), "from 1000") {
		t.Errorf("sum with bytes [1000, 2000) missing: %v", err)
	}
	h = newFrontierHasher(f, 1<<20, newPrefix(1<<20, [][2]int64{{0, 1 << 20}}))
	h.p.mark(0, 4096)
	h.abort()
	if _, err := h.sum(); err == nil {
		t.Error("sum after abort: no error")
	}
}

// TestWriterDigestAndAbort writes a tensor through a Writer out of order
// (its rows permuted, the chunks in reverse) and checks Digest against the
// closed file's SHA-256; a second Writer fails half-way (Abort) and leaves
// no file behind and no digest.
func TestWriterDigestAndAbort(t *testing.T) {
	dir := t.TempDir()
	newWriter := func(name string) *Writer { return testWriter(t, filepath.Join(dir, name)) }
	vals := make([]float32, 64*8)
	for i := range vals {
		vals[i] = float32(i) * 0.25
	}
	w := newWriter("ok.gguf")
	for r := 64 - 4; r >= 0; r -= 4 {
		if err := w.WriteFloat32("q", r*8, vals[r*8:(r+4)*8]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(whole)
	if want := "sha256:" + hex.EncodeToString(sum[:]); w.Digest() != want {
		t.Errorf("Digest %s, the file's %s", w.Digest(), want)
	}

	w = newWriter("failed.gguf")
	if err := w.WriteFloat32("q", 0, vals[:32*8]); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if _, err := os.Stat(w.Path()); !os.IsNotExist(err) {
		t.Errorf("after Abort: %v, want the file gone", err)
	}
	if w.Digest() != "" {
		t.Errorf("after Abort: digest %q", w.Digest())
	}
}

// testWriter returns a Writer of a small file at path whose one tensor,
// "q" (64 rows of 8 float32), has its rows permuted as the llama Q/K
// repack does.
func testWriter(t *testing.T, path string) *Writer {
	t.Helper()
	rows, cols := 64, 8
	inv := make([]int32, rows)
	for i := range inv {
		inv[i] = int32((i*5 + 3) % rows)
	}
	perm := make([]int32, rows)
	for i, d := range inv {
		perm[d] = int32(i)
	}
	e := &entry{name: "q", gguf: "q", dtype: safetensors.F32, kind: 0, shape: []int{rows, cols}, cols: cols,
		elems: int64(rows * cols), off: 96, tr: transform{perm: perm, inv: inv}}
	w := &Writer{path: path, byName: map[string]*entry{"q": e}, order: []*entry{e}, size: 96 + int64(rows*cols*4) + 40}
	w.bufs.New = func() any { return new(buffers) }
	var err error
	if w.f, err = createFile(path); err != nil {
		t.Fatal(err)
	}
	if _, err := w.f.WriteAt([]byte("GGUF header bytes"), 0); err != nil {
		t.Fatal(err)
	}
	if err := w.f.Truncate(w.size); err != nil {
		t.Fatal(err)
	}
	w.prefix = newPrefix(w.size, w.holes())
	w.hash = newFrontierHasher(w.f, w.size, w.prefix)
	w.wb = safetensors.NewWriteback([]*os.File{w.f})
	return w
}
