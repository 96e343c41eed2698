package safetensors

import (
	"fmt"
	"os"
	"runtime"
	"sync"
)

// readPiece is how many bytes of a tensor Tensor.Read reads with one
// pread: a tensor is read in pieces of this size from its start, each kept
// while readers use it (a kernel reads a few thousand elements at a
// time, so one piece serves many calls). A multiple of every dtype's size,
// so that no element straddles two pieces.
const readPiece = 256 << 10

// pieces is a File's cache of the pieces its readers are reading: at most
// max at once, each loaded by the reader that first wants it and shared by
// the readers that want it meanwhile. Reading a mapped file's page-cache
// pages costs a fault per 4 KiB page the first time a process touches it,
// and on a virtual machine with shadow page tables each costs about 1.5
// µs more in the host: a TinyLlama-shaped merge read its 8.8 GB of inputs
// in 6 CPU s through the mapping, against 0.7 s for cat (pread into one
// buffer). A pread per kernel block (4 KiB) costs a system call each
// instead, which such a machine makes as dear, hence pieces.
type pieces struct {
	mu    sync.Mutex
	max   int
	slots []*piece
	tick  uint64
	loads int       // preads made, for the tests
	bufs  sync.Pool // *[]byte of readPiece bytes
}

// piece is readPiece bytes (or a tensor's last, shorter, piece) of the
// file from byte at.
type piece struct {
	at    int64
	raw   []byte
	buf   *[]byte // raw's buffer, from pieces.bufs
	users int     // readers holding it
	used  uint64  // tick of the last get, for eviction
	ready chan struct{}
	err   error // the read's error, set before ready is closed
}

func newPieces() *pieces {
	p := &pieces{max: 2*runtime.GOMAXPROCS(0) + 2}
	p.bufs.New = func() any { b := make([]byte, readPiece); return &b }
	return p
}

// get returns the n bytes of fd from byte at, read with one pread unless
// another reader has them; put must be called with the piece once its
// bytes are used. A short read is an error naming path.
func (c *pieces) get(fd *os.File, path string, at int64, n int) (*piece, error) {
	c.mu.Lock()
	c.tick++
	var free *piece
	for _, p := range c.slots {
		if p.at == at && len(p.raw) == n {
			p.users++
			p.used = c.tick
			c.mu.Unlock()
			<-p.ready
			if p.err != nil {
				c.put(p)
				return nil, p.err
			}
			return p, nil
		}
		if p.users == 0 && (free == nil || p.used < free.used) {
			free = p
		}
	}
	p := free
	if p == nil || len(c.slots) < c.max {
		p = &piece{buf: c.bufs.Get().(*[]byte)}
		if len(c.slots) < c.max {
			c.slots = append(c.slots, p)
		}
	}
	p.at, p.raw, p.users, p.used, p.err = at, (*p.buf)[:n], 1, c.tick, nil
	p.ready = make(chan struct{})
	c.loads++
	c.mu.Unlock()
	if got, err := fd.ReadAt(p.raw, at); err != nil {
		p.err = fmt.Errorf("read %s: the file changed while it was being read (%d of the %d bytes at byte %d: it was truncated or replaced in place): %w",
			path, got, n, at, err)
	}
	close(p.ready)
	if p.err != nil {
		c.mu.Lock()
		p.at = -1 // not to be found again
		c.mu.Unlock()
		c.put(p)
		return nil, p.err
	}
	return p, nil
}

// put gives back a piece get returned.
func (c *pieces) put(p *piece) {
	c.mu.Lock()
	p.users--
	c.mu.Unlock()
}

// drop forgets the pieces no reader holds within bytes [lo, hi) of the
// file (a tensor its readers are done with), and gives their buffers back.
func (c *pieces) drop(lo, hi int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.slots[:0]
	for _, p := range c.slots {
		if p.users == 0 && (p.at < 0 || (p.at >= lo && p.at < hi)) {
			c.bufs.Put(p.buf)
			continue
		}
		kept = append(kept, p)
	}
	clear(c.slots[len(kept):])
	c.slots = kept
}
