package gguf

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrAborted is the error a Follow reader returns once the Writer is
// aborted: the file will not be completed.
var ErrAborted = errors.New("gguf: the merge writing the file was aborted")

// Follow returns a reader of the whole file that yields its bytes in
// order as soon as the merge has written them: a Read blocks until the
// written prefix of the file covers its buffer (or reaches the end of the
// file), and fails with ErrAborted once the Writer is aborted, returning
// what was written before. The reader has its own descriptor
// of the file, so it reads on after Close and after the file is renamed
// or removed; it must be closed. Size is the reader's length. An upload
// can thus send the file while the merge writes it.
func (w *Writer) Follow() (io.ReadCloser, error) {
	f, err := os.Open(w.path)
	if err != nil {
		return nil, fmt.Errorf("gguf: follow %s: %w", w.path, err)
	}
	return &follower{f: f, p: w.prefix, size: w.size}, nil
}

// follower is the reader Follow returns.
type follower struct {
	f    *os.File
	p    *prefix
	size int64
	off  int64
}

func (r *follower) Read(b []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if len(b) == 0 {
		return 0, nil
	}
	// Wait for b to fill (or the file to end), not for the next
	// byte: the writes land 64 KiB at a time, and a reader woken by each
	// would copy them out as many small pieces.
	ready, stopped := r.p.wait(min(r.off+int64(len(b)), r.size))
	if stopped && ready <= r.off {
		return 0, ErrAborted
	}
	n, err := r.f.ReadAt(b[:min(int64(len(b)), ready-r.off)], r.off)
	r.off += int64(n)
	if err == io.EOF && r.off < r.size {
		err = fmt.Errorf("gguf: follow %s: the file ends at %d of %d bytes", r.f.Name(), r.off, r.size)
	} else if err == io.EOF {
		err = nil
	}
	return n, err
}

func (r *follower) Close() error { return r.f.Close() }

// File returns the reader's own descriptor of the file (eval.GrowingFile):
// a caller may send from it directly the bytes Written reports, moving its
// offset; Read does not use the offset.
func (r *follower) File() *os.File { return r.f }

// Written blocks until the file's first want bytes are written (all of
// it, where want is beyond its end) and returns how many leading bytes
// are written; once the Writer is aborted short of want it returns those
// and ErrAborted.
func (r *follower) Written(want int64) (int64, error) {
	want = min(want, r.size)
	ready, stopped := r.p.wait(want)
	if stopped && ready < want {
		return ready, ErrAborted
	}
	return min(ready, r.size), nil
}
