package safetensors

import (
	"encoding/binary"
	"strings"
	"testing"
)

// fileBytes builds a safetensors file from a header and a data section.
func fileBytes(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

// FuzzHeader feeds arbitrary files to the header reader (OpenFile's steps
// on an in-memory file): it must never panic, and what it accepts must be a
// valid layout whose every tensor reads within the file.
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
	f.Fuzz(func(t *testing.T, raw []byte) {
		const path = "fuzz.safetensors"
		var lenField [8]byte
		copy(lenField[:], raw)
		hlen, err := headerLen(path, lenField, int64(len(raw)))
		if err != nil {
			return
		}
		dataStart := 8 + hlen
		h, err := parseHeader(path, raw[8:dataStart], int64(len(raw)-dataStart))
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		file := newFile(path, raw, dataStart, h)
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
			t.Fatalf("fault reading an in-memory file: %v", file.Err())
		}
	})
}
