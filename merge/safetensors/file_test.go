package safetensors

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeRaw writes a safetensors file with the given header JSON and data.
func writeRaw(t *testing.T, path, header string, data []byte) {
	t.Helper()
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	b = append(b, data...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenFileValid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	// b is listed first but lies later in the data; s is a scalar; e is empty.
	header := `{"__metadata__":{"format":"pt","k":"v"},` +
		`"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},` +
		`"a":{"dtype":"F16","shape":[1,2],"data_offsets":[0,4]},` +
		`"s":{"dtype":"F32","shape":[],"data_offsets":[8,12]},` +
		`"e":{"dtype":"F32","shape":[0,3],"data_offsets":[12,12]}}`
	data := make([]byte, 12)
	FromFloat32(F16, []float32{1, 2}, data[0:4])
	FromFloat32(BF16, []float32{3, 4}, data[4:8])
	FromFloat32(F32, []float32{5}, data[8:12])
	writeRaw(t, path, header, data)

	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if md := f.Metadata(); md["format"] != "pt" || md["k"] != "v" {
		t.Errorf("metadata = %v", md)
	}
	var names []string
	for _, tn := range f.Tensors() {
		names = append(names, tn.Name)
	}
	if got := strings.Join(names, ","); got != "a,b,s,e" {
		t.Errorf("tensor order = %s; want a,b,s,e", got)
	}
	want := map[string][]float32{"a": {1, 2}, "b": {3, 4}, "s": {5}, "e": {}}
	for _, tn := range f.Tensors() {
		w := want[tn.Name]
		if tn.Len() != len(w) {
			t.Errorf("%s: Len = %d; want %d", tn.Name, tn.Len(), len(w))
			continue
		}
		got := make([]float32, tn.Len())
		tn.Read(0, got)
		if !slices.Equal(tn.Float32s(), got) {
			t.Errorf("%s: Float32s differs from Read", tn.Name)
		}
		for i := range w {
			if got[i] != w[i] {
				t.Errorf("%s[%d] = %v; want %v", tn.Name, i, got[i], w[i])
			}
		}
		if len(tn.Bytes()) != tn.Len()*tn.DType.Size() {
			t.Errorf("%s: %d bytes", tn.Name, len(tn.Bytes()))
		}
	}
	if s := f.Tensors()[2]; s.Name != "s" || len(s.Shape) != 0 || s.Len() != 1 {
		t.Errorf("scalar: %+v Len %d", s, s.Len())
	}
}

func TestOpenFileErrors(t *testing.T) {
	f32 := func(n int) []byte { return make([]byte, 4*n) }
	tests := []struct {
		name   string
		raw    []byte // whole file, if set
		header string
		data   []byte
		want   []string
	}{
		{name: "short file", raw: []byte{1, 2, 3}, want: []string{"3 bytes", "shorter than the 8-byte"}},
		{name: "header beyond file", raw: append(binary.LittleEndian.AppendUint64(nil, 1000), "{}"...),
			want: []string{"header length 1000 plus the 8-byte length field is 1008 bytes, more than the file size 10"}},
		{name: "header over 100MB", raw: binary.LittleEndian.AppendUint64(nil, 100*1024*1024+1),
			want: []string{"header length 104857601 exceeds the limit of 104857600"}},
		{name: "invalid JSON", header: `{"a": [`, want: []string{"header is not valid JSON"}},
		{name: "unsupported dtype", header: `{"x":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}`, data: []byte{0},
			want: []string{"unsupported dtype I8 for tensor x in "}},
		{name: "end beyond data", header: `{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data: f32(1),
			want: []string{"tensor x", "data_offsets [0, 8] out of range of the 4-byte data section"}},
		{name: "begin after end", header: `{"x":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, data: f32(1),
			want: []string{"tensor x", "invalid data_offsets [4, 0]: the begin offset 4 is after the end offset 0"}},
		{name: "size mismatch", header: `{"x":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}}`, data: f32(1),
			want: []string{"tensor x", "span 4 bytes, but shape [3] of F16 needs 6 bytes"}},
		{name: "huge shape", header: `{"x":{"dtype":"F16","shape":[1000000000,1000000000,1000000000],"data_offsets":[0,4]}}`, data: f32(1),
			want: []string{"tensor x", "span 4 bytes"}},
		{name: "overlap", header: `{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, data: f32(3),
			want: []string{"tensors x and y", "overlap"}},
		{name: "bad metadata", header: `{"__metadata__":{"a":1}}`, want: []string{"__metadata__ is not a map of strings"}},
		{name: "bad offsets count", header: `{"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, data: f32(1),
			want: []string{"tensor x", "must have 2 entries"}},
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
			msg := err.Error()
			for _, w := range append(tc.want, path) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestOpenFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.safetensors")
	_, err := OpenFile(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error = %v; want it to name %s", err, path)
	}
}

func TestReleasePrefetch(t *testing.T) {
	dir := t.TempDir()
	// Tensors large enough to span several pages, plus a small one sharing
	// a page with its neighbours.
	specs := []Spec{
		{Name: "big", DType: BF16, Shape: []int{3, 10000}},
		{Name: "small", DType: F32, Shape: []int{3}},
		{Name: "big2", DType: F32, Shape: []int{20000}},
	}
	w, err := Create(dir, specs, 0)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string][]float32{}
	for _, s := range specs {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i%251) - 100
		}
		vals[s.Name] = v
		if err := w.WriteFloat32(s.Name, 0, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(filepath.Join(dir, SingleFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	check := func() {
		t.Helper()
		for _, tn := range f.Tensors() {
			got := make([]float32, tn.Len())
			tn.Read(0, got)
			for i, v := range vals[tn.Name] {
				if got[i] != v {
					t.Fatalf("%s[%d] = %v; want %v", tn.Name, i, got[i], v)
				}
			}
		}
	}
	for _, tn := range f.Tensors() {
		tn.Prefetch()
	}
	check()
	for _, tn := range f.Tensors() {
		tn.Release()
	}
	check()
	f.Tensors()[1].Release()
	f.Tensors()[0].Prefetch()
	check()
	// Partial reads.
	tn := f.Tensors()[0]
	got := make([]float32, 7)
	tn.Read(10, got)
	for i := range got {
		if got[i] != vals["big"][10+i] {
			t.Fatalf("partial read [%d] = %v", i, got[i])
		}
	}
}

func TestReadOutOfRangePanics(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, []Spec{{Name: "x", DType: F32, Shape: []int{2}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFloat32("x", 0, []float32{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(filepath.Join(dir, SingleFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "tensor x") {
			t.Fatalf("recover = %v", r)
		}
	}()
	f.Tensors()[0].Read(1, make([]float32, 2))
}
