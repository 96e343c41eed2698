package gguf

import (
	"math"
	"sync"
)

// prefix follows how much of a file written out of order is complete: the
// writers report each range they have written (mark), and readers wait
// for the written prefix (every byte before ready) to reach the offset
// they need (wait).
type prefix struct {
	mu      sync.Mutex
	cond    sync.Cond
	ready   int64           // every byte before ready is written
	pending map[int64]int64 // written ranges beyond ready: start → end
	waits   int64           // the smallest ready a waiter waits for
	stop    bool            // abort: the file will not be completed
}

// newPrefix returns a prefix of size bytes whose ranges in holes are
// still to be written (every other byte already is). holes must be
// sorted, disjoint and within [0, size).
func newPrefix(size int64, holes [][2]int64) *prefix {
	p := &prefix{pending: map[int64]int64{}, waits: math.MaxInt64}
	p.cond.L = &p.mu
	at := int64(0)
	for _, r := range holes {
		if r[0] > at {
			p.mark(at, r[0])
		}
		at = r[1]
	}
	if at < size {
		p.mark(at, size)
	}
	return p
}

// mark records that bytes [lo, hi) are written. Every byte is marked once.
func (p *prefix) mark(lo, hi int64) {
	if lo >= hi {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if lo != p.ready {
		p.pending[lo] = hi
		return
	}
	p.ready = hi
	for {
		end, ok := p.pending[p.ready]
		if !ok {
			break
		}
		delete(p.pending, p.ready)
		p.ready = end
	}
	if p.ready >= p.waits {
		p.waits = math.MaxInt64 // each waiter still short sets it again
		p.cond.Broadcast()
	}
}

// wait blocks until the written prefix reaches n bytes or abort is
// called, and returns the prefix's length and whether abort was called.
func (p *prefix) wait(n int64) (ready int64, stopped bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.ready < n && !p.stop {
		p.waits = min(p.waits, n)
		p.cond.Wait()
	}
	return p.ready, p.stop
}

// length returns the written prefix's length.
func (p *prefix) length() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready
}

// abort wakes every waiter: the file will not be completed.
func (p *prefix) abort() {
	p.mu.Lock()
	p.stop = true
	p.cond.Broadcast()
	p.mu.Unlock()
}
