package gguf

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/merge/safetensors"
)

func TestClassify(t *testing.T) {
	swapHalves := func(_ string, d []float32, s []uint64) ([]float32, error) {
		n := len(d) / 2
		return append(slices.Clone(d[n:]), d[:n]...), nil
	}
	tests := []struct {
		name    string
		shape   []int
		repack  func(string, []float32, []uint64) ([]float32, error)
		perm    []int32
		add     float32
		adds    bool
		wantErr error
	}{
		{name: "none", shape: []int{4, 3}},
		{name: "row permutation", shape: []int{4, 3}, repack: swapHalves, perm: []int32{2, 3, 0, 1}},
		{name: "identity", shape: []int{4, 3}, repack: func(_ string, d []float32, _ []uint64) ([]float32, error) { return d, nil }},
		{name: "offset", shape: []int{5}, repack: func(_ string, d []float32, _ []uint64) ([]float32, error) {
			for i := range d {
				d[i]++
			}
			return d, nil
		}, add: 1, adds: true},
		{name: "scale", shape: []int{5}, repack: func(_ string, d []float32, _ []uint64) ([]float32, error) {
			for i := range d {
				d[i] *= 2
			}
			return d, nil
		}, wantErr: ErrUnsupported},
		{name: "value-dependent", shape: []int{4, 3}, repack: func(_ string, d []float32, _ []uint64) ([]float32, error) {
			if d[0] == 0 {
				return swapHalves("", d, nil)
			}
			return d, nil
		}, wantErr: ErrUnsupported},
		{name: "resize", shape: []int{4, 3}, repack: func(_ string, d []float32, _ []uint64) ([]float32, error) { return d[1:], nil }, wantErr: ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &entry{name: "x", gguf: "x", shape: tt.shape, cols: tt.shape[len(tt.shape)-1], elems: 1}
			for _, d := range tt.shape {
				e.elems *= int64(d)
			}
			tr, err := classify(&tensor{entry: e, repacker: tt.repack})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tr.perm, tt.perm) || tr.add != tt.add || tr.adds != tt.adds {
				t.Errorf("got perm %v add %v/%v, want %v %v/%v", tr.perm, tr.add, tr.adds, tt.perm, tt.add, tt.adds)
			}
		})
	}
}

func TestWriteFloat32Checks(t *testing.T) {
	path := t.TempDir() + "/x.gguf"
	e := &entry{name: "q", gguf: "q", dtype: safetensors.F32, shape: []int{4, 2}, cols: 2, elems: 8,
		tr: transform{perm: []int32{2, 3, 0, 1}, inv: []int32{2, 3, 0, 1}}}
	w := &Writer{path: path, byName: map[string]*entry{"q": e}, order: []*entry{e}, size: 32}
	w.prefix = newPrefix(w.size, w.holes())
	w.bufs.New = func() any { return new(buffers) }
	var err error
	if w.f, err = createFile(path); err != nil {
		t.Fatal(err)
	}
	w.wb = safetensors.NewWriteback([]*os.File{w.f})
	defer w.wb.Stop()
	for _, c := range []struct {
		name string
		off  int
		n    int
		want string
	}{
		{"nope", 0, 2, "no such tensor"},
		{"q", 6, 4, "out of range"},
		{"q", 1, 2, "not whole rows"},
	} {
		if err := w.WriteFloat32(c.name, c.off, make([]float32, c.n)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("WriteFloat32(%s, %d, %d): %v, want %q", c.name, c.off, c.n, err, c.want)
		}
	}
	if err := w.WriteFloat32("q", 0, []float32{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "16 of 32 bytes") {
		t.Errorf("Close of a half-written tensor: %v", err)
	}
}
