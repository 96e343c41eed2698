package gguf

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"sync"

	"github.com/mergetune/mergetune/merge/safetensors"
)

// hashPiece is how much of the file the hasher reads at once.
const hashPiece = 4 << 20

// writebackEvery is how many hashed bytes pass between two starts of the
// kernel's writeback (as the safetensors writer does), so that Close's
// fsync finds little left to do.
const writebackEvery = 32 << 20

// frontierHasher computes the SHA-256 of a file while it is being written
// out of order. Writers report each range they have written (mark); the
// hasher goroutine follows the written prefix of the file (the frontier),
// reading each newly completed stretch back from the page cache and
// hashing it as soon as the frontier reaches past it, so that when the
// last range lands only the stretch behind it remains to be hashed.
type frontierHasher struct {
	f    *os.File
	size int64

	mu      sync.Mutex
	cond    sync.Cond
	ready   int64           // every byte before ready is written
	pending map[int64]int64 // written ranges beyond ready: start → end
	stop    bool            // abort: hash no further

	// owned by the goroutine until done is closed
	h      hash.Hash
	hashed int64
	err    error
	done   chan struct{}
}

// newFrontierHasher starts hashing f, of size bytes, whose ranges in holes
// are still to be written (every other byte already is). holes must be
// sorted, disjoint and within [0, size).
func newFrontierHasher(f *os.File, size int64, holes [][2]int64) *frontierHasher {
	h := &frontierHasher{f: f, size: size, pending: map[int64]int64{}, h: sha256.New(), done: make(chan struct{})}
	h.cond.L = &h.mu
	at := int64(0)
	for _, r := range holes {
		if r[0] > at {
			h.mark(at, r[0])
		}
		at = r[1]
	}
	if at < size {
		h.mark(at, size)
	}
	go h.run()
	return h
}

// mark records that bytes [lo, hi) are written. Every byte is marked once.
func (h *frontierHasher) mark(lo, hi int64) {
	if lo >= hi {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if lo != h.ready {
		h.pending[lo] = hi
		return
	}
	h.ready = hi
	for {
		end, ok := h.pending[h.ready]
		if !ok {
			break
		}
		delete(h.pending, h.ready)
		h.ready = end
	}
	h.cond.Signal()
}

// run hashes the written prefix as it grows, until the whole file is
// hashed, a read fails or abort is called.
func (h *frontierHasher) run() {
	defer close(h.done)
	buf := make([]byte, hashPiece)
	var kicked int64
	for h.hashed < h.size {
		h.mu.Lock()
		for h.ready == h.hashed && !h.stop {
			h.cond.Wait()
		}
		ready, stop := h.ready, h.stop
		h.mu.Unlock()
		if stop {
			h.err = errors.New("aborted")
			return
		}
		for h.hashed < ready {
			n := min(int64(len(buf)), ready-h.hashed)
			if _, err := h.f.ReadAt(buf[:n], h.hashed); err != nil {
				h.err = fmt.Errorf("read back bytes [%d, %d): %w", h.hashed, h.hashed+n, err)
				return
			}
			h.h.Write(buf[:n])
			h.hashed += n
			if h.hashed-kicked >= writebackEvery {
				safetensors.StartWriteback(h.f)
				kicked = h.hashed
			}
		}
	}
}

// sum waits for the whole file to be hashed and returns its
// "sha256:<hex>" digest. Call it when every write has returned: a byte
// not marked by then is an error.
func (h *frontierHasher) sum() (string, error) {
	h.mu.Lock()
	ready := h.ready
	h.mu.Unlock()
	if ready != h.size {
		h.abort()
		return "", fmt.Errorf("bytes from %d of %d are not all written", ready, h.size)
	}
	<-h.done
	if h.err != nil {
		return "", h.err
	}
	return "sha256:" + hex.EncodeToString(h.h.Sum(nil)), nil
}

// abort stops the hasher and waits for it to end.
func (h *frontierHasher) abort() {
	h.mu.Lock()
	h.stop = true
	h.cond.Signal()
	h.mu.Unlock()
	<-h.done
}
