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
