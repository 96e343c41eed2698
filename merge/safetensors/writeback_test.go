package safetensors

import (
	"os"
	"sync"
	"testing"
)

// TestWriterStartsWriteback: while a checkpoint is written, the writer
// starts the writeback of each shard once per writebackBytes written to
// it, before Close; a small shard is left to Close's fsync.
func TestWriterStartsWriteback(t *testing.T) {
	dir := t.TempDir()
	const big = 3*writebackBytes/4 + 1 // float32 elements: 3 × writebackBytes bytes + 4
	specs := []Spec{
		{Name: "big", DType: F32, Shape: []int{big}},
		{Name: "small", DType: F32, Shape: []int{1000}},
	}
	var mu sync.Mutex
	kicks := map[string]int{}
	w, err := create(dir, specs, writebackBytes, func(f *os.File) {
		mu.Lock()
		kicks[f.Name()]++
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	files := w.Files()
	if len(files) != 3 {
		t.Fatalf("files %v, want two shards and the index", files)
	}
	chunk := make([]float32, 1<<20)
	for off := 0; off < big; off += len(chunk) {
		if err := w.WriteFloat32("big", off, chunk[:min(len(chunk), big-off)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFloat32("small", 0, make([]float32, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil { // ends the goroutine: every kick taken is counted
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// 3 thresholds crossed; a kick dropped while one is pending is merged
	// into it, and Close takes a pending one: 1 to 3 calls
	if n := kicks[files[0]]; n < 1 || n > 3 {
		t.Errorf("writeback of the big shard started %d times, want 1 to 3", n)
	}
	if n := kicks[files[1]]; n != 0 {
		t.Errorf("writeback of the 4000-byte shard started %d times, want 0", n)
	}
}

// TestWritebackWriteAt: concurrent WriteAt calls to two files land every
// byte where it was asked, and the bytes they write count toward each
// file's writeback.
func TestWritebackWriteAt(t *testing.T) {
	dir := t.TempDir()
	var files []*os.File
	for _, name := range []string{"a", "b"} {
		f, err := os.Create(dir + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	var mu sync.Mutex
	kicks := map[string]int{}
	wb := newWriteback(files, func(f *os.File) {
		mu.Lock()
		kicks[f.Name()]++
		mu.Unlock()
	})
	const piece = 1 << 20
	pieces := 2 * writebackBytes / piece // file a: two thresholds' worth
	var wg sync.WaitGroup
	for p := range pieces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, piece)
			for i := range b {
				b[i] = byte(p)
			}
			if n, err := wb.WriteAt(0, b, int64(p)*piece); err != nil || n != piece {
				t.Errorf("WriteAt piece %d: %d, %v", p, n, err)
			}
		}()
	}
	if _, err := wb.WriteAt(1, []byte("small"), 3); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	wb.Stop()
	got, err := os.ReadFile(files[0].Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != pieces*piece {
		t.Fatalf("file a holds %d bytes, want %d", len(got), pieces*piece)
	}
	for p := range pieces {
		if got[p*piece] != byte(p) || got[(p+1)*piece-1] != byte(p) {
			t.Fatalf("piece %d misplaced", p)
		}
	}
	if b, _ := os.ReadFile(files[1].Name()); string(b) != "\x00\x00\x00small" {
		t.Errorf("file b holds %q", b)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := kicks[files[0].Name()]; n < 1 || n > 2 {
		t.Errorf("writeback of file a started %d times, want 1 or 2", n)
	}
	if n := kicks[files[1].Name()]; n != 0 {
		t.Errorf("writeback of file b started %d times, want 0", n)
	}
}
