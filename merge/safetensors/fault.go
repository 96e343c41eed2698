package safetensors

import (
	"fmt"
	"os"
	"runtime/debug"
	"syscall"
	"unsafe"
)

// OpenRegular opens path for reading if it is a regular file (after
// following symlinks) and returns it with its size. A FIFO, socket or
// device is refused without blocking: the file is opened non-blocking and
// checked before anything is read from it.
func OpenRegular(path string) (*os.File, int64, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, 0, err
	} else if !st.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is not a regular file (%s)", path, fileKind(st.Mode()))
	}
	// The file may have been replaced since: open without blocking on a
	// FIFO and check the opened file itself.
	fd, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	st, err := fd.Stat()
	if err != nil {
		fd.Close()
		return nil, 0, fmt.Errorf("stat %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		fd.Close()
		return nil, 0, fmt.Errorf("%s is not a regular file (%s)", path, fileKind(st.Mode()))
	}
	return fd, st.Size(), nil
}

// fileKind names the type of a non-regular file.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}

// Guard runs fn, which reads the file's mapping (Tensor.Bytes), and turns
// a fault on the mapping (the file truncated while in use) into an error
// naming the file, recorded for Err, instead of a crash. Any other panic
// propagates.
func (f *File) Guard(fn func()) error { return f.guard(fn) }

func (f *File) guard(fn func()) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		r := recover()
		if r == nil {
			return
		}
		fe, ok := r.(interface{ Addr() uintptr })
		if !ok || !f.mapped(fe.Addr()) {
			panic(r)
		}
		err = f.recordFault(fe.Addr())
	}()
	fn()
	return nil
}

// mapped reports whether addr lies in the file's mapping.
func (f *File) mapped(addr uintptr) bool {
	if len(f.mmap) == 0 {
		return false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(f.mmap)))
	return addr >= base && addr-base < uintptr(len(f.mmap))
}

// recordFault records a fault at addr and returns the file's first fault.
func (f *File) recordFault(addr uintptr) error {
	off := addr - uintptr(unsafe.Pointer(unsafe.SliceData(f.mmap)))
	err := fmt.Errorf("read %s: the file changed while it was being read (a fault at byte %d of its %d-byte mapping: it was truncated or replaced in place)",
		f.Path, off, len(f.mmap))
	f.fault.CompareAndSwap(nil, &err)
	return *f.fault.Load()
}

// Err returns the first fault met reading the file's mapping (see
// Tensor.Read and Guard), or nil.
func (f *File) Err() error {
	if p := f.fault.Load(); p != nil {
		return *p
	}
	return nil
}
