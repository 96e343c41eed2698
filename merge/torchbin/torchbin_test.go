package torchbin

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mergetune/mergetune/merge/safetensors"
	"github.com/mergetune/mergetune/merge/torchbin/bintest"
)

func f32s(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func seq(n, size int, start byte) []byte {
	b := make([]byte, n*size)
	for i := range b {
		b[i] = start + byte(i*7)
	}
	return b
}

// sample is a state dict with every case the reader handles.
func sample() []bintest.Tensor {
	return []bintest.Tensor{
		{Name: "model.embed_tokens.weight", DType: safetensors.F32, Shape: []int{3, 4}, Data: f32s(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)},
		{Name: "model.layers.0.mlp.up_proj.weight", DType: safetensors.BF16, Shape: []int{3, 5}, Data: seq(15, 2, 1), Transposed: true},
		{Name: "model.layers.0.input_layernorm.weight", DType: safetensors.F16, Shape: []int{4}, Data: seq(4, 2, 9)},
		{Name: "lm_head.weight", DType: safetensors.F32, Shape: []int{2, 2}, Data: f32s(-1, -2, -3, -4), ShareWith: "model.embed_tokens.weight"},
		{Name: "model.layers.0.self_attn.rotary_emb.inv_freq.count", Class: "LongStorage", Shape: []int{2}, Data: seq(2, 8, 0)},
		{Name: "scalar", DType: safetensors.F32, Shape: []int{}, Data: f32s(0.5)},
		{Name: "empty", DType: safetensors.F32, Shape: []int{0, 3}, Data: nil},
	}
}

func TestConvertFile(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pytorch_model.bin")
	in := sample()
	if err := bintest.Write(bin, in); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "model.safetensors")
	skipped, err := ConvertFile(context.Background(), bin, dst)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"model.layers.0.self_attn.rotary_emb.inv_freq.count"}; !slices.Equal(skipped, want) {
		t.Errorf("skipped %v, want %v", skipped, want)
	}
	f, err := safetensors.OpenFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]*safetensors.Tensor{}
	for _, x := range f.Tensors() {
		got[x.Name] = x
	}
	for _, w := range in {
		if w.Class != "" {
			continue
		}
		g, ok := got[w.Name]
		if !ok {
			t.Errorf("tensor %s missing", w.Name)
			continue
		}
		if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || !bytes.Equal(g.Bytes(), w.Data) {
			t.Errorf("tensor %s: %s %v % x, want %s %v % x", w.Name, g.DType, g.Shape, g.Bytes(), w.DType, w.Shape, w.Data)
		}
	}
	if len(got) != len(in)-1 {
		t.Errorf("%d tensors, want %d", len(got), len(in)-1)
	}
}

func TestForbiddenGlobals(t *testing.T) {
	dir := t.TempDir()
	for _, g := range [][2]string{
		{"os", "system"}, {"posix", "system"}, {"builtins", "eval"}, {"__builtin__", "getattr"},
		{"subprocess", "Popen"}, {"torch", "load"}, {"torch._utils", "_rebuild_device_tensor_from_numpy"},
	} {
		p := filepath.Join(dir, g[0]+"."+g[1]+".bin")
		if err := bintest.WriteGlobal(p, g[0], g[1], "touch "+filepath.Join(dir, "pwned")); err != nil {
			t.Fatal(err)
		}
		_, err := Open(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "global "+g[0]+"."+g[1]+" is not allowed") {
			t.Errorf("%s.%s: %v", g[0], g[1], err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Error("the pickle ran a command")
	}
}

// rezip rewrites the records of a checkpoint through edit.
func rezip(t *testing.T, src, dst string, edit func(name string, data []byte) (string, []byte)) {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		r, _ := f.Open()
		var b bytes.Buffer
		_, _ = b.ReadFrom(r)
		r.Close()
		name, data := edit(f.Name, b.Bytes())
		if name == "" {
			continue
		}
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		_, _ = w.Write(data)
	}
	_ = zw.Close()
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMalformed(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.bin")
	if err := bintest.Write(good, sample()); err != nil {
		t.Fatal(err)
	}
	// A deflated archive reads as the stored one does.
	deflated := filepath.Join(dir, "deflated.bin")
	rezip(t, good, deflated, func(n string, d []byte) (string, []byte) { return n, d })
	if _, err := ConvertFile(context.Background(), deflated, filepath.Join(dir, "d.safetensors")); err != nil {
		t.Errorf("deflated: %v", err)
	}
	cases := []struct {
		name string
		make func(p string)
		want string
	}{
		{"legacy", func(p string) { _ = os.WriteFile(p, []byte{0x80, 2, 0x8a, 0x0a}, 0o644) }, "legacy (pre-1.6)"},
		{"not a zip", func(p string) { _ = os.WriteFile(p, []byte("hello"), 0o644) }, "not a PyTorch zip checkpoint"},
		{"no data.pkl", func(p string) {
			rezip(t, good, p, func(n string, d []byte) (string, []byte) {
				if strings.HasSuffix(n, "data.pkl") {
					return "", nil
				}
				return n, d
			})
		}, "no <archive>/data.pkl"},
		{"torchscript", func(p string) {
			rezip(t, good, p, func(n string, d []byte) (string, []byte) {
				if strings.HasSuffix(n, "version") {
					return "archive/constants.pkl", d
				}
				return n, d
			})
		}, "TorchScript"},
		{"big endian", func(p string) {
			rezip(t, good, p, func(n string, d []byte) (string, []byte) {
				if strings.HasSuffix(n, "byteorder") {
					return n, []byte("big")
				}
				return n, d
			})
		}, `byte order "big"`},
		{"missing storage", func(p string) {
			rezip(t, good, p, func(n string, d []byte) (string, []byte) {
				if n == "archive/data/1" {
					return "", nil
				}
				return n, d
			})
		}, "storage 1 has no data/1 record"},
		{"short storage", func(p string) {
			rezip(t, good, p, func(n string, d []byte) (string, []byte) {
				if n == "archive/data/0" {
					return n, d[:len(d)-4]
				}
				return n, d
			})
		}, "storage 0 holds 60 bytes, not the 16 elements of 4 bytes"},
		{"truncated pickle", func(p string) {
			rezip(t, good, p, func(n string, d []byte) (string, []byte) {
				if strings.HasSuffix(n, "data.pkl") {
					return n, d[:len(d)/2]
				}
				return n, d
			})
		}, "malformed pickle"},
		{"view past storage", func(p string) {
			_ = bintest.Write(p, []bintest.Tensor{{Name: "w", DType: safetensors.F32, Shape: []int{2}, Data: f32s(1, 2)}})
			rezip(t, p, p+".tmp", func(n string, d []byte) (string, []byte) {
				if strings.HasSuffix(n, "data.pkl") {
					// offset 0 -> offset 1: elements 1 and 2 of a storage of 2.
					return n, bytes.Replace(d, []byte("tQJ\x00\x00\x00\x00"), []byte("tQJ\x01\x00\x00\x00"), 1)
				}
				return n, d
			})
			_ = os.Rename(p+".tmp", p)
		}, "reach element 2 of storage 0, which holds 2"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".bin")
		c.make(p)
		_, err := ConvertFile(context.Background(), p, filepath.Join(dir, "out.safetensors"))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Base(p)) {
			t.Errorf("%s: %v, want an error naming the file and %q", c.name, err, c.want)
		}
	}
}

func TestTwin(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cache := t.TempDir()
	in := sample()
	// Two shards and their index.
	if err := bintest.Write(filepath.Join(dir, "pytorch_model-00001-of-00002.bin"), in[:3]); err != nil {
		t.Fatal(err)
	}
	if err := bintest.Write(filepath.Join(dir, "pytorch_model-00002-of-00002.bin"), in[5:]); err != nil {
		t.Fatal(err)
	}
	index := `{"weight_map": {"model.embed_tokens.weight": "pytorch_model-00001-of-00002.bin", "scalar": "pytorch_model-00002-of-00002.bin"}}`
	if err := os.WriteFile(filepath.Join(dir, IndexFile), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := Files(dir)
	if err != nil || len(files) != 2 {
		t.Fatalf("Files = %v, %v", files, err)
	}
	twin, _, err := Twin(ctx, dir, files, cache)
	if err != nil {
		t.Fatal(err)
	}
	m, err := safetensors.OpenModel(twin)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Names(); len(got) != 5 {
		t.Errorf("twin tensors %v", got)
	}
	m.Close()
	for _, n := range []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		if _, err := os.Stat(filepath.Join(twin, n)); err != nil {
			t.Error(err)
		}
	}
	st1, _ := os.Stat(filepath.Join(twin, "model-00001-of-00002.safetensors"))
	again, _, err := Twin(ctx, dir, files, cache)
	if err != nil || again != twin {
		t.Fatalf("second Twin = %s, %v; want the cached %s", again, err, twin)
	}
	if st2, _ := os.Stat(filepath.Join(twin, "model-00001-of-00002.safetensors")); !os.SameFile(st1, st2) {
		t.Error("the twin was converted again")
	}
	// A changed checkpoint gets a new twin; the old one is removed.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(files[0], later, later); err != nil {
		t.Fatal(err)
	}
	third, _, err := Twin(ctx, dir, files, cache)
	if err != nil || third == twin {
		t.Fatalf("Twin after a change = %s, %v", third, err)
	}
	if _, err := os.Stat(twin); err == nil {
		t.Error("the stale twin is still there")
	}
	if left, _ := filepath.Glob(filepath.Join(cache, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	for _, c := range []struct{ name, want string }{
		{"pytorch_model.bin", "model.safetensors"},
		{"/x/pytorch_model-00003-of-00009.bin", "model-00003-of-00009.safetensors"},
		{"adapter_model.bin", "adapter_model.safetensors"},
	} {
		if got := TwinName(c.name); got != c.want {
			t.Errorf("TwinName(%s) = %s, want %s", c.name, got, c.want)
		}
	}
}

func TestFilesIndexEscape(t *testing.T) {
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, IndexFile), []byte(`{"weight_map": {"a": "../evil.bin"}}`), 0o644)
	if _, err := Files(dir); err == nil || !strings.Contains(err.Error(), "../evil.bin") {
		t.Errorf("escaping shard: %v", err)
	}
}
