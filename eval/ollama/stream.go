package ollama

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/mergetune/mergetune/eval"
)

// Streaming a candidate while the merge writes it.
//
// The server names a blob by its digest, which is known only once the
// merge has written the last byte, and its upload call takes the digest
// first (POST /api/blobs/<digest>). The server, though, hashes what it
// receives and stores it under the digest it computed before comparing
// that with the one asked for (Ollama 0.17.4: server/routes.go
// CreateBlobHandler, manifest.NewLayer): an upload under a digest no file
// has is answered 400 "digest mismatch, expected …, got <digest>", and the
// blob stays stored under its true digest. Stream uploads the candidate so,
// under a random digest, while the merge writes it. When the merge has
// ended, the digest the server reports must be the merge's own and the
// server must hold that blob (HEAD /api/blobs/<digest>): then only create
// and load are left. Anything else (another answer, other bytes, a
// server that drops a mismatched upload) falls back to the plain upload
// of the finished file, and a server that dropped one is not streamed to
// again by this Backend.

var _ eval.Streamer = (*Backend)(nil)

// mismatchRE finds the digest the server computed in its answer to an
// upload under another digest.
var mismatchRE = regexp.MustCompile(`got "(sha256:[0-9a-f]{64})"`)

// stream is an upload begun while the merge writes the candidate.
type stream struct {
	b      *Backend
	cancel context.CancelFunc
	done   chan struct{}
	// set by the upload goroutine before done is closed
	got string // the digest the server stored the bytes under; "": none
	err error  // why there is no such digest
}

// Streams implements eval.Streamer: it is false where the candidate will
// be placed into the server's blob store instead (Options.ModelsDir),
// with Options.NoStream, and once the server has shown that it does not
// keep a streamed upload.
func (b *Backend) Streams() bool {
	return !b.opt.NoStream && !b.noStream.Load() && !b.canPlace()
}

// Stream implements eval.Streamer. It returns nil (and closes r) where
// Streams is false.
func (b *Backend) Stream(ctx context.Context, r io.ReadCloser, size int64) eval.Stream {
	if !b.Streams() {
		r.Close()
		return nil
	}
	var nonce [32]byte
	rand.Read(nonce[:])
	ask := "sha256:" + hex.EncodeToString(nonce[:])
	var cancel context.CancelFunc
	if t := b.opt.Timeouts.Import; t > 0 {
		ctx, cancel = context.WithTimeout(ctx, t)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	s := &stream{b: b, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer r.Close()
		err := b.UploadBlob(ctx, ask, r, size)
		var se api.StatusError
		switch {
		case err == nil:
			s.err = fmt.Errorf("the server took the streamed upload under the random digest %s", ask)
		case errors.As(err, &se) && se.StatusCode == http.StatusBadRequest:
			if m := mismatchRE.FindStringSubmatch(se.ErrorMessage); m != nil {
				s.got = m[1]
			} else {
				s.err = fmt.Errorf("streamed upload: %w", err)
			}
		default:
			s.err = fmt.Errorf("streamed upload: %w", err)
		}
	}()
	return s
}

// Open implements eval.Stream.
func (s *stream) Open(ctx context.Context, path, digest string) (eval.Model, error) {
	m, err := s.open(ctx, path, digest)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// open is Open with the concrete result type.
func (s *stream) open(ctx context.Context, path, digest string) (*Model, error) {
	b := s.b
	if digest != "" && !validDigest(digest) {
		s.Cancel()
		return nil, fmt.Errorf("ollama: open %s: digest %q is not sha256:<64 hex digits>", path, digest)
	}
	start := time.Now()
	select {
	case <-s.done:
	case <-ctx.Done():
		s.Cancel()
		return nil, fmt.Errorf("ollama: open %s: %w", path, ctx.Err())
	}
	s.cancel()
	// Open owns what the upload left: a later Cancel does nothing.
	got := s.got
	s.got = ""
	var why string
	switch {
	case s.err != nil:
		why = s.err.Error()
	case digest != "" && got != digest:
		why = fmt.Sprintf("the server received other bytes (%s) than the merge wrote (%s)", got, digest)
		b.dropStreamed(ctx, got)
	default:
		// The server's digest of what it received: the merge's own, or
		// the only one where the merge did not hash the file.
		held, err := b.hasBlob(ctx, got)
		if err != nil {
			return nil, fmt.Errorf("ollama: open %s: %w", path, err)
		}
		if held {
			return b.openStreamed(ctx, path, got, time.Since(start))
		}
		b.noStream.Store(true)
		why = "the server did not keep the streamed upload (this server gets candidates after their merge from now on)"
	}
	m, err := b.OpenModelDigest(ctx, path, digest) // hashes the file where digest is ""
	if err != nil {
		return nil, fmt.Errorf("%w (the plain upload after a streamed upload that did not take: %s)", err, why)
	}
	m.stats.StreamFallback = why
	return m, nil
}

// openStreamed opens the candidate path, of digest, whose blob the server
// holds already, streamed: wait is how long the upload went on after the
// merge.
func (b *Backend) openStreamed(ctx context.Context, path, digest string, wait time.Duration) (*Model, error) {
	version, err := b.Probe(ctx)
	if err != nil {
		return nil, fmt.Errorf("ollama: open %s: %w", path, err)
	}
	return b.openGGUF(ctx, path, version, digest, ImportStats{Uploaded: true, Streamed: true, Upload: wait})
}

// Cancel implements eval.Stream: it stops the upload, waits for it, and
// removes the blob from the server's store where the whole file had been
// sent. After Open it does nothing.
func (s *stream) Cancel() {
	s.cancel()
	<-s.done
	if s.got != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.b.dropStreamed(ctx, s.got)
		s.got = ""
	}
}

// dropStreamed removes the blob digest a streamed upload left that no
// candidate uses (best effort: a blob no model uses is also pruned when
// the server restarts).
func (b *Backend) dropStreamed(ctx context.Context, digest string) {
	name := b.opt.NamePrefix + "-dropped-" + strings.TrimPrefix(digest, "sha256:")[:12] + ":latest"
	_ = b.dropBlob(ctx, name, digest)
}
