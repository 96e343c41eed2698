package safetensors

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fileBytes builds a safetensors file from a header and a data section.
func fileBytes(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

// FuzzHeader feeds arbitrary files to OpenFile: it must never panic, an
// error must name the file, and what it accepts must be a valid layout
// whose every tensor reads within the file.
func FuzzHeader(f *testing.F) {
	seeds := []struct {
		header string
		data   int
	}{
		{`{}`, 0},
		{`{"__metadata__":{"format":"pt"}}`, 0},
		{`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8},
		{`{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},"a":{"dtype":"F16","shape":[1,2],"data_offsets":[0,4]},"s":{"dtype":"F32","shape":[],"data_offsets":[8,12]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[12,12]}}`, 12},
		{`null`, 0},
		{`[]`, 0},
		{`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8},
		{`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 12},
		{`{"x":{"dtype":"F32","shape":[4],"data_offsets":[-8,8]}}`, 8},
		{`{"x":{"dtype":"F16","shape":[1000000000,1000000000,1000000000],"data_offsets":[0,4]}}`, 4},
		{`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12},
		{`{"__metadata__":null,"x":{"dtype":"BF16","shape":[1,1],"data_offsets":[0,2]}}   `, 2},
		{`{"x":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, 8},
	}
	for _, s := range seeds {
		f.Add(fileBytes(s.header, make([]byte, s.data)))
	}
	f.Add([]byte{1, 2, 3})
	f.Add(binary.LittleEndian.AppendUint64(nil, 1<<40))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(dir, "fuzz.safetensors")
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		file, err := OpenFile(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		defer file.Close()
		dataStart := 8 + int(binary.LittleEndian.Uint64(raw))
		pos := dataStart
		seen := map[string]bool{}
		for _, x := range file.Tensors() {
			if seen[x.Name] {
				t.Fatalf("tensor %s accepted twice", x.Name)
			}
			seen[x.Name] = true
			if x.begin != pos {
				t.Fatalf("tensor %s at %d, want %d: gap or overlap accepted", x.Name, x.begin, pos)
			}
			pos += len(x.Bytes())
			n := 1
			for _, d := range x.Shape {
				n *= d
			}
			if x.Len() != n || len(x.Bytes()) != n*x.DType.Size() {
				t.Fatalf("tensor %s: %d elements in %d bytes, shape %v", x.Name, x.Len(), len(x.Bytes()), x.Shape)
			}
			if v := x.Float32s(); len(v) != n {
				t.Fatalf("tensor %s: read %d elements, want %d", x.Name, len(v), n)
			}
		}
		if pos != len(raw) {
			t.Fatalf("tensors end at %d of a %d-byte file: trailing bytes accepted", pos, len(raw))
		}
		if file.Err() != nil {
			t.Fatalf("error reading a file that did not change: %v", file.Err())
		}
	})
}
