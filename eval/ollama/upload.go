package ollama

// A candidate's upload.
//
// A candidate is a file, finished (the plain upload) or still being
// written by the merge (Stream, an eval.GrowingFile); either is a
// fileBody, which reports progress and, for a finished file sent to a
// server on this machine, drops the pages it has sent from the page cache
// (releaser).
//
//   - A file still being written goes with its length, over the Backend's
//     own connections for streams (sendfileConn), piece by piece as the
//     merge writes it. To a server on another machine it is sent with
//     sendfile(2): the client copies nothing through its own memory, which
//     leaves the cores to the merge it overlaps (0.26-0.63 CPU s of the
//     client per 2.2 GB against 0.64-1.15 s in 4 MiB writes). To a server
//     on this machine (a loopback host) it is copied in 4 MiB writes:
//     over loopback the server's receive copies the bytes straight out of
//     the pages sendfile hands the socket, and that costs the server far
//     more than the client saves. Measured here (a finished 2.2 GB GGUF,
//     the same upload code, three alternating pairs, ollama serve 0.17.4):
//     sendfile 4.5-5.3 s, the server 4.6-5.4 CPU s and the client 0.2-0.3;
//     copied 3.1-3.2 s, the server 3.0-3.2 CPU s and the client 0.5-0.6.
//     With the server on a core of its own (taskset), sendfile 5.2-7.8 s
//     (the server 5.1-7.7 CPU s, a third of it in the kernel's copy to
//     its buffers) against 2.9-3.3 s.
//   - A finished file goes as the API client sends a body, read in 4 MiB
//     writes: alone, the copy runs on a core the server does not use and
//     leaves the bytes in the cache the server's read then hits. Sent with
//     its length, or over the streams' connections, the upload right after
//     a merge also took 0.88-1.39 × the upload alone (18 repetitions),
//     against 0.81-1.12 × as the API client sends it (12, interleaved in
//     the same hour; the cause is not known).
//
// Any other reader is sent as the API client sends a body
// (countingReader).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/ollama/ollama/api"

	"github.com/mergetune/mergetune/eval"
)

// UploadBlob uploads size bytes read from r to the server as the blob
// digest (POST /api/blobs/<digest>), reporting progress as the "upload"
// stage: the upload every candidate import makes. An *os.File is sent
// from its start, in 4 MiB writes, and a file still being written
// (eval.GrowingFile) as its bytes are written, with sendfile where the
// connection allows.
func (b *Backend) UploadBlob(ctx context.Context, digest string, r io.Reader, size int64) error {
	pr := &progress{total: size, report: func(d, t int64) { b.report("upload", d, t) }}
	body := b.fileBody(r, size, pr)
	if body == nil {
		return b.client.CreateBlob(ctx, digest, &countingReader{r: r, pr: pr})
	}
	defer body.rel.done()
	if body.written == nil {
		return b.client.CreateBlob(ctx, digest, body) // fileBody.WriteTo: 4 MiB writes
	}
	return b.postBlob(ctx, digest, body, size)
}

// fileBody returns the body that uploads size bytes of r, a file
// (eval.GrowingFile or *os.File), or nil where r is neither. A growing
// file's pages stay cached (a study deletes the candidate right before
// the next merge, which reuses them), and it goes with sendfile only to a
// server elsewhere (see the top of this file); a finished file sent to a
// server on this machine drops its pages as it goes (the server's copy is
// written here too).
func (b *Backend) fileBody(r io.Reader, size int64, pr *progress) *fileBody {
	switch r := r.(type) {
	case eval.GrowingFile:
		return &fileBody{f: r.File(), size: size, written: r.Written, pr: pr, sendfile: !b.local}
	case *os.File:
		body := &fileBody{f: r, size: size, pr: pr}
		if b.local {
			body.rel = releaser{f: r}
		}
		return body
	}
	return nil
}

// postBlob sends body, of size bytes, as the blob digest, with its length
// (a fileBody sends itself only so). An error answer is an
// api.StatusError, as the API client returns it.
func (b *Backend) postBlob(ctx context.Context, digest string, body io.Reader, size int64) error {
	u := b.host.JoinPath("/api/blobs", digest)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := b.send.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read the answer to the upload of %s: %w", digest, err)
	}
	if resp.StatusCode < http.StatusBadRequest {
		return nil
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(data))
	}
	return api.StatusError{StatusCode: resp.StatusCode, Status: resp.Status, ErrorMessage: e.Error}
}

// progress reports an upload's progress, every 1% at most and at its
// end.
type progress struct {
	done, total, next int64
	report            func(done, total int64)
}

// add records n more bytes sent; end: the last ones.
func (p *progress) add(n int64, end bool) {
	p.done += n
	if p.done >= p.next || end {
		p.report(p.done, p.total)
		p.next = p.done + max(p.total/100, 1)
	}
}

// fileBody is an upload's request body read from a file: size bytes from
// its start, each once written says it is there (nil: the file is
// complete). Through a sendfileConn it sends itself, with sendfile where
// sendfile is set and in uploadWrite writes otherwise; elsewhere it reads
// as any body. A finished file's drops the sent pages from the page cache
// as it goes (releaser; UploadBlob drops the rest once the server has
// answered); every one reports progress.
type fileBody struct {
	f       *os.File
	size    int64
	written func(want int64) (int64, error)
	off     int64 // bytes sent (or read) so far
	copied  int64 // of those, bytes read through Read (not sent with sendfile)
	// sendfile: through a sendfileConn, sent with sendfile rather than
	// in writes
	sendfile bool
	rel      releaser
	pr       *progress
}

// sendPiece is the most a fileBody sends with one sendfile call: its
// progress and page release go by pieces.
const sendPiece = 8 << 20

// ready waits until the file holds bytes up to want, and returns up to
// where it does; where it returns no more than the body has sent, err
// says why.
func (b *fileBody) ready(want int64) (int64, error) {
	if b.written == nil {
		return want, nil
	}
	got, err := b.written(want)
	if got <= b.off && err == nil {
		err = fmt.Errorf("upload %s: the file's writer reports %d bytes written, short of the %d sent", b.f.Name(), got, b.off)
	}
	return got, err
}

// advance records n more bytes sent.
func (b *fileBody) advance(n int64) {
	b.off += n
	b.rel.sent(b.off, b.off == b.size)
	b.pr.add(n, b.off == b.size)
}

// short is the error for a file that ends before the body does.
func (b *fileBody) short() error {
	return fmt.Errorf("upload %s: %w: the file ends at %d of %d bytes", b.f.Name(), io.ErrUnexpectedEOF, b.off, b.size)
}

func (b *fileBody) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), b.size-b.off)
	ready, err := b.ready(b.off + n)
	if ready <= b.off {
		return 0, err
	}
	m, err := b.f.ReadAt(p[:min(n, ready-b.off)], b.off)
	b.advance(int64(m))
	b.copied += int64(m)
	if errors.Is(err, io.EOF) {
		if m > 0 {
			return m, nil
		}
		return 0, b.short()
	}
	return m, err
}

// Close does nothing: the file is the caller's.
func (b *fileBody) Close() error { return nil }

// sendTo sends the body's next lr.N bytes (the HTTP client's limit of the
// body to its length) to c with sendfile, piece by piece as the file is
// written.
func (b *fileBody) sendTo(c *net.TCPConn, lr *io.LimitedReader) (int64, error) {
	var sent int64
	for lr.N > 0 && b.off < b.size {
		ready, err := b.ready(min(b.off+lr.N, b.off+sendPiece, b.size))
		if ready <= b.off {
			return sent, err
		}
		if _, err := b.f.Seek(b.off, io.SeekStart); err != nil {
			return sent, fmt.Errorf("upload %s: %w", b.f.Name(), err)
		}
		// One piece at most, though more may be written: progress goes
		// by pieces.
		want := min(ready-b.off, sendPiece, lr.N)
		// *net.TCPConn.ReadFrom sends an *os.File under a LimitedReader
		// with sendfile (and copies where it cannot).
		n, err := c.ReadFrom(&io.LimitedReader{R: b.f, N: want})
		b.advance(n)
		lr.N -= n
		sent += n
		if err != nil {
			return sent, err
		}
		if n < want {
			return sent, b.short()
		}
	}
	return sent, nil
}

// sendfileConn is a TCP connection the Backend's streams dialed. The HTTP
// client writes a request body of known length with ReadFrom, with the
// body under an io.LimitedReader: a fileBody then sends itself (with
// sendfile, or in uploadWrite writes: the TCP connection's own ReadFrom
// would read it 32 KiB at a time), anything else goes as the TCP
// connection sends it.
type sendfileConn struct {
	*net.TCPConn
}

// ReadFrom implements io.ReaderFrom.
func (c *sendfileConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if body, ok := lr.R.(*fileBody); ok && body.sendfile {
			return body.sendTo(c.TCPConn, lr)
		} else if ok {
			return writeInPieces(c.TCPConn, lr)
		}
	}
	return c.TCPConn.ReadFrom(r)
}

// sendfileDialer dials with d, and makes a TCP connection a sendfileConn.
func sendfileDialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok && err == nil {
			return &sendfileConn{TCPConn: tc}, nil
		}
		return c, err
	}
}

// countingReader reports the bytes read through it (progress).
type countingReader struct {
	r  io.Reader
	pr *progress
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.pr.add(int64(n), err == io.EOF)
	return n, err
}

// uploadWrite is the size of an upload's writes to the connection.
const uploadWrite = 4 << 20

// WriteTo writes what c reads to w in writes of up to uploadWrite bytes
// (writeInPieces).
func (c *countingReader) WriteTo(w io.Writer) (int64, error) { return writeInPieces(w, c) }

// WriteTo writes the body to w in writes of up to uploadWrite bytes
// (writeInPieces): the API client sends a finished file so.
func (b *fileBody) WriteTo(w io.Writer) (int64, error) { return writeInPieces(w, b) }

// writeInPieces writes what r reads to w in writes of up to uploadWrite
// bytes: the HTTP client copies a request body in 32 KiB pieces
// otherwise, and on loopback the syscalls of a 2.2 GB upload then cost the
// client about 0.3 CPU s more (1.0-1.7 s against 0.75-0.8 s, measured
// here).
func writeInPieces(w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, uploadWrite)
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}
