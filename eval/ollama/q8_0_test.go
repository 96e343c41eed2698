package ollama

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"
	fsggml "github.com/ollama/ollama/fs/ggml"
	"github.com/x448/float16"

	"github.com/mergetune/mergetune/merge/vec"
)

// familyBase is the tiny family's base model: bfloat16 safetensors.
var familyBase = filepath.Join("..", "..", "datasets", "toy", "family", "base")

// TestQuantizeQ8_0MatchesServer: for every tensor the real server's
// `create --quantize q8_0` stores as q8_0, vec.QuantizeQ8_0 of the same
// source values (the converted GGUF's tensor, widened to float32 as the
// server widens it) gives the same bytes.
func TestQuantizeQ8_0MatchesServer(t *testing.T) {
	srv := server(t)
	src, err := os.Create(filepath.Join(t.TempDir(), "family.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := convertModel(os.DirFS(familyBase), src); err != nil {
		t.Fatal(err)
	}
	digest, size, err := fileDigest(src)
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Client()
	if err := c.CreateBlob(t.Context(), digest, io.NewSectionReader(src, 0, size)); err != nil {
		t.Fatal(err)
	}
	name := "test-q8-0-family:latest"
	err = c.Create(t.Context(), &api.CreateRequest{
		Model:    name,
		Files:    map[string]string{"model.gguf": digest},
		Quantize: "q8_0",
	}, func(api.ProgressResponse) error { return nil })
	if err != nil {
		t.Fatalf("create --quantize q8_0: %v\n%s", err, tail(srv.Log(), 2000))
	}
	t.Cleanup(func() { _ = c.Delete(t.Context(), &api.DeleteRequest{Model: name}) })

	quant, err := os.Open(modelBlob(t, srv.Models, name))
	if err != nil {
		t.Fatal(err)
	}
	defer quant.Close()
	sg, qg := decodeGGUF(t, src), decodeGGUF(t, quant)
	srcTensors := map[string]*fsggml.Tensor{}
	for _, st := range sg.Tensors().Items() {
		srcTensors[st.Name] = st
	}
	var quantized, kept []string
	for _, qt := range qg.Tensors().Items() {
		st := srcTensors[qt.Name]
		if st == nil {
			t.Fatalf("the quantized model has tensor %s, the source has not", qt.Name)
		}
		if fsggml.TensorType(qt.Kind) != fsggml.TensorTypeQ8_0 {
			kept = append(kept, qt.Name+" "+fsggml.TensorType(qt.Kind).String())
			continue
		}
		quantized = append(quantized, qt.Name+" from "+fsggml.TensorType(st.Kind).String())
		values := tensorFloat32s(t, src, sg.Tensors().Offset+st.Offset, st)
		got := make([]byte, qt.Size())
		if err := vec.QuantizeQ8_0(got, values); err != nil {
			t.Fatalf("%s: %v", qt.Name, err)
		}
		want := make([]byte, qt.Size())
		if _, err := quant.ReadAt(want, int64(qg.Tensors().Offset+qt.Offset)); err != nil {
			t.Fatalf("%s: %v", qt.Name, err)
		}
		if !bytes.Equal(got, want) {
			i := 0
			for got[i] == want[i] {
				i++
			}
			b := i / vec.Q8_0BlockBytes * vec.Q8_0BlockBytes
			t.Errorf("%s: differs from the server's q8_0 at byte %d (block %d): got %x, server %x",
				qt.Name, i, i/vec.Q8_0BlockBytes, got[b:b+vec.Q8_0BlockBytes], want[b:b+vec.Q8_0BlockBytes])
		}
	}
	// the 2-D weights of the family are quantized; without any, this test
	// would check nothing
	if len(quantized) < 10 {
		t.Fatalf("only %d tensors were quantized to q8_0: %v (kept: %v)", len(quantized), quantized, kept)
	}
	t.Logf("q8_0, equal bytes: %s", strings.Join(quantized, ", "))
	t.Logf("kept in their type by the server: %s", strings.Join(kept, ", "))
}

// modelBlob returns the path of the model layer of the model name in the
// server's store.
func modelBlob(t *testing.T, models, name string) string {
	t.Helper()
	repo, tag, _ := strings.Cut(name, ":")
	b, err := os.ReadFile(filepath.Join(models, "manifests", "registry.ollama.ai", "library", repo, tag))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Layers []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		if l.MediaType == "application/vnd.ollama.image.model" {
			return filepath.Join(models, "blobs", strings.Replace(l.Digest, ":", "-", 1))
		}
	}
	t.Fatalf("manifest of %s has no model layer: %s", name, b)
	return ""
}

func decodeGGUF(t *testing.T, f *os.File) *fsggml.GGML {
	t.Helper()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	g, err := fsggml.Decode(f, -1)
	if err != nil {
		t.Fatalf("decode %s: %v", f.Name(), err)
	}
	return g
}

// tensorFloat32s reads the tensor t at byte offset off of f as float32.
func tensorFloat32s(t *testing.T, f *os.File, off uint64, st *fsggml.Tensor) []float32 {
	t.Helper()
	raw := make([]byte, st.Size())
	if _, err := f.ReadAt(raw, int64(off)); err != nil {
		t.Fatalf("%s: %v", st.Name, err)
	}
	n := int(st.Elements())
	v := make([]float32, n)
	switch fsggml.TensorType(st.Kind) {
	case fsggml.TensorTypeBF16:
		vec.BF16ToF32(v, raw)
	case fsggml.TensorTypeF16:
		for i := range v {
			v[i] = float16.Frombits(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8).Float32()
		}
	case fsggml.TensorTypeF32:
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	default:
		t.Fatalf("%s: source type %s", st.Name, fsggml.TensorType(st.Kind))
	}
	return v
}
