package hub

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeHub serves a repository under the hub's paths: the listing API,
// HEAD and GET on /{repo}/resolve/{rev}/{file}, with large files (LFS:
// *.safetensors, *.bin) redirected to a second server (the storage), which
// honours Range requests.
type fakeHub struct {
	t       *testing.T
	repo    string
	commit  string
	revs    map[string]string // branch or tag -> commit
	files   map[string][]byte
	hub     *httptest.Server
	storage *httptest.Server

	mu       sync.Mutex
	requests []request
	// cutAfter, when > 0, makes the next storage GET send only that many
	// bytes of the body and then break the connection.
	cutAfter int
}

type request struct {
	Server, Method, Path, Range, Auth string
}

func lfs(name string) bool {
	return strings.HasSuffix(name, ".safetensors") || strings.HasSuffix(name, ".bin")
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func newFakeHub(t *testing.T, repo, commit string, files map[string][]byte) *fakeHub {
	f := &fakeHub{t: t, repo: repo, commit: commit, files: files, revs: map[string]string{"main": commit}}
	f.storage = httptest.NewServer(http.HandlerFunc(f.serveStorage))
	f.hub = httptest.NewServer(http.HandlerFunc(f.serveHub))
	t.Cleanup(func() { f.hub.Close(); f.storage.Close() })
	return f
}

func (f *fakeHub) record(server string, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, request{server, r.Method, r.URL.Path, r.Header.Get("Range"), r.Header.Get("Authorization")})
}

func (f *fakeHub) log() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

func (f *fakeHub) commitOf(rev string) (string, bool) {
	for _, c := range f.revs {
		if rev == c {
			return c, true
		}
	}
	c, ok := f.revs[rev]
	return c, ok
}

func (f *fakeHub) serveHub(w http.ResponseWriter, r *http.Request) {
	f.record("hub", r)
	api := "/api/models/" + f.repo + "/revision/"
	if rev, ok := strings.CutPrefix(r.URL.Path, api); ok {
		commit, ok := f.commitOf(rev)
		if !ok {
			http.NotFound(w, r)
			return
		}
		type sib struct {
			Name string `json:"rfilename"`
		}
		var sibs []sib
		for name := range f.files {
			sibs = append(sibs, sib{name})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": f.repo, "sha": commit, "siblings": sibs})
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/"+f.repo+"/resolve/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	rev, name, _ := strings.Cut(rest, "/")
	commit, ok := f.commitOf(rev)
	data, okf := f.files[name]
	if !ok || !okf {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("X-Repo-Commit", commit)
	if lfs(name) {
		sum := sha256Hex(data)
		w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(data)))
		w.Header().Set("ETag", `"not-this-one"`)
		http.Redirect(w, r, f.storage.URL+"/blobs/"+sum, http.StatusFound)
		return
	}
	s := sha1.Sum(data)
	w.Header().Set("ETag", `W/"`+hex.EncodeToString(s[:])+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(data)
	}
}

func (f *fakeHub) serveStorage(w http.ResponseWriter, r *http.Request) {
	f.record("storage", r)
	sum := strings.TrimPrefix(r.URL.Path, "/blobs/")
	var data []byte
	for _, d := range f.files {
		if sha256Hex(d) == sum {
			data = d
		}
	}
	if data == nil {
		http.NotFound(w, r)
		return
	}
	start := 0
	if rg := r.Header.Get("Range"); rg != "" {
		var err error
		start, err = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		if err != nil || start >= len(data) {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)-start))
	f.mu.Lock()
	cut := f.cutAfter
	f.cutAfter = 0
	f.mu.Unlock()
	if start > 0 {
		w.WriteHeader(http.StatusPartialContent)
	}
	if cut > 0 {
		_, _ = w.Write(data[start : start+cut])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			f.t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
		return
	}
	_, _ = w.Write(data[start:])
}
