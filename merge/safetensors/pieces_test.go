package safetensors

import (
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
)

// openPieces writes tensors of the given specs and opens them.
func openPieces(t *testing.T, specs []Spec) (*File, map[string][]float32) {
	t.Helper()
	dir := t.TempDir()
	vals, _ := writeModel(t, dir, specs, 0)
	f, err := OpenFile(filepath.Join(dir, SingleFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, vals
}

// TestReadPieces: a tensor read a kernel block (2048 elements) at a time
// is read from the file once, a piece (readPiece bytes) per pread, for
// every dtype, its values exact; Release gives back its pieces.
func TestReadPieces(t *testing.T) {
	for _, dt := range []DType{F32, F16, BF16} {
		t.Run(string(dt), func(t *testing.T) {
			// An odd-sized tensor first, so that the second starts off a
			// piece boundary of the file; the second spans 2.5 pieces.
			n := 5 * readPiece / 2 / dt.Size()
			f, vals := openPieces(t, []Spec{{Name: "odd", DType: dt, Shape: []int{3}}, {Name: "big", DType: dt, Shape: []int{n}}})
			var big *Tensor
			for _, x := range f.Tensors() {
				if x.Name == "big" {
					big = x
				}
			}
			got := make([]float32, n)
			for off := 0; off < n; off += 2048 {
				big.Read(off, got[off:min(off+2048, n)])
			}
			for i, v := range vals["big"] {
				if got[i] != v {
					t.Fatalf("big[%d] = %v, want %v", i, got[i], v)
				}
			}
			if f.pieces.loads != 3 {
				t.Errorf("%d preads for 2.5 pieces read in blocks, want 3", f.pieces.loads)
			}
			big.Release()
			if len(f.pieces.slots) != 0 {
				t.Errorf("%d pieces kept after Release, want 0", len(f.pieces.slots))
			}
			if err := f.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestReadPiecesConcurrent: readers of two tensors at random ranges, at
// once, each get exact values, the file keeps no more pieces than its
// limit, and none once both tensors are released (run with -race).
func TestReadPiecesConcurrent(t *testing.T) {
	n := 3 * readPiece / 2
	f, vals := openPieces(t, []Spec{{Name: "a", DType: BF16, Shape: []int{n}}, {Name: "b", DType: F16, Shape: []int{n + 7}}})
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 200 {
				x := f.Tensors()[r.IntN(2)]
				off := r.IntN(x.Len())
				dst := make([]float32, r.IntN(min(x.Len()-off, 40000))+1)
				x.Read(off, dst)
				for i, v := range dst {
					if want := vals[x.Name][off+i]; v != want {
						errs <- x.Name + ": wrong value"
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if len(f.pieces.slots) > f.pieces.max {
		t.Errorf("%d pieces kept, more than the limit %d", len(f.pieces.slots), f.pieces.max)
	}
	for _, x := range f.Tensors() {
		x.Release()
	}
	if len(f.pieces.slots) != 0 {
		t.Errorf("%d pieces kept after both tensors' Release, want 0", len(f.pieces.slots))
	}
}
