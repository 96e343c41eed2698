package ollama

import "os"

// releaseEvery is how many bytes an upload sends between advising the
// kernel to drop what it has sent from the page cache.
const releaseEvery = 32 << 20

// releaseAlign aligns the dropped ranges: the kernel drops only whole
// folios (up to 2 MiB), so a range ending inside one would leave it, and
// the next range, starting inside it too, would leave it again.
const releaseAlign = 2 << 20

// releaser advises the kernel, every releaseEvery bytes an upload has
// sent from a finished file to a server on this machine and at its end,
// to drop those pages (dropCache); with no file (a stream, or a server
// elsewhere) it does nothing.
//
// A finished candidate's upload to a server on this machine writes a copy
// of the same size into the server's blob store. Dropped as
// they are sent, our pages are free when the server's writes ask for
// pages, and are taken again at once: in bench trial's upload after the
// merge the server otherwise spent a whole core in the kernel and took
// 1.6 to 2.5 times the same upload made right after a blob of the same
// size was deleted. Pages freed long before cost more than pages freed
// just now: on one machine the kernel was compacting memory for the
// server's writes (23 thousand compaction stalls); on a virtual machine
// that hands free memory back to its host (virtio-balloon free page
// reporting, as on this project's machines), a page free for more than a
// few seconds has gone back, and writing into it again costs a fault in
// the host (1.2 GB written into the page cache in 0.24-0.33 s right after
// 2.4 GB had been freed, 1.24-1.71 s eight seconds later, with no reclaim
// or compaction at all).
//
// A server elsewhere writes its copy elsewhere: dropped, the pages would
// only sit free until the next merge, and pay as below.
//
// A streamed candidate's pages are left in the cache: they are dirty while
// the merge writes them, and the sockets hold the pages sendfile sent until
// the server has read them, so none can be dropped while the stream goes
// on (none was, in TestUploadReleasesPages, with the drops 16 or 64 MiB
// behind what was sent). Dropped at its end, they sat free while the
// candidate was evaluated and went back to the host, and the next merge's
// writes paid for them: in bench trial the q8_0 GGUF merge placed after a
// stream took 1.60-2.43 × its merge alone with the drop (median 1.97, 12
// repetitions), median 1.18 without (7 of 9 within 1.5 ×). Kept, they are
// freed when the study deletes the candidate as its trial ends (unless
// keep_best keeps it), right before the next merge, which reuses them.
type releaser struct {
	f        *os.File // nil: leave the pages alone
	released int64
}

// sent records that the upload has sent the file up to off; end: all of
// it.
func (r *releaser) sent(off int64, end bool) {
	switch {
	case r.f == nil:
	case end:
		r.done()
		r.released = off
	case off-r.released >= releaseEvery:
		to := off &^ (releaseAlign - 1)
		dropCache(r.f, r.released, to-r.released)
		r.released = to
	}
}

// done drops the rest of the file's pages: the upload has ended, and the
// server has read what it was sent.
func (r *releaser) done() {
	if r.f != nil {
		dropCache(r.f, r.released, 0) // to the end of the file
	}
}
