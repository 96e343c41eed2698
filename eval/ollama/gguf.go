package ollama

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// GGUF value types (gguf.h).
const (
	ggufUint8 = iota
	ggufInt8
	ggufUint16
	ggufInt16
	ggufUint32
	ggufInt32
	ggufFloat32
	ggufBool
	ggufString
	ggufArray
	ggufUint64
	ggufInt64
	ggufFloat64
)

// ggufHeader is what fixGGUF needs from a GGUF file's metadata.
type ggufHeader struct {
	version   uint32
	nTensors  uint64
	nKV       uint64
	kv        []byte // the raw KV section
	kvStart   int64  // its file offset
	tensors   []byte // the raw tensor-info section
	dataStart int64  // offset of the aligned tensor data
	alignment int64
	strings   map[string]string // string-valued keys
	uint32s   map[string]uint32 // uint32-valued keys
	offsets   map[string]int64  // file offsets of the uint32 values
	keys      map[string]bool
}

// ggufReader reads GGUF little-endian values and counts bytes.
type ggufReader struct {
	r   *bufio.Reader
	n   int64
	rec *bytes.Buffer // when non-nil, a copy of what is read
	err error
}

func (g *ggufReader) read(p []byte) {
	if g.err != nil {
		return
	}
	n, err := io.ReadFull(g.r, p)
	g.n += int64(n)
	if g.rec != nil {
		g.rec.Write(p[:n])
	}
	if err != nil {
		g.err = err
	}
}

func (g *ggufReader) u32() uint32 {
	var b [4]byte
	g.read(b[:])
	return binary.LittleEndian.Uint32(b[:])
}

func (g *ggufReader) u64() uint64 {
	var b [8]byte
	g.read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// Bounds against corrupt files.
const (
	// maxGGUFString bounds a string's length.
	maxGGUFString = 1 << 30
	// maxGGUFDepth bounds the nesting of arrays of arrays.
	maxGGUFDepth = 8
	// maxGGUFAlignment bounds general.alignment (a power of two).
	maxGGUFAlignment = 1 << 16
	// ggufChunk is the most a string read allocates before its bytes
	// have arrived: a length field is not trusted with an allocation.
	ggufChunk = 1 << 16
)

func (g *ggufReader) str() string {
	n := g.u64()
	if g.err != nil {
		return ""
	}
	if n > maxGGUFString {
		g.err = fmt.Errorf("string of %d bytes", n)
		return ""
	}
	if n <= ggufChunk {
		b := make([]byte, n)
		g.read(b)
		return string(b)
	}
	// A long string grows with the bytes actually read, so a length
	// field larger than the file allocates no more than the file holds.
	var sb strings.Builder
	chunk := make([]byte, ggufChunk)
	for left := n; left > 0 && g.err == nil; {
		c := chunk[:min(left, ggufChunk)]
		g.read(c)
		if g.err == nil {
			sb.Write(c)
		}
		left -= uint64(len(c))
	}
	return sb.String()
}

// value reads a value of type t; it returns the value of a string or of
// an unsigned integer (8, 32 or 64 bits).
func (g *ggufReader) value(t uint32) (string, uint64) {
	return g.valueAt(t, 0)
}

// valueAt is value inside depth enclosing arrays.
func (g *ggufReader) valueAt(t uint32, depth int) (string, uint64) {
	switch t {
	case ggufUint8, ggufInt8, ggufBool:
		var b [1]byte
		g.read(b[:])
		return "", uint64(b[0])
	case ggufUint16, ggufInt16:
		var b [2]byte
		g.read(b[:])
		return "", 0
	case ggufUint32, ggufInt32, ggufFloat32:
		return "", uint64(g.u32())
	case ggufUint64, ggufInt64, ggufFloat64:
		return "", g.u64()
	case ggufString:
		return g.str(), 0
	case ggufArray:
		if depth >= maxGGUFDepth {
			if g.err == nil {
				g.err = fmt.Errorf("arrays nested more than %d deep", maxGGUFDepth)
			}
			return "", 0
		}
		et := g.u32()
		n := g.u64()
		// Every element takes at least one byte, so a count larger than
		// the file ends at its end.
		for i := uint64(0); i < n && g.err == nil; i++ {
			g.valueAt(et, depth+1)
		}
		return "", 0
	default:
		if g.err == nil {
			g.err = fmt.Errorf("unknown value type %d", t)
		}
		return "", 0
	}
}

// readGGUFHeader parses the metadata of the GGUF file f.
func readGGUFHeader(f io.ReaderAt) (*ggufHeader, error) {
	g := &ggufReader{r: bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<62), 1<<20)}
	var magic [4]byte
	g.read(magic[:])
	if g.err == nil && string(magic[:]) != "GGUF" {
		return nil, errors.New("not a GGUF file")
	}
	h := &ggufHeader{alignment: 32, strings: map[string]string{}, uint32s: map[string]uint32{},
		offsets: map[string]int64{}, keys: map[string]bool{}}
	h.version = g.u32()
	if g.err == nil && h.version < 2 {
		return nil, fmt.Errorf("GGUF version %d is not supported", h.version)
	}
	h.nTensors = g.u64()
	h.nKV = g.u64()
	var kv bytes.Buffer
	g.rec = &kv
	h.kvStart = g.n
	for i := uint64(0); i < h.nKV && g.err == nil; i++ {
		key := g.str()
		t := g.u32()
		at := g.n
		s, u := g.value(t)
		h.keys[key] = true
		switch t {
		case ggufString:
			h.strings[key] = s
		case ggufUint32:
			h.uint32s[key], h.offsets[key] = uint32(u), at
		}
		if key == "general.alignment" && t == ggufUint32 && g.err == nil {
			if u == 0 || u > maxGGUFAlignment || u&(u-1) != 0 {
				return nil, fmt.Errorf("read GGUF header: general.alignment %d is not a power of two up to %d", u, maxGGUFAlignment)
			}
			h.alignment = int64(u)
		}
	}
	h.kv = kv.Bytes()
	var ts bytes.Buffer
	g.rec = &ts
	for i := uint64(0); i < h.nTensors && g.err == nil; i++ {
		g.str()
		nd := g.u32()
		for j := uint32(0); j < nd && g.err == nil; j++ {
			g.u64()
		}
		g.u32() // type
		g.u64() // offset
	}
	if g.err != nil {
		return nil, fmt.Errorf("read GGUF header: %w", g.err)
	}
	h.tensors = ts.Bytes()
	h.dataStart = alignUp(g.n, h.alignment)
	return h, nil
}

func alignUp(n, a int64) int64 { return (n + a - 1) / a * a }

// fixGGUF amends the GGUF in f where Ollama's converter (v0.17.4) writes a
// file that the llama.cpp runner cannot load:
//
//   - a llama model whose config sets head_dim to something other than
//     hidden_size/num_attention_heads gets llama.rope.dimension_count =
//     head_dim instead of hidden_size/num_attention_heads (llama.cpp
//     refuses the file: "invalid n_rot", ollama/ollama#8598); this is
//     patched in place;
//   - a byte-level BPE ("gpt2") tokenizer without merges gets an empty
//     tokenizer.ggml.merges array (the converter omits the key when
//     tokenizer.json has no merges, and llama.cpp then fails with "cannot
//     find tokenizer merges in model file"); this needs a new file.
//
// It returns f itself when no new file was needed, else a new temporary
// file that the caller must close and remove.
func fixGGUF(f *os.File) (*os.File, error) {
	h, err := readGGUFHeader(f)
	if err != nil {
		return nil, err
	}
	if arch := h.strings["general.architecture"]; arch == "llama" {
		kl, ok := h.uint32s[arch+".attention.key_length"]
		rd, ok2 := h.uint32s[arch+".rope.dimension_count"]
		if ok && ok2 && kl != rd {
			off := h.offsets[arch+".rope.dimension_count"]
			binary.LittleEndian.PutUint32(h.kv[off-h.kvStart:], kl)
			if _, err := f.WriteAt(h.kv[off-h.kvStart:off-h.kvStart+4], off); err != nil {
				return nil, fmt.Errorf("patch rope.dimension_count: %w", err)
			}
		}
	}
	if h.strings["tokenizer.ggml.model"] != "gpt2" || h.keys["tokenizer.ggml.merges"] {
		return f, nil
	}
	out, err := os.CreateTemp("", "mergetune-*.gguf")
	if err != nil {
		return nil, err
	}
	if err := writeWithKV(out, f, h, emptyStringArrayKV("tokenizer.ggml.merges")); err != nil {
		out.Close()
		os.Remove(out.Name())
		return nil, err
	}
	return out, nil
}

// emptyStringArrayKV encodes a KV entry holding an empty string array.
func emptyStringArrayKV(key string) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(key)))
	b.WriteString(key)
	binary.Write(&b, binary.LittleEndian, uint32(ggufArray))
	binary.Write(&b, binary.LittleEndian, uint32(ggufString))
	binary.Write(&b, binary.LittleEndian, uint64(0))
	return b.Bytes()
}

// writeWithKV writes to out the GGUF of src (header h) with the KV entry
// extra added.
func writeWithKV(out io.Writer, src io.ReaderAt, h *ggufHeader, extra []byte) error {
	w := bufio.NewWriterSize(out, 1<<20)
	var hdr [24]byte
	copy(hdr[:4], "GGUF")
	binary.LittleEndian.PutUint32(hdr[4:], h.version)
	binary.LittleEndian.PutUint64(hdr[8:], h.nTensors)
	binary.LittleEndian.PutUint64(hdr[16:], h.nKV+1)
	w.Write(hdr[:])
	w.Write(h.kv)
	w.Write(extra)
	w.Write(h.tensors)
	n := int64(len(hdr) + len(h.kv) + len(extra) + len(h.tensors))
	w.Write(make([]byte, alignUp(n, h.alignment)-n))
	if _, err := io.Copy(w, io.NewSectionReader(src, h.dataStart, 1<<62)); err != nil {
		return err
	}
	return w.Flush()
}
