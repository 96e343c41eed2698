package gguf

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"

	"golang.org/x/sys/unix"
)

// hashPiece is how much of the file the hasher hashes at once: it wakes
// when the written prefix has grown by this much (or reached the end).
const hashPiece = 4 << 20

// frontierHasher computes the SHA-256 of a file while it is being written
// out of order. Writers report each range they have written (mark); the
// hasher goroutine follows the written prefix of the file (the frontier),
// hashing each newly completed stretch from the page cache as soon as the
// frontier reaches past it, so that when the last range lands only the
// stretch behind it remains to be hashed. It reads the file through a
// read-only shared mapping (no copy out of the page cache), or with pread
// where the file cannot be mapped.
type frontierHasher struct {
	f    *os.File
	size int64
	m    []byte // the file mapped, or nil: read with ReadAt
	p    *prefix

	// owned by the goroutine until done is closed
	h      hash.Hash
	hashed int64
	err    error
	done   chan struct{}
}

// newFrontierHasher starts hashing f, of size bytes, as its prefix p
// grows. f must stay size bytes long until sum or abort returns.
func newFrontierHasher(f *os.File, size int64, p *prefix) *frontierHasher {
	return startHasher(f, size, p, mapFile(f, size))
}

// startHasher is newFrontierHasher reading through the mapping m of f, or
// with pread when m is nil.
func startHasher(f *os.File, size int64, p *prefix, m []byte) *frontierHasher {
	h := &frontierHasher{f: f, size: size, m: m, p: p, h: sha256.New(), done: make(chan struct{})}
	go h.run()
	return h
}

// run hashes the written prefix as it grows, a piece at a time, until the
// whole file is hashed, a read fails or the prefix is aborted.
func (h *frontierHasher) run() {
	defer close(h.done)
	var buf []byte
	if h.m == nil {
		buf = make([]byte, hashPiece)
	}
	for h.hashed < h.size {
		ready, stop := h.p.wait(min(h.hashed+hashPiece, h.size))
		if stop {
			h.err = errors.New("aborted")
			return
		}
		for h.hashed < ready {
			n := min(hashPiece, ready-h.hashed)
			if h.m != nil {
				h.hashMapped(h.hashed, h.hashed+n)
			} else {
				if _, err := h.f.ReadAt(buf[:n], h.hashed); err != nil {
					h.err = fmt.Errorf("read back bytes [%d, %d): %w", h.hashed, h.hashed+n, err)
					return
				}
				h.h.Write(buf[:n])
			}
			h.hashed += n
		}
	}
}

// hashMapped hashes bytes [lo, hi) through the mapping: it maps their
// pages in one call first (MADV_POPULATE_READ, where the kernel has it:
// fewer faults), and unmaps the pages wholly hashed after (MADV_DONTNEED,
// which leaves them in the page cache), so that the process's resident
// set does not grow with the file.
func (h *frontierHasher) hashMapped(lo, hi int64) {
	page := int64(os.Getpagesize())
	_ = unix.Madvise(h.m[lo/page*page:hi], unix.MADV_POPULATE_READ)
	h.h.Write(h.m[lo:hi])
	if end := hi / page * page; end > lo/page*page {
		_ = unix.Madvise(h.m[lo/page*page:end], unix.MADV_DONTNEED)
	}
}

// sum waits for the whole file to be hashed and returns its
// "sha256:<hex>" digest. Call it when every write has returned: a byte
// not marked by then is an error.
func (h *frontierHasher) sum() (string, error) {
	if ready := h.p.length(); ready != h.size {
		h.abort()
		return "", fmt.Errorf("bytes from %d of %d are not all written", ready, h.size)
	}
	<-h.done
	h.unmap()
	if h.err != nil {
		return "", h.err
	}
	return "sha256:" + hex.EncodeToString(h.h.Sum(nil)), nil
}

// abort stops the hasher (and the prefix's other readers) and waits for
// it to end.
func (h *frontierHasher) abort() {
	h.p.abort()
	<-h.done
	h.unmap()
}

// unmap releases the mapping once the goroutine has ended.
func (h *frontierHasher) unmap() {
	if h.m != nil {
		_ = unix.Munmap(h.m)
		h.m = nil
	}
}

// mapFile maps the first size bytes of f read-only and shared (the page
// cache itself), or returns nil where it cannot.
func mapFile(f *os.File, size int64) []byte {
	if size <= 0 || int64(int(size)) != size {
		return nil
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil
	}
	return m
}
