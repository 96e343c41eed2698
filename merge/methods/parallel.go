package methods

import "sync"

// passChunk is the number of elements one step of a statistics pass
// handles. Chunk boundaries do not depend on the number of workers, and
// per-chunk partial results are combined in chunk order, so every result
// is the same whatever Job.Workers is.
const passChunk = 1 << 16

// chunks calls f(worker, index, lo, hi) for the consecutive ranges of
// passChunk elements covering [0, n), on up to workers goroutines;
// worker < max(1, workers) identifies the goroutine, for per-worker state.
func chunks(n, workers int, f func(worker, index, lo, hi int)) {
	count := (n + passChunk - 1) / passChunk
	each(count, workers, func(w, c int) { f(w, c, c*passChunk, min(n, (c+1)*passChunk)) })
}

// each calls f(worker, i) for i in [0, count), on up to workers goroutines,
// handing out i in increasing order.
func each(count, workers int, f func(worker, i int)) {
	if workers <= 1 || count <= 1 {
		for c := 0; c < count; c++ {
			f(0, c)
		}
		return
	}
	var next sync.Mutex
	c := 0
	var wg sync.WaitGroup
	for w := 0; w < min(workers, count); w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				next.Lock()
				i := c
				c++
				next.Unlock()
				if i >= count {
					return
				}
				f(w, i)
			}
		}(w)
	}
	wg.Wait()
}

// scratch is a free list of float32 buffers for reentrant kernels. Unlike
// a sync.Pool it survives garbage collections, so a kernel called on
// thousands of chunks allocates only one buffer per concurrent caller.
type scratch struct{ free chan []float32 }

func newScratch() *scratch { return &scratch{free: make(chan []float32, 16)} }

// get returns a buffer of length n.
func (s *scratch) get(n int) []float32 {
	select {
	case b := <-s.free:
		if cap(b) >= n {
			return b[:n]
		}
	default:
	}
	return make([]float32, n)
}

// put returns a buffer to the free list.
func (s *scratch) put(b []float32) {
	select {
	case s.free <- b:
	default:
	}
}
