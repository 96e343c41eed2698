package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"

	"golang.org/x/sys/unix"
)

// MaxHeaderSize is the largest JSON header accepted when reading (100 MiB).
const MaxHeaderSize = 100 * 1024 * 1024

// Tensor is one tensor of an open File. Its bytes live in the file's
// read-only memory mapping and are valid until the File is closed.
type Tensor struct {
	// Name is the tensor name from the header.
	Name string
	// DType is the element type.
	DType DType
	// Shape is the tensor shape; [] for a scalar.
	Shape []int

	file  *File
	begin int // absolute byte offset in the mapping
	data  []byte
}

// Len returns the number of elements (the product of Shape; 1 for a scalar).
func (t *Tensor) Len() int { return len(t.data) / t.DType.Size() }

// Bytes returns the tensor's raw little-endian bytes, which alias the
// read-only file mapping: they must not be modified and are invalid after
// the File is closed.
func (t *Tensor) Bytes() []byte { return t.data }

// File returns the file holding the tensor.
func (t *Tensor) File() *File { return t.file }

// Read converts elements [off, off+len(dst)) to float32 into dst. It panics
// if the range is out of bounds.
func (t *Tensor) Read(off int, dst []float32) {
	n := t.Len()
	if off < 0 || off > n || len(dst) > n-off {
		panic(fmt.Sprintf("safetensors: read of elements [%d, %d) of tensor %s with %d elements", off, off+len(dst), t.Name, n))
	}
	s := t.DType.Size()
	ToFloat32(t.DType, t.data[off*s:(off+len(dst))*s], dst)
}

// Float32s returns the whole tensor converted to float32, in a new slice.
func (t *Tensor) Float32s() []float32 {
	v := make([]float32, t.Len())
	t.Read(0, v)
	return v
}

// pages returns the page-aligned part of the mapping covering the tensor.
func (t *Tensor) pages() []byte {
	if len(t.data) == 0 || t.file == nil || t.file.mmap == nil {
		return nil
	}
	ps := os.Getpagesize()
	lo := t.begin / ps * ps
	hi := t.begin + len(t.data)
	hi = (hi + ps - 1) / ps * ps
	hi = min(hi, len(t.file.mmap))
	return t.file.mmap[lo:hi]
}

// Release advises the kernel (MADV_DONTNEED) that the tensor's pages are not
// needed any more, so that resident memory stays bounded after the tensor
// has been consumed. The mapping is a read-only file mapping, so pages are
// read back from the file if touched again; pages shared with neighbouring
// tensors are released as well and are likewise re-read on demand.
func (t *Tensor) Release() {
	if p := t.pages(); p != nil {
		_ = unix.Madvise(p, unix.MADV_DONTNEED)
	}
}

// ReleaseRange is Release for the whole pages inside elements
// [off, off+n): a streaming reader calls it on the part of a tensor it has
// consumed, so resident memory stays bounded within a large tensor too.
func (t *Tensor) ReleaseRange(off, n int) {
	if n <= 0 || t.file == nil || t.file.mmap == nil {
		return
	}
	s := t.DType.Size()
	ps := os.Getpagesize()
	lo := t.begin + off*s
	hi := t.begin + min(off+n, t.Len())*s
	lo = (lo + ps - 1) / ps * ps
	hi = hi / ps * ps
	if hi > lo {
		_ = unix.Madvise(t.file.mmap[lo:hi], unix.MADV_DONTNEED)
	}
}

// Prefetch advises the kernel (MADV_WILLNEED) to read the tensor's pages
// ahead of use.
func (t *Tensor) Prefetch() {
	if p := t.pages(); p != nil {
		_ = unix.Madvise(p, unix.MADV_WILLNEED)
	}
}

// File is an open, memory-mapped safetensors file.
type File struct {
	// Path is the path the file was opened with.
	Path string

	mmap     []byte
	tensors  []*Tensor
	metadata map[string]string
}

type headerEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int   `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// OpenFile memory-maps the safetensors file at path read-only and parses
// and validates its header.
func OpenFile(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open safetensors file: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("read %s: file is %d bytes, shorter than the 8-byte header length", path, size)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("read %s: file size %d too large", path, size)
	}
	var lenBuf [8]byte
	if _, err := fd.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen > MaxHeaderSize {
		return nil, fmt.Errorf("read %s: header length %d exceeds the limit of %d bytes", path, hlen, MaxHeaderSize)
	}
	if hlen > uint64(size-8) {
		return nil, fmt.Errorf("read %s: header length %d exceeds the file size %d", path, hlen, size)
	}
	m, err := unix.Mmap(int(fd.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	f := &File{Path: path, mmap: m}
	if err := f.parseHeader(int(hlen)); err != nil {
		_ = unix.Munmap(m)
		return nil, err
	}
	return f, nil
}

func (f *File) parseHeader(hlen int) error {
	path := f.Path
	header := f.mmap[8 : 8+hlen]
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return fmt.Errorf("read %s: header is not valid JSON: %w", path, err)
	}
	dataStart := 8 + hlen
	dataSize := int64(len(f.mmap) - dataStart)
	f.metadata = map[string]string{}
	for name, msg := range raw {
		if name == "__metadata__" {
			if bytes.Equal(bytes.TrimSpace(msg), []byte("null")) {
				continue
			}
			if err := json.Unmarshal(msg, &f.metadata); err != nil {
				return fmt.Errorf("read %s: __metadata__ is not a map of strings: %w", path, err)
			}
			continue
		}
		var e headerEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return fmt.Errorf("read %s: tensor %s: invalid header entry: %w", path, name, err)
		}
		dt := DType(e.DType)
		if !dt.Valid() {
			return fmt.Errorf("unsupported dtype %s for tensor %s in %s", e.DType, name, path)
		}
		if len(e.DataOffsets) != 2 {
			return fmt.Errorf("read %s: tensor %s: data_offsets %v must have 2 entries", path, name, e.DataOffsets)
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin < 0 || begin > end {
			return fmt.Errorf("read %s: tensor %s: invalid data_offsets [%d, %d]: begin > end", path, name, begin, end)
		}
		if end > dataSize {
			return fmt.Errorf("read %s: tensor %s: data_offsets [%d, %d] out of range of the %d-byte data section", path, name, begin, end, dataSize)
		}
		n := int64(1)
		for _, d := range e.Shape {
			if d < 0 {
				return fmt.Errorf("read %s: tensor %s: negative dimension in shape %v", path, name, e.Shape)
			}
			if d != 0 && n > dataSize/int64(d) {
				// Larger than the data section: certainly a size mismatch.
				n = -1
				break
			}
			n *= int64(d)
		}
		want := n * int64(dt.Size())
		if n < 0 || want != end-begin {
			return fmt.Errorf("read %s: tensor %s: data_offsets [%d, %d] span %d bytes, but shape %v of %s needs %s bytes",
				path, name, begin, end, end-begin, e.Shape, dt, sizeString(n, dt))
		}
		shape := e.Shape
		if shape == nil {
			shape = []int{}
		}
		b := dataStart + int(begin)
		f.tensors = append(f.tensors, &Tensor{
			Name:  name,
			DType: dt,
			Shape: shape,
			file:  f,
			begin: b,
			data:  f.mmap[b : dataStart+int(end) : dataStart+int(end)],
		})
	}
	sort.Slice(f.tensors, func(i, j int) bool {
		a, b := f.tensors[i], f.tensors[j]
		if a.begin != b.begin {
			return a.begin < b.begin
		}
		if len(a.data) != len(b.data) {
			return len(a.data) < len(b.data)
		}
		return a.Name < b.Name
	})
	// Overlap check: sorted by begin, each non-empty tensor must start at or
	// after the furthest end seen so far.
	var prev *Tensor
	for _, t := range f.tensors {
		if len(t.data) == 0 {
			continue
		}
		if prev != nil && t.begin < prev.begin+len(prev.data) {
			return fmt.Errorf("read %s: tensors %s and %s overlap: data_offsets [%d, %d] and [%d, %d]",
				path, prev.Name, t.Name,
				prev.begin-dataStart, prev.begin+len(prev.data)-dataStart,
				t.begin-dataStart, t.begin+len(t.data)-dataStart)
		}
		if prev == nil || t.begin+len(t.data) > prev.begin+len(prev.data) {
			prev = t
		}
	}
	return nil
}

func sizeString(n int64, dt DType) string {
	if n < 0 {
		return "more than the data section's"
	}
	return fmt.Sprint(n * int64(dt.Size()))
}

// Tensors returns the file's tensors in data-offset order.
func (f *File) Tensors() []*Tensor { return f.tensors }

// Metadata returns the header's __metadata__ map (empty if absent).
func (f *File) Metadata() map[string]string { return f.metadata }

// Close unmaps the file. Tensors of the file must not be used afterwards.
func (f *File) Close() error {
	if f.mmap == nil {
		return nil
	}
	err := unix.Munmap(f.mmap)
	f.mmap = nil
	if err != nil {
		return fmt.Errorf("munmap %s: %w", f.Path, err)
	}
	return nil
}
