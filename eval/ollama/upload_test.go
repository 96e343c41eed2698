package ollama

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/ollama/ollama/api"
)

// sizeRecorder records the size of each write.
type sizeRecorder struct {
	bytes.Buffer
	sizes []int
}

func (s *sizeRecorder) Write(p []byte) (int, error) {
	s.sizes = append(s.sizes, len(p))
	return s.Buffer.Write(p)
}

// TestCountingReaderWriteTo: io.Copy through a countingReader (as the
// HTTP client copies a request body) gets every byte, in writes of at
// most uploadWrite bytes (not the 32 KiB of io.Copy's own buffer), and
// the progress reaches the total.
func TestCountingReaderWriteTo(t *testing.T) {
	for _, n := range []int{0, 1, 32 << 10, uploadWrite, 3*uploadWrite + 12345} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		for _, half := range []bool{false, true} {
			var src io.Reader = bytes.NewReader(data)
			if half {
				src = iotest.HalfReader(src) // short reads, as a file being written gives
			}
			var last int64
			cr := &countingReader{r: src, pr: &progress{total: int64(n), report: func(d, _ int64) { last = d }}}
			var dst sizeRecorder
			got, err := io.Copy(&dst, cr)
			if err != nil || got != int64(n) || !bytes.Equal(dst.Bytes(), data) {
				t.Fatalf("n=%d half=%v: copied %d (%v), bytes equal %v", n, half, got, err, bytes.Equal(dst.Bytes(), data))
			}
			for _, s := range dst.sizes {
				if s > uploadWrite {
					t.Errorf("n=%d: a write of %d bytes", n, s)
				}
			}
			if !half && n >= uploadWrite && dst.sizes[0] != uploadWrite {
				t.Errorf("n=%d: first write %d bytes, want %d", n, dst.sizes[0], uploadWrite)
			}
			if last != int64(n) {
				t.Errorf("n=%d: progress ended at %d", n, last)
			}
		}
	}
}

// growing is a file written by the test while it is uploaded: Written
// blocks until the test has written up to want (grow), or fails once the
// test aborts.
type growing struct {
	f    *os.File
	size int64
	mu   sync.Mutex
	cond sync.Cond
	done int64
	err  error
}

func newGrowing(f *os.File, size int64) *growing {
	g := &growing{f: f, size: size}
	g.cond.L = &g.mu
	return g
}

func (g *growing) grow(to int64, err error) {
	g.mu.Lock()
	g.done, g.err = to, err
	g.cond.Broadcast()
	g.mu.Unlock()
}

// File, Read and Close make a growing an eval.GrowingFile (UploadBlob
// sends it with sendfile).
func (g *growing) File() *os.File             { return g.f }
func (g *growing) Read(p []byte) (int, error) { return 0, errors.New("growing: not read") }
func (g *growing) Close() error               { return nil }

func (g *growing) Written(want int64) (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	want = min(want, g.size)
	for g.done < want && g.err == nil {
		g.cond.Wait()
	}
	return g.done, g.err
}

// blobSink is an httptest server taking blob uploads: it keeps the body
// of the last one, and signals on got each time it has read past at.
type blobSink struct {
	*httptest.Server
	mu   sync.Mutex
	body []byte
	at   int64
	got  chan struct{}
}

func newBlobSink(t *testing.T, at int64) *blobSink {
	s := &blobSink{at: at, got: make(chan struct{}, 1)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		p := make([]byte, 64<<10)
		signalled := false
		for {
			n, err := r.Body.Read(p)
			buf.Write(p[:n])
			if !signalled && int64(buf.Len()) > s.at {
				signalled = true
				s.got <- struct{}{}
			}
			if err != nil {
				break
			}
		}
		s.mu.Lock()
		s.body = buf.Bytes()
		s.mu.Unlock()
		if r.ContentLength >= 0 && r.ContentLength != int64(buf.Len()) {
			http.Error(w, `{"error":"short body"}`, http.StatusBadRequest)
			return
		}
		w.Write([]byte("{}"))
	}))
	t.Cleanup(s.Close)
	return s
}

// backend returns a Backend for the sink: with its own transport, or
// with a caller's HTTP client.
func (s *blobSink) backend(t *testing.T, callersClient bool) *Backend {
	t.Helper()
	opt := Options{Host: s.URL}
	if callersClient {
		opt.HTTPClient = &http.Client{}
	}
	b, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFileBodySendfile: an upload of a file, complete or still being
// written, reaches the server byte for byte, with its progress reaching
// the total a piece (sendPiece) at a time at most, and a file still
// being written is sent before it is complete. Through the transport the
// Backend's streams use, a body marked sendfile is sent with sendfile
// (only the HTTP client's first buffer is read through the body) and
// another is read; through a caller's HTTP client it is read.
func TestFileBodySendfile(t *testing.T) {
	size := int64(2*sendPiece + 12345)
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                      string
		growing, client, sendfile bool
	}{
		{"complete", false, false, true},
		{"growing", true, false, true},
		{"complete, copied", false, false, false},
		{"growing, copied", true, false, false},
		{"complete, caller's client", false, true, true},
		{"growing, caller's client", true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The first piece sent with sendfile ends short of half, the
			// second needs the rest: the server has a quarter before the
			// rest is written.
			half := size / 2
			sink := newBlobSink(t, size/4)
			b := sink.backend(t, tc.client)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var last, step int64
			report := func(d, _ int64) { step, last = max(step, d-last), d }
			body := &fileBody{f: f, size: size, rel: releaser{f: f}, pr: &progress{total: size, report: report}, sendfile: tc.sendfile}
			var g *growing
			if tc.growing {
				g = newGrowing(f, size)
				body.written = g.Written
				g.grow(half+1, nil)
				go func() {
					<-sink.got // the server has a quarter before the rest is written
					g.grow(size, nil)
				}()
			}
			if err := b.postBlob(context.Background(), "sha256:"+strings.Repeat("0", 64), body, size); err != nil {
				t.Fatal(err)
			}
			sink.mu.Lock()
			defer sink.mu.Unlock()
			if !bytes.Equal(sink.body, data) {
				t.Errorf("the server got %d bytes, other than the file's %d", len(sink.body), size)
			}
			if last != size {
				t.Errorf("progress ended at %d of %d", last, size)
			}
			if step > sendPiece {
				t.Errorf("progress moved by %d bytes at once, more than a piece (%d)", step, sendPiece)
			}
			if sendfile := tc.sendfile && !tc.client; !sendfile && body.copied != size {
				t.Errorf("%d of %d bytes were read through the body, want all", body.copied, size)
			} else if sendfile && body.copied > 64<<10 {
				t.Errorf("%d of %d bytes were read through the body, not sent with sendfile", body.copied, size)
			}
		})
	}
}

// TestUploadBody: a file still being written goes with sendfile to a
// server elsewhere and in writes to one on this machine (over loopback
// the server's receive pays more for sendfile's pages than the client
// saves); a finished file drops its pages only where the server's copy is
// written on this machine; any other reader is no fileBody.
func TestUploadBody(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "blob"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for host, local := range map[string]bool{"127.0.0.1:11434": true, "http://10.0.0.1:11434": false} {
		b, err := New(Options{Host: host})
		if err != nil {
			t.Fatal(err)
		}
		pr := &progress{total: 1, report: func(int64, int64) {}}
		if body := b.fileBody(newGrowing(f, 1), 1, pr); body == nil || body.sendfile == local || body.written == nil || body.rel.f != nil {
			t.Errorf("%s: a growing file's body %+v, want sendfile %v, written set, no page release", host, body, !local)
		}
		if body := b.fileBody(f, 1, pr); body == nil || body.sendfile || body.written != nil || (body.rel.f != nil) != local {
			t.Errorf("%s: a finished file's body %+v, want no sendfile, page release %v", host, body, local)
		}
		if body := b.fileBody(bytes.NewReader([]byte{1}), 1, pr); body != nil {
			t.Errorf("%s: a bytes.Reader's body %+v, want none", host, body)
		}
	}
}

// TestFileBodyAborted: a file whose writer aborts part-way through its
// upload fails the upload with the writer's error, and the server gets
// no more than was written.
func TestFileBodyAborted(t *testing.T) {
	size := int64(2*sendPiece + 12345)
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, client := range []bool{false, true} {
		sink := newBlobSink(t, sendPiece/2)
		b := sink.backend(t, client)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		g := newGrowing(f, size)
		abort := errors.New("the merge was aborted")
		written := int64(3 * sendPiece / 2) // the second piece waits for more
		g.grow(written, nil)
		go func() {
			<-sink.got
			g.grow(written, abort)
		}()
		body := &fileBody{f: f, size: size, written: g.Written, rel: releaser{f: f}, pr: &progress{total: size, report: func(int64, int64) {}}}
		err = b.postBlob(context.Background(), "sha256:"+strings.Repeat("0", 64), body, size)
		if !errors.Is(err, abort) {
			t.Errorf("caller's client %v: error %v, want the writer's abort", client, err)
		}
		sink.mu.Lock()
		if int64(len(sink.body)) > written {
			t.Errorf("caller's client %v: the server got %d bytes, more than the %d written", client, len(sink.body), written)
		}
		sink.mu.Unlock()
	}
}

// TestPostBlobError: an error answer is an api.StatusError carrying the
// server's message, as from Ollama's API client (Stream reads the
// server's digest from it).
func TestPostBlobError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"digest mismatch, expected \"x\", got \"y\""}`))
	}))
	defer srv.Close()
	b, err := New(Options{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	err = b.UploadBlob(context.Background(), "sha256:"+strings.Repeat("0", 64), strings.NewReader("abc"), 3)
	var se api.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest || se.ErrorMessage != `digest mismatch, expected "x", got "y"` {
		t.Errorf("generic body: error %#v", err)
	}
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = b.UploadBlob(context.Background(), "sha256:"+strings.Repeat("0", 64), f, 3)
	if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest || se.ErrorMessage != `digest mismatch, expected "x", got "y"` {
		t.Errorf("file body: error %#v", err)
	}
}
