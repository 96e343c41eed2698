// Package gguf writes a merged model straight into a GGUF file that Ollama
// serves, without the safetensors round trip through Ollama's converter.
//
// The file is what github.com/ollama/ollama's converter (package convert)
// writes for the same merged safetensors checkpoint: the KV metadata, the
// tokenizer and the tensor names, order and storage types come from the
// converter itself (convert.LoadModelMetadata, the ModelConverter's KV,
// Replacements and Tensors), and the header is written by its encoder
// (ggml.WriteGGUF). Only the tensor data path is the engine's own: the merge
// workers hand each chunk of merged float32 values to WriteFloat32, which
// rounds it to the merge's dtype, applies the converter's per-tensor
// transformation (the llama Q/K row permutation, gemma's norm offset),
// encodes it in the tensor's GGUF type and writes it at its place in the
// file. Every tensor byte is thus written once, in parallel, in any order.
//
// The converter's transformations are not copied: Create asks each
// repacker the converter installs what it does, on a probe of one value per
// row, and classifies the answer as a row permutation or a constant offset
// (anything else is ErrUnsupported, and the caller falls back to the
// converter).
//
// Two amendments make the file load in Ollama's llama.cpp runner where the
// converter's (v0.17.4) does not; they match what the evaluator applies to
// the converter's output (see Amend).
package gguf

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ollama/ollama/convert"
	"github.com/ollama/ollama/fs/ggml"
	"golang.org/x/sys/unix"

	"github.com/mergetune/mergetune/merge/safetensors"
)

// ErrUnsupported marks a model the direct writer cannot write the way
// Ollama's converter would (an architecture whose converter rewrites
// tensor data in a way Create does not recognise); the caller may fall
// back to safetensors and the converter.
var ErrUnsupported = errors.New("not supported by the direct GGUF writer")

// Types are the accepted values of Options.Type, "" first.
func Types() []string { return []string{"", "f32", "f16", "bf16", "q8_0"} }

// Options tune Create.
type Options struct {
	// Type is the storage type of the tensors that Ollama's converter
	// stores in 16 bits (the weight matrices): "" keeps the converter's
	// choice (bf16 for a bf16 merge, f16 otherwise), or "f32", "f16",
	// "bf16", "q8_0". Vectors (norms, biases) stay float32 as the
	// converter writes them.
	Type string
	// NoHash leaves the file unhashed (Digest stays empty): for a file
	// whose digest its reader computes (an upload while it is written,
	// Follow, whose server hashes what it receives).
	NoHash bool
}

// architectures are the GGUF architectures whose converter output the
// writer reproduces byte for byte (checked by the equivalence tests).
func architectures() []string {
	return []string{"llama", "qwen2", "gemma", "gemma2", "phi3"}
}

// transform is what the converter does to a tensor's values before
// encoding them.
type transform struct {
	perm []int32 // output row i holds input row perm[i]; nil: none
	inv  []int32 // inverse of perm
	add  float32 // added to every value (gemma's norms)
	adds bool
}

// entry is one tensor of the file.
type entry struct {
	name  string // the merge's (Hugging Face) name
	gguf  string
	dtype safetensors.DType // the merge's output dtype
	kind  ggml.TensorType
	shape []int
	elems int64
	cols  int // elements per row (the last dimension)
	off   int64
	tr    transform
	// quantized: written as Ollama's quantizer writes the converter's
	// tensor of dtype from (q8_0, or f16 where its rows are not whole
	// blocks): its values are rounded to from first.
	quantized bool
	from      safetensors.DType
	written   atomic.Int64
}

// Writer writes the tensor data of a GGUF file laid out by Create.
type Writer struct {
	path   string
	f      *os.File
	byName map[string]*entry
	order  []*entry
	arch   string
	size   int64
	closed atomic.Bool
	bufs   sync.Pool
	prefix *prefix                // how much of the file is written
	hash   *frontierHasher        // nil: not hashed
	wb     *safetensors.Writeback // writes f (one at a time) and paces its writeback
	digest string
}

// Arch returns the file's general.architecture.
func (w *Writer) Arch() string { return w.arch }

// Path returns the file's path.
func (w *Writer) Path() string { return w.path }

// Size returns the file's size in bytes.
func (w *Writer) Size() int64 { return w.size }

// Create lays out a GGUF file at path for the merged tensors specs (their
// Hugging Face names, merge output dtypes and shapes), with the metadata
// Ollama's converter derives from meta (config.json and the tokenizer
// files of the merged model), writes its header and the converter's own
// small tensors (rope factors), reserves the space of the rest, and returns
// a Writer for the merged data. On error the file is removed.
func Create(path string, meta fs.FS, specs []safetensors.Spec, opt Options) (w *Writer, err error) {
	if !slices.Contains(Types(), opt.Type) {
		return nil, fmt.Errorf("gguf: unknown type %q (want one of f32, f16, bf16, q8_0)", opt.Type)
	}
	layout, err := plan(meta, specs, opt)
	if err != nil {
		return nil, err
	}
	f, err := createFile(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	if err := ggml.WriteGGUF(f, layout.kv, layout.tensors); err != nil {
		return nil, fmt.Errorf("gguf: write header of %s: %w", path, err)
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("gguf: %s: %w", path, err)
	}
	align := int64(layout.kv.Uint("general.alignment", 32))
	dataStart := pos + (align-pos%align)%align
	w = &Writer{path: path, f: f, byName: map[string]*entry{}, arch: layout.kv.Architecture()}
	for _, t := range layout.tensors {
		if e, ok := t.WriterTo.(*tensor); ok {
			e.entry.off = dataStart + int64(t.Offset)
			w.byName[e.entry.name] = e.entry
			w.order = append(w.order, e.entry)
		}
		w.size = max(w.size, dataStart+int64(t.Offset)+int64(t.Size()))
	}
	if err := reserve(f, w.size); err != nil {
		return nil, fmt.Errorf("gguf: reserve %d bytes for %s: %w", w.size, path, err)
	}
	w.bufs.New = func() any { return new(buffers) }
	w.prefix = newPrefix(w.size, w.holes())
	if !opt.NoHash {
		w.hash = newFrontierHasher(f, w.size, w.prefix)
	}
	w.wb = safetensors.NewWriteback([]*os.File{f})
	return w, nil
}

// holes are the byte ranges of the merged tensors' data, in file order:
// the rest of the file (header, padding, the converter's own tensors) is
// written by Create.
func (w *Writer) holes() [][2]int64 {
	var hs [][2]int64
	for _, e := range w.order {
		size, err := rowBytes(e.kind, int(e.elems))
		if err != nil || size == 0 {
			continue // Close reports the type
		}
		hs = append(hs, [2]int64{e.off, e.off + size})
	}
	slices.SortFunc(hs, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	return hs
}

// Offset returns where the merged tensor name's data starts in the file
// (false for a name the file does not hold). The merge writes tensors in
// this order, so that the hash follows the writes closely.
func (w *Writer) Offset(name string) (int64, bool) {
	e, ok := w.byName[name]
	if !ok {
		return 0, false
	}
	return e.off, true
}

// Digest returns the "sha256:<hex>" digest of the file, computed while it
// was written; it is set by a successful Close (unless Options.NoHash).
func (w *Writer) Digest() string { return w.digest }

// createFile creates the new file path.
func createFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("gguf: create %s: %w", path, err)
	}
	return f, nil
}

// reserve allocates the file's blocks up to size, so that a full disk is
// an error now rather than half-way through the merge; where the file
// system cannot preallocate, the file is only extended.
func reserve(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EFBIG) || errors.Is(err, unix.EDQUOT) {
		return err
	}
	return f.Truncate(size)
}

// layout is a planned file.
type layout struct {
	kv      convert.KV
	tensors []*ggml.Tensor
}

// plan runs the converter's metadata path on meta and maps specs to GGUF
// tensors.
func plan(meta fs.FS, specs []safetensors.Spec, opt Options) (l *layout, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gguf: Ollama's converter panicked: %v", r)
		}
	}()
	mkv, tok, err := convert.LoadModelMetadata(meta)
	if err != nil {
		if strings.Contains(err.Error(), "unsupported architecture") {
			return nil, fmt.Errorf("gguf: %w (%w)", err, ErrUnsupported)
		}
		return nil, fmt.Errorf("gguf: read the model's metadata: %w", err)
	}
	conv, ok := mkv.(convert.ModelConverter)
	if !ok {
		return nil, fmt.Errorf("gguf: %T is not a model converter: %w", mkv, ErrUnsupported)
	}
	kv := conv.KV(tok)
	arch := kv.Architecture()
	if !slices.Contains(architectures(), arch) {
		return nil, fmt.Errorf("gguf: architecture %s: %w", arch, ErrUnsupported)
	}
	Amend(kv)
	if opt.Type == "q8_0" {
		kv["general.file_type"] = ggml.FileTypeQ8_0
	}
	rep := strings.NewReplacer(conv.Replacements()...)
	sorted := slices.Clone(specs)
	slices.SortFunc(sorted, func(a, b safetensors.Spec) int { return cmp.Compare(a.Name, b.Name) })
	ins := make([]convert.Tensor, len(sorted))
	mine := map[*tensor]bool{}
	seen := map[string]bool{}
	for i, s := range sorted {
		if len(s.Shape) == 0 {
			return nil, fmt.Errorf("gguf: tensor %s is a scalar: %w", s.Name, ErrUnsupported)
		}
		name := rep.Replace(s.Name)
		if seen[name] {
			return nil, fmt.Errorf("gguf: two tensors map to %s", name)
		}
		seen[name] = true
		e := &entry{name: s.Name, gguf: name, dtype: s.DType, shape: slices.Clone(s.Shape), elems: 1}
		for _, d := range s.Shape {
			e.elems *= int64(d)
		}
		e.cols = s.Shape[len(s.Shape)-1]
		t := &tensor{entry: e}
		ins[i] = t
		mine[t] = true
	}
	out := conv.Tensors(ins)
	used := map[*tensor]bool{}
	for _, t := range out {
		if mt, ok := t.WriterTo.(*tensor); ok {
			if !mine[mt] || used[mt] || t.Name != mt.entry.gguf {
				return nil, fmt.Errorf("gguf: the %s converter renames or reuses tensor %s: %w", arch, mt.entry.gguf, ErrUnsupported)
			}
			used[mt] = true
			kind, err := storage(mt, opt.Type)
			if err != nil {
				return nil, err
			}
			t.Kind = uint32(kind)
			mt.entry.kind = kind
			if opt.Type == "q8_0" && kind != ggml.TensorType(mt.Kind()) {
				mt.entry.quantized = true
				mt.entry.from = safetensors.F16
				if ggml.TensorType(mt.Kind()) == ggml.TensorTypeBF16 {
					mt.entry.from = safetensors.BF16
				}
			}
			if mt.entry.tr, err = classify(mt); err != nil {
				return nil, err
			}
		}
		// The converter writes dimensions innermost first.
		t.Shape = slices.Clone(t.Shape)
		slices.Reverse(t.Shape)
	}
	if len(used) != len(ins) {
		return nil, fmt.Errorf("gguf: the %s converter drops or wraps tensors: %w", arch, ErrUnsupported)
	}
	if opt.Type == "q8_0" {
		// As the server's quantizer writes it: it copies the KV its
		// decoder returns, which counts the parameters.
		var n uint64
		for _, t := range out {
			n += t.Elements()
		}
		kv["general.parameter_count"] = n
	}
	return &layout{kv: kv, tensors: out}, nil
}
