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
// sent from a file and at its end, to drop those pages (dropCache). A
// candidate's GGUF is uploaded once and deleted after, and the server
// writes a copy of the same size: on a machine short of memory the
// server's writes then reuse the pages ours held instead of waiting on the
// kernel to reclaim and compact memory for them. (In bench trial on the
// 24 GB machine, with the inputs and outputs of the merges cached, the
// server spent a whole core in the kernel and the upload took 1.6 to 2.5
// times the same upload made after a blob of the same size was deleted.)
//
// Pages sent with sendfile are held by the sockets until the server has
// read them (up to the receiver's buffer, 32 MiB here), and the kernel
// does not drop a page so held: such an upload (atEnd) drops its pages
// only once the server has answered.
type releaser struct {
	f        *os.File
	atEnd    bool
	released int64
}

// sent records that the upload has sent the file up to off; end: all of
// it.
func (r *releaser) sent(off int64, end bool) {
	switch {
	case r.atEnd:
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
	dropCache(r.f, r.released, 0) // to the end of the file
}
