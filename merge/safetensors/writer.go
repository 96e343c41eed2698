package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
)

// Spec describes one tensor to be written.
type Spec struct {
	// Name is the tensor name.
	Name string
	// DType is the element type written to the file.
	DType DType
	// Shape is the tensor shape; [] (or nil) for a scalar.
	Shape []int
}

// writerEntry is the planned location of one tensor.
type writerEntry struct {
	spec    Spec
	shard   int
	begin   int64 // offset within the shard's data section
	size    int64 // bytes
	written atomic.Int64
}

type writerShard struct {
	name      string
	path      string
	file      *os.File
	dataStart int64
	dataSize  int64
}

// ConvChunk is the number of elements a writer converts and writes at a
// time (WriteFloat32 here, the GGUF writer's): the converted bytes (128
// KiB of bfloat16) are still in the core's cache when the kernel copies
// them, and a write this size fills page-cache folios of at most this size
// (larger writes get larger folios, whose allocation and first touch cost
// more: 3-7 × the copy time of the same bytes measured in a 2-core VM).
const ConvChunk = 64 * 1024

// Writer writes a checkpoint whose layout is fixed by Create: tensors may be
// written in any order, concurrently and in chunks.
type Writer struct {
	dir     string
	shards  []*writerShard
	entries []*writerEntry
	byName  map[string]*writerEntry
	closed  atomic.Bool
	bufs    sync.Pool

	wb *Writeback // paces the shards' writeback; nil until Create ends
}

// Create lays out specs, in the given order, into shards of at most
// maxShardBytes data bytes each (a tensor starts a new shard when it would
// push a non-empty shard past the limit; maxShardBytes <= 0 means one
// shard), creates the shard files in dir (which must exist) with their
// headers written ("__metadata__": {"format": "pt"}) and their data areas
// sized, and returns a Writer.
//
// With one shard the file is model.safetensors and no index is written.
// With N > 1 shards they are model-0000i-of-0000N.safetensors and Close
// writes model.safetensors.index.json.
//
// Every writebackBytes written to a shard, a goroutine of the Writer asks
// the kernel to start writing the shard's dirty pages (Writeback), so that
// the disk works while the caller computes; Close or Abort ends it, and
// one of them must be called.
func Create(dir string, specs []Spec, maxShardBytes int64) (*Writer, error) {
	return create(dir, specs, maxShardBytes, StartWriteback)
}

// create is Create with the function that starts a shard's writeback.
func create(dir string, specs []Spec, maxShardBytes int64, writeback func(*os.File)) (*Writer, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("create checkpoint in %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("create checkpoint in %s: not a directory", dir)
	}
	w := &Writer{dir: dir, byName: make(map[string]*writerEntry, len(specs))}
	w.bufs.New = func() any { b := make([]byte, 0, ConvChunk*4); return &b }

	// Plan the layout.
	var cur int64
	shard := 0
	for i, s := range specs {
		if s.Name == "" {
			return nil, fmt.Errorf("create checkpoint in %s: tensor %d has an empty name", dir, i)
		}
		if s.Name == "__metadata__" {
			return nil, fmt.Errorf("create checkpoint in %s: reserved tensor name %s", dir, s.Name)
		}
		if _, dup := w.byName[s.Name]; dup {
			return nil, fmt.Errorf("create checkpoint in %s: duplicate tensor %s", dir, s.Name)
		}
		if !s.DType.Valid() {
			return nil, fmt.Errorf("create checkpoint in %s: unsupported dtype %s for tensor %s", dir, s.DType, s.Name)
		}
		n := int64(1)
		for _, d := range s.Shape {
			if d < 0 {
				return nil, fmt.Errorf("create checkpoint in %s: tensor %s: negative dimension in shape %v", dir, s.Name, s.Shape)
			}
			n *= int64(d)
		}
		size := n * int64(s.DType.Size())
		if maxShardBytes > 0 && cur > 0 && cur+size > maxShardBytes {
			shard++
			cur = 0
		}
		e := &writerEntry{spec: s, shard: shard, begin: cur, size: size}
		if e.spec.Shape == nil {
			e.spec.Shape = []int{}
		}
		cur += size
		w.entries = append(w.entries, e)
		w.byName[s.Name] = e
	}
	nShards := shard + 1
	headers := make([][]byte, nShards)
	for i := range headers {
		headers[i] = []byte(`{"__metadata__":{"format":"pt"}`)
	}
	for _, e := range w.entries {
		h := headers[e.shard]
		h = append(h, ',')
		h = appendJSONString(h, e.spec.Name)
		h = append(h, `:{"dtype":`...)
		h = appendJSONString(h, string(e.spec.DType))
		h = append(h, `,"shape":[`...)
		for j, d := range e.spec.Shape {
			if j > 0 {
				h = append(h, ',')
			}
			h = strconv.AppendInt(h, int64(d), 10)
		}
		h = append(h, `],"data_offsets":[`...)
		h = strconv.AppendInt(h, e.begin, 10)
		h = append(h, ',')
		h = strconv.AppendInt(h, e.begin+e.size, 10)
		h = append(h, "]}"...)
		headers[e.shard] = h
	}
	sizes := make([]int64, nShards)
	for _, e := range w.entries {
		sizes[e.shard] = e.begin + e.size
	}

	for i := range nShards {
		name := SingleFile
		if nShards > 1 {
			name = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, nShards)
		}
		h := append(headers[i], '}')
		// Pad with spaces so the data section starts at a multiple of 8.
		for (8+len(h))%8 != 0 {
			h = append(h, ' ')
		}
		sh := &writerShard{
			name:      name,
			path:      filepath.Join(dir, name),
			dataStart: 8 + int64(len(h)),
			dataSize:  sizes[i],
		}
		f, err := os.OpenFile(sh.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			w.Abort()
			return nil, fmt.Errorf("create %s: %w", sh.path, err)
		}
		sh.file = f
		w.shards = append(w.shards, sh)
		buf := make([]byte, 8, 8+len(h))
		binary.LittleEndian.PutUint64(buf, uint64(len(h)))
		buf = append(buf, h...)
		if _, err := f.WriteAt(buf, 0); err != nil {
			w.Abort()
			return nil, fmt.Errorf("write header of %s: %w", sh.path, err)
		}
		if err := f.Truncate(sh.dataStart + sh.dataSize); err != nil {
			w.Abort()
			return nil, fmt.Errorf("size %s: %w", sh.path, err)
		}
	}
	files := make([]*os.File, len(w.shards))
	for i, sh := range w.shards {
		files[i] = sh.file
	}
	w.wb = newWriteback(files, writeback)
	return w, nil
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

func (w *Writer) entry(name string) (*writerEntry, error) {
	if w.closed.Load() {
		return nil, fmt.Errorf("write tensor %s: writer is closed", name)
	}
	e, ok := w.byName[name]
	if !ok {
		return nil, fmt.Errorf("write tensor %s: not in the planned layout", name)
	}
	return e, nil
}

// WriteFloat32 converts src to the tensor's dtype and writes it as elements
// [off, off+len(src)) of the named tensor. It is safe for concurrent use on
// different ranges.
func (w *Writer) WriteFloat32(name string, off int, src []float32) error {
	e, err := w.entry(name)
	if err != nil {
		return err
	}
	es := e.spec.DType.Size()
	n := e.size / int64(es)
	if off < 0 || int64(off) > n || int64(len(src)) > n-int64(off) {
		return fmt.Errorf("write tensor %s: elements [%d, %d) out of range of %d elements", name, off, off+len(src), n)
	}
	bp := w.bufs.Get().(*[]byte)
	defer w.bufs.Put(bp)
	for len(src) > 0 {
		k := min(len(src), ConvChunk)
		buf := (*bp)[:k*es]
		FromFloat32(e.spec.DType, src[:k], buf)
		if err := w.writeAt(e, int64(off)*int64(es), buf); err != nil {
			return err
		}
		src = src[k:]
		off += k
	}
	return nil
}

// WriteRaw writes raw little-endian bytes, already in the tensor's dtype, at
// byte offset off within the named tensor. It is safe for concurrent use on
// different ranges.
func (w *Writer) WriteRaw(name string, off int, src []byte) error {
	e, err := w.entry(name)
	if err != nil {
		return err
	}
	if off < 0 || int64(off) > e.size || int64(len(src)) > e.size-int64(off) {
		return fmt.Errorf("write tensor %s: bytes [%d, %d) out of range of %d bytes", name, off, off+len(src), e.size)
	}
	return w.writeAt(e, int64(off), src)
}

func (w *Writer) writeAt(e *writerEntry, off int64, b []byte) error {
	sh := w.shards[e.shard]
	if _, err := w.wb.WriteAt(e.shard, b, sh.dataStart+e.begin+off); err != nil {
		return fmt.Errorf("write tensor %s to %s: %w", e.spec.Name, sh.path, err)
	}
	e.written.Add(int64(len(b)))
	return nil
}

// Close checks that every byte of every tensor was written exactly once (by
// byte count), writes the index when there are several shards, and syncs
// and closes the files. On an incomplete tensor the files are closed and an
// error naming the first such tensor (in layout order) is returned.
func (w *Writer) Close() error {
	if w.closed.Swap(true) {
		return fmt.Errorf("close checkpoint in %s: already closed", w.dir)
	}
	for _, e := range w.entries {
		if got := e.written.Load(); got != e.size {
			w.closeFiles()
			what := "incomplete"
			if got > e.size {
				what = "written more than once"
			}
			return fmt.Errorf("close checkpoint in %s: tensor %s %s: %d of %d bytes written",
				w.dir, e.spec.Name, what, got, e.size)
		}
	}
	w.stopWriteback()
	var errs []error
	if len(w.shards) > 1 {
		if err := w.writeIndex(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, sh := range w.shards {
		if err := sh.file.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("sync %s: %w", sh.path, err))
		}
		if err := sh.file.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", sh.path, err))
		}
	}
	return errors.Join(errs...)
}

func (w *Writer) writeIndex() error {
	var total int64
	wm := make(map[string]string, len(w.entries))
	for _, e := range w.entries {
		total += e.size
		wm[e.spec.Name] = w.shards[e.shard].name
	}
	idx := struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}{map[string]int64{"total_size": total}, wm}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(idx); err != nil {
		return fmt.Errorf("encode index: %w", err)
	}
	p := filepath.Join(w.dir, IndexFile)
	f, err := os.Create(p)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", p, err)
	}
	return nil
}

func (w *Writer) closeFiles() {
	w.stopWriteback()
	for _, sh := range w.shards {
		if sh.file != nil {
			_ = sh.file.Close()
		}
	}
}

// Abort closes the files without any check; the caller removes them (for
// example by removing the temporary directory).
func (w *Writer) Abort() {
	w.closed.Store(true)
	w.closeFiles()
}

// Files returns the paths of the files the writer produces: the shards in
// order, then, when there are several shards, the index file (written by
// Close).
func (w *Writer) Files() []string {
	out := make([]string, 0, len(w.shards)+1)
	for _, sh := range w.shards {
		out = append(out, sh.path)
	}
	if len(w.shards) > 1 {
		out = append(out, filepath.Join(w.dir, IndexFile))
	}
	return out
}

// stopWriteback ends the writeback goroutine, if Create started it.
func (w *Writer) stopWriteback() {
	if w.wb != nil {
		w.wb.Stop()
	}
}
