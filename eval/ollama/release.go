package ollama

import (
	"io"
	"os"
)

// releaseEvery is how many bytes an upload reads between advising the
// kernel to drop what it has read from the page cache.
const releaseEvery = 32 << 20

// releasingReader reads a file for an upload and, every releaseEvery
// bytes and at the end, advises the kernel to drop the pages it has read
// (dropCache). A candidate's GGUF is uploaded once and deleted after, and
// the server writes a copy of the same size: on a machine short of memory
// the server's writes then reuse the pages ours held instead of waiting on
// the kernel to reclaim and compact memory for them. (In bench trial on
// the 24 GB machine, with the inputs and outputs of the merges cached,
// the server spent a whole core in the kernel and the upload took 1.6 to
// 2.5 times the same upload made after a blob of the same size was
// deleted.)
type releasingReader struct {
	f             *os.File
	r             io.Reader
	off, released int64
}

func newReleasingReader(f *os.File, size int64) *releasingReader {
	return &releasingReader{f: f, r: io.NewSectionReader(f, 0, size)}
}

// releaseAlign aligns the dropped ranges: the kernel drops only whole
// folios (up to 2 MiB), so a range ending inside one would leave it, and
// the next range, starting inside it too, would leave it again.
const releaseAlign = 2 << 20

func (r *releasingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.off += int64(n)
	switch {
	case err == io.EOF:
		dropCache(r.f, r.released, 0) // to the end of the file
		r.released = r.off
	case r.off-r.released >= releaseEvery:
		end := r.off &^ (releaseAlign - 1)
		dropCache(r.f, r.released, end-r.released)
		r.released = end
	}
	return n, err
}
