package gguf

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFollow reads a Writer's file through Follow while the tensor is
// written in reverse order, a chunk at a time: the reader gets the whole
// file, byte for byte what Close leaves, and has read nothing of the
// tensor before its first rows were written. An aborted Writer's reader
// fails with ErrAborted instead of blocking.
func TestFollow(t *testing.T) {
	dir := t.TempDir()
	vals := make([]float32, 64*8)
	for i := range vals {
		vals[i] = float32(i)*0.5 - 7
	}

	w := testWriter(t, filepath.Join(dir, "ok.gguf"))
	r, err := w.Follow()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		b   []byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		got <- result{b, err}
	}()
	// Nothing beyond the header can be read before the data is written.
	time.Sleep(20 * time.Millisecond)
	select {
	case res := <-got:
		t.Fatalf("the reader ended before the data was written: %d bytes, %v", len(res.b), res.err)
	default:
	}
	for row := 64 - 4; row >= 0; row -= 4 {
		if err := w.WriteFloat32("q", row*8, vals[row*8:(row+4)*8]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	res := <-got
	if res.err != nil {
		t.Fatal(res.err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.b, whole) {
		t.Errorf("the reader got %d bytes unlike the file's %d", len(res.b), len(whole))
	}

	w = testWriter(t, filepath.Join(dir, "aborted.gguf"))
	if r, err = w.Follow(); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		b, err := io.ReadAll(r)
		got <- result{b, err}
	}()
	if err := w.WriteFloat32("q", 0, vals[:8*8]); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	select {
	case res := <-got:
		if !errors.Is(res.err, ErrAborted) {
			t.Errorf("reader of an aborted Writer: %d bytes, %v; want ErrAborted", len(res.b), res.err)
		}
		if int64(len(res.b)) >= w.Size() {
			t.Errorf("reader of an aborted Writer got all %d bytes", len(res.b))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the reader of an aborted Writer still blocks")
	}
}
