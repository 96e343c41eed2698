package ollama

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// ggufBuilder writes GGUF files for tests.
type ggufBuilder struct {
	kv      bytes.Buffer
	nKV     uint64
	tensors bytes.Buffer
	nTensor uint64
}

func (g *ggufBuilder) u32(b *bytes.Buffer, v uint32) { binary.Write(b, binary.LittleEndian, v) }
func (g *ggufBuilder) u64(b *bytes.Buffer, v uint64) { binary.Write(b, binary.LittleEndian, v) }
func (g *ggufBuilder) str(b *bytes.Buffer, s string) { g.u64(b, uint64(len(s))); b.WriteString(s) }

func (g *ggufBuilder) key(k string, t uint32) *bytes.Buffer {
	g.nKV++
	g.str(&g.kv, k)
	g.u32(&g.kv, t)
	return &g.kv
}

func (g *ggufBuilder) string(k, v string)        { g.str(g.key(k, ggufString), v) }
func (g *ggufBuilder) uint32(k string, v uint32) { g.u32(g.key(k, ggufUint32), v) }

func (g *ggufBuilder) strings(k string, vs ...string) {
	b := g.key(k, ggufArray)
	g.u32(b, ggufString)
	g.u64(b, uint64(len(vs)))
	for _, v := range vs {
		g.str(b, v)
	}
}

func (g *ggufBuilder) tensor(name string, dims ...uint64) {
	g.nTensor++
	g.str(&g.tensors, name)
	g.u32(&g.tensors, uint32(len(dims)))
	for _, d := range dims {
		g.u64(&g.tensors, d)
	}
	g.u32(&g.tensors, 0) // F32
	g.u64(&g.tensors, 0)
}

// bytes returns the file: header, KV, tensor infos, padding, data.
func (g *ggufBuilder) bytes(alignment int, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("GGUF")
	g.u32(&b, 3)
	g.u64(&b, g.nTensor)
	g.u64(&b, g.nKV)
	b.Write(g.kv.Bytes())
	b.Write(g.tensors.Bytes())
	for b.Len()%alignment != 0 {
		b.WriteByte(0)
	}
	b.Write(data)
	return b.Bytes()
}

// sampleGGUF is a small well-formed GGUF with every kind of value fixGGUF
// looks at.
func sampleGGUF() []byte {
	var g ggufBuilder
	g.string("general.architecture", "llama")
	g.uint32("general.alignment", 32)
	g.uint32("llama.attention.key_length", 16)
	g.uint32("llama.rope.dimension_count", 8)
	g.string("tokenizer.ggml.model", "gpt2")
	g.strings("tokenizer.ggml.tokens", "a", "b", "ab")
	b := g.key("nested", ggufArray) // [[1, 2], []] of uint8
	g.u32(b, ggufArray)
	g.u64(b, 2)
	g.u32(b, ggufUint8)
	g.u64(b, 2)
	b.Write([]byte{1, 2})
	g.u32(b, ggufUint8)
	g.u64(b, 0)
	g.tensor("token_embd.weight", 2, 3)
	return g.bytes(32, bytes.Repeat([]byte{7}, 24))
}

// hostile returns GGUF headers whose counts and lengths claim far more
// than the file holds.
func hostile() map[string][]byte {
	head := func(nTensors, nKV uint64, rest ...[]byte) []byte {
		var b bytes.Buffer
		b.WriteString("GGUF")
		binary.Write(&b, binary.LittleEndian, uint32(3))
		binary.Write(&b, binary.LittleEndian, nTensors)
		binary.Write(&b, binary.LittleEndian, nKV)
		for _, r := range rest {
			b.Write(r)
		}
		return b.Bytes()
	}
	le64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	nested := []byte{}
	for range 100 {
		nested = append(nested, le32(ggufArray)...)
		nested = append(nested, le64(1)...)
	}
	return map[string][]byte{
		"2^60 KV entries":      head(0, 1<<60),
		"2^60 tensors":         head(1<<60, 0),
		"1 GiB key":            head(0, 1, le64(1<<30), []byte("short")),
		"1 GiB string value":   head(0, 1, le64(1), []byte("k"), le32(ggufString), le64(1<<30), []byte("short")),
		"2^60 array elements":  head(0, 1, le64(1), []byte("k"), le32(ggufArray), le32(ggufUint64), le64(1<<60), le64(5)),
		"2^60 strings":         head(0, 1, le64(1), []byte("k"), le32(ggufArray), le32(ggufString), le64(1<<60), le64(1<<30)),
		"deeply nested arrays": head(0, 1, le64(1), []byte("k"), le32(ggufArray), nested),
		"2^32-1 dimensions":    head(1, 0, le64(1), []byte("t"), le32(1<<32-1), le64(1)),
		"alignment 2^31":       head(0, 1, le64(17), []byte("general.alignment"), le32(ggufUint32), le32(1<<31)),
		"alignment 3":          head(0, 1, le64(17), []byte("general.alignment"), le32(ggufUint32), le32(3)),
		"unknown value type":   head(0, 1, le64(1), []byte("k"), le32(99)),
		"version 1":            []byte("GGUF\x01\x00\x00\x00"),
		"magic only":           []byte("GGUF"),
		"empty":                nil,
	}
}

// TestReadGGUFHostile checks that headers claiming huge counts and lengths
// are refused without allocating what they claim (issue 10: a header
// claiming 2^60 entries must not allocate it).
func TestReadGGUFHostile(t *testing.T) {
	if h, err := readGGUFHeader(bytes.NewReader(sampleGGUF())); err != nil || h.nKV != 7 || h.nTensors != 1 || h.alignment != 32 {
		t.Fatalf("the sample does not read: %v", err)
	}
	for name, b := range hostile() {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := readGGUFHeader(bytes.NewReader(b))
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Error("accepted")
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
				t.Errorf("allocated %d bytes for a %d-byte file", n, len(b))
			}
		})
	}
}

// FuzzReadGGUF reads arbitrary bytes as a GGUF header; what it accepts
// must be consistent, and rewriting it with an extra KV entry (as fixGGUF
// does) must give a file that reads back with the same tensors and data.
func FuzzReadGGUF(f *testing.F) {
	f.Add(sampleGGUF())
	for _, b := range hostile() {
		f.Add(b)
	}
	// A real converter output, cut to its header and a little data.
	dir := f.TempDir()
	if out, err := os.Create(filepath.Join(dir, "m.gguf")); err == nil {
		if convertModel(os.DirFS(filepath.Join(fixtures, "bf16_untied")), out) == nil {
			if h, err := readGGUFHeader(out); err == nil {
				b := make([]byte, h.dataStart+64)
				if n, _ := out.ReadAt(b, 0); n > 0 {
					f.Add(b[:n])
				}
			}
		}
		out.Close()
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := readGGUFHeader(bytes.NewReader(b))
		if err != nil {
			return
		}
		if h.alignment <= 0 || h.alignment&(h.alignment-1) != 0 || h.dataStart%h.alignment != 0 ||
			h.kvStart != 24 || h.kvStart+int64(len(h.kv)+len(h.tensors)) > h.dataStart {
			t.Fatalf("inconsistent header: alignment %d, kv at %d (%d bytes), tensors %d bytes, data at %d",
				h.alignment, h.kvStart, len(h.kv), len(h.tensors), h.dataStart)
		}
		for k, off := range h.offsets {
			if off < h.kvStart || off-h.kvStart+4 > int64(len(h.kv)) {
				t.Fatalf("offset %d of %s outside the KV section", off, k)
			}
		}
		var out bytes.Buffer
		if err := writeWithKV(&out, bytes.NewReader(b), h, emptyStringArrayKV("tokenizer.ggml.merges")); err != nil {
			t.Fatal(err)
		}
		h2, err := readGGUFHeader(bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("rewritten file does not read back: %v", err)
		}
		if h2.nKV != h.nKV+1 || !h2.keys["tokenizer.ggml.merges"] || !bytes.Equal(h2.tensors, h.tensors) {
			t.Fatalf("rewritten file: %d keys (want %d), tensors equal %v", h2.nKV, h.nKV+1, bytes.Equal(h2.tensors, h.tensors))
		}
		var data []byte
		if h.dataStart < int64(len(b)) {
			data = b[h.dataStart:]
		}
		got, _ := io.ReadAll(io.NewSectionReader(bytes.NewReader(out.Bytes()), h2.dataStart, 1<<62))
		if !bytes.Equal(got, data) {
			t.Fatalf("tensor data changed: %d bytes, want %d", len(got), len(data))
		}
	})
}
