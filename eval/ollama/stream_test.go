package ollama

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mergetune/mergetune/datasets/toy"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/ollama/ollamatest"
	"github.com/mergetune/mergetune/merge"
	"github.com/mergetune/mergetune/merge/gguf"
)

// streamMerge merges cfg into out as GGUF while be streams it, as
// search's candidates are, and returns the merge's digest and the stream
// (nil: be declined). Each read of the stream's reader goes through wrap
// when it is not nil.
func streamMerge(ctx context.Context, t *testing.T, be *Backend, cfg, out string, wrap func(io.ReadCloser) io.ReadCloser) (string, eval.Stream, error) {
	return streamMergeHashed(ctx, t, be, cfg, out, wrap, true)
}

// streamMergeHashed is streamMerge, the merge hashing the file or not
// (merge.Options.NoDigest: the digest is then the server's).
func streamMergeHashed(ctx context.Context, t *testing.T, be *Backend, cfg, out string, wrap func(io.ReadCloser) io.ReadCloser, hash bool) (string, eval.Stream, error) {
	t.Helper()
	var st eval.Stream
	opt := merge.Options{Format: merge.FormatGGUF, Force: true, NoDigest: !hash, Follow: func(r io.ReadCloser, size int64) {
		if wrap != nil {
			r = wrap(r)
		}
		// the upload outlives a cancelled merge: only the merge's
		// failure breaks it off
		st = be.Stream(context.WithoutCancel(ctx), r, size)
	}}
	res, err := merge.RunFile(ctx, cfg, out, opt)
	if err != nil {
		return "", st, err
	}
	return res.Digest, st, nil
}

// TestStreamedCandidate uploads a family merge while the merge writes it
// (Backend.Stream), the merge hashing the file and not (the digest is then
// the server's), and checks that the model opened from the stream is the
// plain path's (same digest, no second upload, the same answer to five
// test items of every toy task), and that a backend that places blobs
// into the server's store, or has NoStream, does not stream.
func TestStreamedCandidate(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	cfg := familyMergeConfig(t, dir, "bfloat16")
	plainPath := filepath.Join(dir, "plain.gguf")
	if _, err := merge.RunFile(ctx, cfg, plainPath, merge.Options{Format: merge.FormatGGUF}); err != nil {
		t.Fatal(err)
	}
	plain := open(t, backend(t, Options{NamePrefix: "stream-plain", ModelsDir: "-", NoStream: true}), plainPath)

	for _, hash := range []bool{true, false} {
		be := backend(t, Options{NamePrefix: fmt.Sprintf("stream-hash-%v", hash), ModelsDir: "-"})
		if !be.Streams() {
			t.Fatal("a backend that uploads does not stream")
		}
		out := filepath.Join(dir, fmt.Sprintf("streamed-%v.gguf", hash))
		digest, st, err := streamMergeHashed(ctx, t, be, cfg, out, nil, hash)
		if err != nil {
			t.Fatal(err)
		}
		if st == nil {
			t.Fatal("a backend that uploads declined to stream")
		}
		if (digest != "") != hash {
			t.Errorf("merge hashed %v: digest %q", hash, digest)
		}
		m, err := st.(*stream).open(ctx, out, digest)
		if err != nil {
			t.Fatalf("open the streamed candidate: %v\nserver log tail:\n%s", err, tail(server(t).Log(), 3000))
		}
		t.Cleanup(func() {
			if err := m.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		s := m.Stats()
		if !s.Streamed || s.StreamFallback != "" || !s.Uploaded {
			t.Errorf("hashed %v: stats %+v: want streamed, no fallback", hash, s)
		}
		if m.Digest() != plain.Digest() || hash && digest != plain.Digest() {
			t.Errorf("hashed %v: digests: streamed model %s, merge %q, plain path %s", hash, m.Digest(), digest, plain.Digest())
		}
		st.Cancel() // after Open: must leave the model's blob alone
		if ok, err := be.hasBlob(ctx, m.Digest()); err != nil || !ok {
			t.Errorf("hashed %v: the streamed blob after Cancel following Open: held %v, %v", hash, ok, err)
		}
		sameAnswers(t, toy.Tasks(), 5, plain, m)
	}

	for name, opt := range map[string]Options{
		"places blobs": {NamePrefix: "stream-placed", ModelsDir: server(t).Models},
		"NoStream":     {NamePrefix: "stream-off", ModelsDir: "-", NoStream: true},
	} {
		if backend(t, opt).Streams() {
			t.Errorf("%s: Streams is true", name)
		}
		var closed atomic.Bool
		r := closeProbe{Reader: strings.NewReader("GGUF"), closed: &closed}
		if st := backend(t, opt).Stream(ctx, r, 4); st != nil {
			t.Errorf("%s: Stream began an upload", name)
			st.Cancel()
		}
		if !closed.Load() {
			t.Errorf("%s: Stream declined without closing the reader", name)
		}
	}
}

type closeProbe struct {
	io.Reader
	closed *atomic.Bool
}

func (c closeProbe) Close() error { c.closed.Store(true); return nil }

// TestStreamAbortedMerge cancels a merge once its stream has begun, before
// the tensor data is written (a private server): the stream sends the
// header and breaks off with the merge's abort, Cancel returns, and the
// server's store holds neither a blob nor a partial file of it.
func TestStreamAbortedMerge(t *testing.T) {
	srv := ollamatest.New(t, ollamatest.Options{ContextLength: 2048, Dir: t.TempDir()})
	be, err := New(Options{Host: srv.URL.String(), ModelsDir: "-", NamePrefix: "abort"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := familyMergeConfig(t, dir, "float32")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var sent atomic.Int64
	_, st, err := streamMerge(ctx, t, be, cfg, filepath.Join(dir, "aborted.gguf"), func(r io.ReadCloser) io.ReadCloser {
		cancel() // Follow runs before the merge writes its tensors
		g, ok := r.(eval.GrowingFile)
		if !ok {
			t.Errorf("the merge's Follow reader %T is not an eval.GrowingFile: its upload is not sent from the file", r)
			return counted{ReadCloser: r, n: &sent}
		}
		return countedFile{GrowingFile: g, n: &sent}
	})
	if err == nil {
		t.Fatal("the merge cancelled half-way succeeded")
	}
	if st == nil {
		t.Fatal("no stream began")
	}
	// The upload ends by itself: its reader fails once the merge has.
	select {
	case <-st.(*stream).done:
	case <-time.After(time.Minute):
		t.Fatal("the stream of a failed merge still runs")
	}
	if e := st.(*stream).err; e == nil || !strings.Contains(e.Error(), gguf.ErrAborted.Error()) || sent.Load() == 0 {
		t.Errorf("the stream had %d bytes to send and ended with %v; want the header sent, then the merge's abort", sent.Load(), e)
	}
	done := make(chan struct{})
	go func() { st.Cancel(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Cancel after a failed merge still waits")
	}
	blobName := regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)
	for {
		if names := partials(t, srv.Models, blobName); len(names) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	entries, err := os.ReadDir(filepath.Join(srv.Models, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("the store holds %s after an aborted streamed merge", e.Name())
	}
}

// countedFile records the most bytes Written reported, keeping the file a
// GrowingFile (its upload is sent from the file).
type countedFile struct {
	eval.GrowingFile
	n *atomic.Int64
}

func (c countedFile) Written(want int64) (int64, error) {
	got, err := c.GrowingFile.Written(want)
	c.n.Store(max(c.n.Load(), got))
	return got, err
}

// counted counts the bytes read.
type counted struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c counted) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestStreamFallback puts a proxy in front of the server that deletes a
// blob uploaded under another digest, as a server checking the digest
// would: Open falls back to uploading the finished file, says why, and the
// backend streams no more.
func TestStreamFallback(t *testing.T) {
	srv := server(t)
	var dropped atomic.Int32
	rp := httputil.NewSingleHostReverseProxy(srv.URL)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != http.MethodPost || !strings.HasPrefix(resp.Request.URL.Path, "/api/blobs/") || resp.StatusCode != http.StatusBadRequest {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil {
			return nil
		}
		if m := mismatchRE.FindStringSubmatch(e.Error); m != nil {
			if err := os.Remove(filepath.Join(srv.Models, "blobs", strings.ReplaceAll(m[1], ":", "-"))); err == nil {
				dropped.Add(1)
			}
		}
		return nil
	}
	proxy := httptest.NewServer(rp)
	t.Cleanup(proxy.Close)
	be, err := New(Options{Host: proxy.URL, ModelsDir: "-", NamePrefix: "stream-fallback", NumThread: 1})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := familyMergeConfig(t, dir, "float16")
	out := filepath.Join(dir, "cand.gguf")
	// unhashed, as a study's candidate: the fallback hashes the file
	digest, st, err := streamMergeHashed(t.Context(), t, be, cfg, out, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if st == nil {
		t.Fatal("no stream began")
	}
	m, err := st.(*stream).open(t.Context(), out, digest)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if dropped.Load() != 1 {
		t.Fatalf("the proxy dropped %d streamed blobs, want 1", dropped.Load())
	}
	s := m.Stats()
	if s.Streamed || !s.Uploaded || s.DigestGiven || !strings.Contains(s.StreamFallback, "did not keep") {
		t.Errorf("stats %+v: want the file hashed and uploaded after the stream, and why", s)
	}
	if !validDigest(m.Digest()) {
		t.Errorf("digest %q after the fallback", m.Digest())
	}
	if _, err := m.Generate(t.Context(), "abc", eval.GenerateOptions{MaxTokens: 2}); err != nil {
		t.Errorf("generate with the fallen-back model: %v", err)
	}
	var closed atomic.Bool
	if st := be.Stream(t.Context(), closeProbe{Reader: strings.NewReader("x"), closed: &closed}, 1); st != nil {
		t.Error("the backend streams again to a server that dropped a streamed upload")
		st.Cancel()
	}
}
