package safetensors

import (
	"os"
	"sync"
	"sync/atomic"
)

// writebackBytes is how many bytes written to a file start the kernel's
// writeback of its dirty pages: the disk then writes while the merge
// computes, instead of all at the final fsync.
const writebackBytes = 32 << 20

// Writeback starts the kernel's writeback of files while they are being
// written: every writebackBytes reported written to a file (Wrote), a
// goroutine of its own asks the kernel to start writing the file's dirty
// pages (StartWriteback, which may block while the device's queue is
// full: the writers do not wait for it). Stop ends the goroutine; it must
// be called.
type Writeback struct {
	files  []*os.File
	dirty  []atomic.Int64 // bytes written since the last kick, per file
	kicked []atomic.Bool  // the file's writeback is due

	kick     chan struct{} // some file's writeback is due (buffer of 1)
	stop     chan struct{} // closed to end the goroutine
	stopped  chan struct{} // closed when it has ended
	stopOnce sync.Once

	start func(*os.File) // StartWriteback, or a test's probe
}

// NewWriteback starts pacing the writeback of files.
func NewWriteback(files []*os.File) *Writeback { return newWriteback(files, StartWriteback) }

// newWriteback is NewWriteback with the function that starts a file's
// writeback.
func newWriteback(files []*os.File, start func(*os.File)) *Writeback {
	wb := &Writeback{files: files, dirty: make([]atomic.Int64, len(files)), kicked: make([]atomic.Bool, len(files)),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}), start: start}
	go wb.run()
	return wb
}

// Wrote records that n more bytes were written to files[i]. It is safe for
// concurrent use.
func (wb *Writeback) Wrote(i int, n int64) {
	if wb.dirty[i].Add(n) < writebackBytes {
		return
	}
	wb.dirty[i].Store(0)
	wb.kicked[i].Store(true)
	select {
	case wb.kick <- struct{}{}:
	default:
	}
}

// run starts the writeback of the files marked due, at each kick and once
// more when stop is closed. A kick that finds one pending is dropped: the
// pending one is taken later and sees every mark.
func (wb *Writeback) run() {
	defer close(wb.stopped)
	marked := func() {
		for i, f := range wb.files {
			if wb.kicked[i].Swap(false) {
				wb.start(f)
			}
		}
	}
	for {
		select {
		case <-wb.kick:
			marked()
		case <-wb.stop:
			marked() // a kick left pending: the final fsync follows anyway
			return
		}
	}
}

// Stop ends the goroutine and waits for it; later calls do nothing.
func (wb *Writeback) Stop() {
	wb.stopOnce.Do(func() {
		close(wb.stop)
		<-wb.stopped
	})
}
