package safetensors

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHeaderRefusals checks the header defects the safetensors format
// refuses and that were accepted or misreported before: each error names
// the file and says what is wrong.
func TestHeaderRefusals(t *testing.T) {
	f32 := func(n int) []byte { return make([]byte, 4*n) }
	tests := []struct {
		name   string
		raw    []byte // whole file, if set
		header string
		data   []byte
		want   []string
	}{
		{name: "null header", header: `null`, want: []string{"header is not a JSON object but null"}},
		{name: "array header", header: `[1, 2]`, want: []string{"header is not a JSON object but an array"}},
		{name: "number header", header: `7`, want: []string{"header is not a JSON object but the number 7"}},
		{name: "header exactly the file", raw: append(binary.LittleEndian.AppendUint64(nil, 18), "{}        "...),
			want: []string{"header length 18 plus the 8-byte length field is 26 bytes, more than the file size 18"}},
		{name: "duplicate tensor",
			header: `{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`,
			data:   f32(2), want: []string{`tensor "x" appears twice in the header`}},
		{name: "duplicate metadata", header: `{"__metadata__":{},"__metadata__":{}}`, want: []string{"__metadata__ appears twice"}},
		{name: "gap between tensors",
			header: `{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`,
			data:   f32(3), want: []string{"bytes [4, 8) of the data section belong to no tensor", "gap before tensor y at data_offsets [8, 12]"}},
		{name: "gap at the start",
			header: `{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`,
			data:   f32(2), want: []string{"bytes [0, 4) of the data section belong to no tensor", "tensor x"}},
		{name: "trailing data",
			header: `{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
			data:   f32(2), want: []string{"the tensors cover 4 bytes of the 8-byte data section: bytes [4, 8) belong to no tensor"}},
		{name: "empty tensor inside another",
			header: `{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}`,
			data:   f32(2), want: []string{"tensors x and e overlap"}},
		{name: "negative begin", header: `{"x":{"dtype":"F32","shape":[4],"data_offsets":[-8,8]}}`, data: f32(2),
			want: []string{"tensor x", "invalid data_offsets [-8, 8]: the begin offset -8 is negative"}},
		{name: "no dtype", header: `{"x":{"shape":[1],"data_offsets":[0,4]}}`, data: f32(1),
			want: []string{"tensor x", "no dtype"}},
		{name: "garbage after object", header: `{} x`, want: []string{"after its JSON object"}},
		{name: "truncated JSON", header: `{"x":`, want: []string{"header is not valid JSON", "unexpected end"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.safetensors")
			if tc.raw != nil {
				if err := os.WriteFile(path, tc.raw, 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				writeRaw(t, path, tc.header, tc.data)
			}
			f, err := OpenFile(path)
			if err == nil {
				f.Close()
				t.Fatal("no error")
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestOpenFIFORefused checks that a FIFO named model.safetensors is refused
// at once instead of blocking the open for ever.
func TestOpenFIFORefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, SingleFile)
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, open := range []struct {
		name string
		fn   func() error
	}{
		{"OpenFile", func() error { f, err := OpenFile(path); closeIf(f); return err }},
		{"OpenModel", func() error { m, err := OpenModel(dir); closeIf(m); return err }},
	} {
		done := make(chan error, 1)
		go func() { done <- open.fn() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), path+" is not a regular file (a FIFO)") {
				t.Errorf("%s: error %v; want %s refused as a FIFO", open.name, err, path)
			}
		case <-time.After(time.Minute):
			// Only a blocked open reaches this (a generous limit: a
			// busy machine slows every call). Unblock the open so the
			// goroutine ends.
			if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
				w.Close()
			}
			t.Fatalf("%s: still blocked on the FIFO after a minute", open.name)
		}
	}
}

// TestIndexFIFORefused checks that a FIFO as the shard index is refused.
func TestIndexFIFORefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, IndexFile)
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { m, err := OpenModel(dir); closeIf(m); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file (a FIFO)") {
			t.Errorf("error %v; want the index refused as a FIFO", err)
		}
	case <-time.After(time.Minute): // only a blocked open; generous for a busy machine
		if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		t.Fatal("still blocked on the FIFO index after a minute")
	}
}

func closeIf(c interface{ Close() error }) {
	switch v := c.(type) {
	case *File:
		if v != nil {
			v.Close()
		}
	case *Model:
		if v != nil {
			v.Close()
		}
	}
}

// TestReadTruncatedFile checks that reading a tensor whose pages were cut
// off by truncating the file records an error naming the file instead of
// crashing the process with SIGBUS.
func TestReadTruncatedFile(t *testing.T) {
	dir := t.TempDir()
	ps := os.Getpagesize()
	n := 4 * ps / 4 // four pages of F32
	vals, _ := writeModel(t, dir, []Spec{{Name: "a", DType: F32, Shape: []int{n}}, {Name: "b", DType: F32, Shape: []int{n}}}, 0)
	path := filepath.Join(dir, SingleFile)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var a, b *Tensor
	for _, x := range f.Tensors() {
		if x.Name == "a" {
			a = x
		} else {
			b = x
		}
	}
	got := a.Float32s()
	if got[n-1] != vals["a"][n-1] || f.Err() != nil {
		t.Fatalf("read before truncation: %v, err %v", got[n-1], f.Err())
	}
	if err := os.Truncate(path, 100); err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, n)
	dst[0] = 1
	b.Read(0, dst) // faults: must not crash
	if err := f.Err(); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("Err() = %v; want a fault naming %s", err, path)
	}
	if dst[0] != 0 {
		t.Errorf("dst not zeroed after a fault")
	}
	// Guard turns a fault on raw bytes into an error too.
	var sum byte
	err = f.Guard(func() {
		for _, c := range b.Bytes() {
			sum += c
		}
	})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Guard error %v (sum %d); want one naming %s", err, sum, path)
	}
	// Other panics propagate.
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("Guard swallowed a non-fault panic")
			}
		}()
		_ = f.Guard(func() { panic("boom") })
	}()
}
