package ollama

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mergetune/mergetune/eval/ollama/ollamatest"
	"github.com/mergetune/mergetune/merge"
)

// cutProxy forwards TCP connections to a server and, once a blob upload's
// body has passed cutAfter bytes, calls cut (which may kill the server)
// and drops the connection: the server dies, or the network fails, while
// the upload is in flight.
type cutProxy struct {
	ln       net.Listener
	target   string
	cutAfter int
	cut      func()
	once     sync.Once
	cuts     chan struct{} // closed as the cut is made
}

func newCutProxy(t *testing.T, target string, cutAfter int, cut func()) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, cutAfter: cutAfter, cut: cut, cuts: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cutProxy) serve(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer s.Close()
	go func() {
		io.Copy(c, s)
		c.Close()
	}()
	buf := make([]byte, 32<<10)
	upload, sent := false, 0
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if bytes.Contains(buf[:n], []byte("POST /api/blobs/")) {
				upload = true
			}
			if upload {
				sent += n
				if sent > p.cutAfter {
					p.once.Do(func() {
						// Mark the cut before making it: killing the server
						// resets the client's connection at once, and Open may
						// return before a mark made afterwards.
						close(p.cuts)
						p.cut()
					})
					return
				}
			}
			if _, err := s.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestUploadCutMidway uploads a GGUF candidate through a connection that
// breaks half-way through the blob's body — the real `ollama serve`
// killed at that moment, or only the connection cut — and checks that
// Open fails with an error naming the upload, that the server's blob store
// holds no blob under the candidate's digest (nor any file of mergetune's),
// that no model was created, and that the candidate file is untouched.
// The killed server's own partial upload file (not under a digest's
// name) is removed by the server when it starts again.
func TestUploadCutMidway(t *testing.T) {
	dir := t.TempDir()
	abs, err := filepath.Abs(familyDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "merge.yml")
	yml := fmt.Sprintf("merge_method: task_arithmetic\nbase_model: %[1]s/base\nmodels:\n  - model: %[1]s/upper\n    parameters: {weight: 0.7}\n", abs)
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	cand := filepath.Join(dir, "cand.gguf")
	res, err := merge.RunFile(t.Context(), cfg, cand, merge.Options{Format: merge.FormatGGUF, GGUFType: "f32"})
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(cand)
	if err != nil {
		t.Fatal(err)
	}
	blobName := regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)
	for _, kill := range []bool{true, false} {
		t.Run(fmt.Sprintf("server killed=%v", kill), func(t *testing.T) {
			sdir := t.TempDir()
			srv, proxy, b := cutServer(t, sdir, len(before)/2, kill, "cut")
			_, err = b.OpenModelDigest(t.Context(), cand, res.Digest)
			select {
			case <-proxy.cuts:
			default:
				t.Fatalf("the upload was never cut (open: %v)", err)
			}
			if err == nil || !strings.Contains(err.Error(), "upload blob "+res.Digest) {
				t.Fatalf("open through a cut upload: %v, want an error naming the blob upload", err)
			}
			t.Logf("error: %v", err)
			checkCutLeftNothing(t, srv, kill, blobName)
			if kill {
				// The server removes such files when it starts again with
				// pruning on (the harness turns it off by default).
				again := ollamatest.New(t, ollamatest.Options{ContextLength: 2048, Dir: sdir, Env: []string{"OLLAMA_NOPRUNE=false"}})
				if names := partials(t, again.Models, blobName); len(names) != 0 {
					t.Errorf("after a restart the blob store still holds %v", names)
				}
			}
			after, err := os.ReadFile(cand)
			if err != nil || !bytes.Equal(before, after) {
				t.Errorf("the candidate changed (%v)", err)
			}
		})
	}
}

// partials lists the files of the blob store that are not complete blobs
// (the server's temporary upload files).
func partials(t *testing.T, models string, blobName *regexp.Regexp) []string {
	entries, err := os.ReadDir(filepath.Join(models, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !blobName.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestStreamCutMidway streams a candidate while its merge writes it
// (Backend.Stream) through a connection that breaks half-way through the
// body — the real `ollama serve` killed at that moment, or only the
// connection cut, which then cuts the plain upload the stream falls back
// to as well — and checks that opening fails with an error naming the
// blob upload or the dead server, that the server's blob store holds no
// blob (nor any file of mergetune's), and that no model was created.
func TestStreamCutMidway(t *testing.T) {
	dir := t.TempDir()
	cfg := familyMergeConfig(t, dir, "float32")
	res, err := merge.RunFile(t.Context(), cfg, filepath.Join(dir, "size.gguf"), merge.Options{Format: merge.FormatGGUF})
	if err != nil {
		t.Fatal(err)
	}
	blobName := regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)
	for _, kill := range []bool{true, false} {
		t.Run(fmt.Sprintf("server killed=%v", kill), func(t *testing.T) {
			srv, proxy, b := cutServer(t, t.TempDir(), int(res.Bytes/2), kill, "scut")
			out := filepath.Join(dir, fmt.Sprintf("cand-%v.gguf", kill))
			digest, st, err := streamMergeHashed(t.Context(), t, b, cfg, out, nil, false)
			if err != nil {
				t.Fatalf("the merge failed with its stream: %v", err)
			}
			if st == nil {
				t.Fatal("no stream began")
			}
			m, err := st.(*stream).open(t.Context(), out, digest)
			if err == nil {
				m.Close()
				t.Fatal("a candidate whose uploads were cut opened")
			}
			select {
			case <-proxy.cuts:
			default:
				t.Fatalf("the stream was never cut (open: %v)", err)
			}
			if !strings.Contains(err.Error(), "upload blob") && !strings.Contains(err.Error(), "ollama: open") || !strings.Contains(err.Error(), "streamed upload") {
				t.Errorf("open after a cut stream: %v, want an error naming the upload or the server, and the streamed upload before it", err)
			}
			t.Logf("error: %v", err)
			checkCutLeftNothing(t, srv, kill, blobName)
		})
	}
}

// cutServer starts a private `ollama serve` in sdir behind a cutProxy
// that breaks an upload after cutAfter bytes, killing the server at that
// moment when kill is set, and returns a backend for it through the
// proxy (one retry, names starting with prefix, no blob placement).
func cutServer(t *testing.T, sdir string, cutAfter int, kill bool, prefix string) (*ollamatest.Server, *cutProxy, *Backend) {
	t.Helper()
	srv := ollamatest.New(t, ollamatest.Options{ContextLength: 2048, Dir: sdir})
	cut := func() {}
	if kill {
		cut = srv.Kill
	}
	proxy := newCutProxy(t, srv.URL.Host, cutAfter, cut)
	b, err := New(Options{Host: "http://" + proxy.ln.Addr().String(), ModelsDir: "-", NamePrefix: prefix,
		Retries: 1, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return srv, proxy, b
}

// checkCutLeftNothing checks the private server srv after a cut upload:
// once a live server has dropped its partial upload (a hang is the
// watchdog's), it has no model; and its blob store holds no blob and no
// file of mergetune's. A killed server's own temporary file, never under
// a digest's name, is only logged: the server prunes it when it starts
// again.
func checkCutLeftNothing(t *testing.T, srv *ollamatest.Server, killed bool, blobName *regexp.Regexp) {
	t.Helper()
	if !killed {
		for len(partials(t, srv.Models, blobName)) != 0 {
			time.Sleep(20 * time.Millisecond)
		}
		ms, err := srv.Client().List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms.Models {
			t.Errorf("model %s created from a cut upload", m.Name)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(srv.Models, "blobs"))
	for _, e := range entries {
		switch {
		case blobName.MatchString(e.Name()):
			t.Errorf("the blob store holds %s after a cut upload", e.Name())
		case strings.HasPrefix(e.Name(), ".mergetune-"):
			t.Errorf("mergetune left %s in the blob store", e.Name())
		default:
			t.Logf("server's partial file left by the kill: %s", e.Name())
		}
	}
}
