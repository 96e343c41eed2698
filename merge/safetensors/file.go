package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"sync/atomic"

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
// the File is closed. Reading them faults if the file was truncated; read
// them inside File.Guard to get an error instead.
func (t *Tensor) Bytes() []byte { return t.data }

// File returns the file holding the tensor.
func (t *Tensor) File() *File { return t.file }

// Read converts elements [off, off+len(dst)) to float32 into dst, read
// from the file with pread (in pieces shared by concurrent readers, see
// pieces), not through the mapping. It panics if the range is out of
// bounds. If the file is short of the bytes (it was truncated while
// open), dst is zeroed and the error is recorded: the File's Err returns
// it, and a reader must check it before using what it read.
func (t *Tensor) Read(off int, dst []float32) {
	n := t.Len()
	if off < 0 || off > n || len(dst) > n-off {
		panic(fmt.Sprintf("safetensors: read of elements [%d, %d) of tensor %s with %d elements", off, off+len(dst), t.Name, n))
	}
	s := t.DType.Size()
	f := t.file
	// Bytes [lo, hi) of the tensor, a piece at a time (see pieces).
	lo, hi := off*s, (off+len(dst))*s
	for at := lo; at < hi; {
		start := at / readPiece * readPiece
		p, err := f.pieces.get(f.fd, f.Path, int64(t.begin+start), min(readPiece, len(t.data)-start))
		if err != nil {
			f.fault.CompareAndSwap(nil, &err)
			clear(dst)
			return
		}
		end := min(hi, start+len(p.raw))
		ToFloat32(t.DType, p.raw[at-start:end-start], dst[(at-lo)/s:(end-lo)/s])
		f.pieces.put(p)
		at = end
	}
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

// Release gives back the pieces the tensor's readers kept (see pieces),
// and advises the kernel (MADV_DONTNEED) that its mapped pages (touched
// through Bytes) are not needed any more, so that resident memory stays
// bounded after the tensor has been consumed. The mapping is a read-only
// file mapping, so pages are read back from the file if touched again;
// pages shared with neighbouring tensors are released as well and are
// likewise re-read on demand.
func (t *Tensor) Release() {
	if t.file != nil && t.file.pieces != nil {
		t.file.pieces.drop(int64(t.begin), int64(t.begin+len(t.data)))
	}
	if p := t.pages(); p != nil {
		_ = unix.Madvise(p, unix.MADV_DONTNEED)
	}
}

// Prefetch advises the kernel (MADV_WILLNEED) to read the tensor's pages
// ahead of use.
func (t *Tensor) Prefetch() {
	if p := t.pages(); p != nil {
		_ = unix.Madvise(p, unix.MADV_WILLNEED)
	}
}

// File is an open safetensors file: read with pread by Tensor.Read, and
// memory-mapped for Tensor.Bytes.
type File struct {
	// Path is the path the file was opened with.
	Path string

	mmap     []byte
	fd       *os.File // read with pread by Tensor.Read
	pieces   *pieces  // Tensor.Read's pieces of fd
	tensors  []*Tensor
	metadata map[string]string
	fault    atomic.Pointer[error] // the first fault on the mapping
}

type headerEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int   `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// OpenFile opens the safetensors file at path, maps it read-only, and
// parses and validates its header. Only a regular file is opened (a FIFO
// or a device named *.safetensors is refused instead of blocking). A file
// truncated while in use does not crash a reader: Tensor.Read records the
// short read (Guard, a fault on the mapping), and Err reports it.
func OpenFile(path string) (*File, error) {
	fd, size, err := OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("open safetensors file: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			fd.Close()
		}
	}()
	var lenBuf [8]byte
	if size >= 8 {
		if _, err := fd.ReadAt(lenBuf[:], 0); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
	hlen, err := headerLen(path, lenBuf, size)
	if err != nil {
		return nil, err
	}
	// The header is read, not mapped: a file truncated meanwhile then
	// gives a short read instead of a fault.
	header := make([]byte, hlen)
	if _, err := fd.ReadAt(header, 8); err != nil {
		return nil, fmt.Errorf("read header of %s: %w", path, err)
	}
	dataStart := 8 + hlen
	h, err := parseHeader(path, header, size-int64(dataStart))
	if err != nil {
		return nil, err
	}
	m, err := unix.Mmap(int(fd.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	f := newFile(path, m, dataStart, h)
	f.fd, f.pieces, keep = fd, newPieces(), true
	return f, nil
}

// headerLen checks the 8-byte header length field lenField of a file of
// size bytes and returns the header length.
func headerLen(path string, lenField [8]byte, size int64) (int, error) {
	if size < 8 {
		return 0, fmt.Errorf("read %s: file is %d bytes, shorter than the 8-byte header length", path, size)
	}
	if size > math.MaxInt {
		return 0, fmt.Errorf("read %s: file size %d too large", path, size)
	}
	hlen := binary.LittleEndian.Uint64(lenField[:])
	if hlen > MaxHeaderSize {
		return 0, fmt.Errorf("read %s: header length %d exceeds the limit of %d bytes", path, hlen, MaxHeaderSize)
	}
	if hlen > uint64(size-8) {
		return 0, fmt.Errorf("read %s: header length %d plus the 8-byte length field is %d bytes, more than the file size %d (truncated file or not a safetensors file)",
			path, hlen, hlen+8, size)
	}
	return int(hlen), nil
}

// newFile makes the File of the mapped file mem, whose data section
// starts at dataStart and whose header is h.
func newFile(path string, mem []byte, dataStart int, h *header) *File {
	f := &File{Path: path, mmap: mem, metadata: h.metadata}
	for _, e := range h.entries {
		b, end := dataStart+int(e.begin), dataStart+int(e.end)
		f.tensors = append(f.tensors, &Tensor{
			Name:  e.name,
			DType: e.dtype,
			Shape: e.shape,
			file:  f,
			begin: b,
			data:  mem[b:end:end],
		})
	}
	return f
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

// Close unmaps and closes the file. Tensors of the file must not be used afterwards.
func (f *File) Close() error {
	if f.mmap == nil {
		return nil
	}
	err := unix.Munmap(f.mmap)
	f.mmap = nil
	if f.fd != nil {
		if cerr := f.fd.Close(); err == nil && cerr != nil {
			return fmt.Errorf("close %s: %w", f.Path, cerr)
		}
		f.fd = nil
	}
	if err != nil {
		return fmt.Errorf("munmap %s: %w", f.Path, err)
	}
	return nil
}
