package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maxInfoSize bounds the repository listing read from the hub.
const maxInfoSize = 32 << 20

// attempts is how many times a broken transfer of one file is resumed.
const attempts = 4

// Download fetches into the cache the files of ref that a merge needs and
// the snapshot lacks, and returns the snapshot directory. The files are
// listed through {Endpoint}/api/models/{repo}/revision/{revision}; from
// them it takes the weights (the safetensors index and its shards, else
// model.safetensors, else every *.safetensors file, else the same for
// pytorch_model.bin: .bin only where there are no safetensors) and the
// files of Extra the repository has. Each file is located with
// HEAD {Endpoint}/{repo}/resolve/{commit}/{file} (X-Repo-Commit,
// X-Linked-Etag or ETag, X-Linked-Size or Content-Length, Location) and
// downloaded into blobs/<etag>.incomplete, resumed with an HTTP Range
// request after a broken transfer (here or in an earlier run), checked
// (size, and SHA-256 where the etag is one) and renamed to blobs/<etag>;
// snapshots/<commit>/<file> links to it and refs/<revision> records the
// commit, as huggingface_hub lays the cache out. Concurrent downloads of
// a blob are serialised by the lock file huggingface_hub uses
// (.locks/models--org--name/<etag>.lock).
func (c *Client) Download(ctx context.Context, ref Ref) (string, error) {
	files, commit, err := c.listFiles(ctx, ref)
	if err != nil {
		return "", err
	}
	index, weights, ok := selectWeights(files)
	if !ok {
		return "", fmt.Errorf("repository %s at revision %s holds no weights a merge reads (model.safetensors, *.safetensors, pytorch_model.bin or their shard index)", ref.Repo, ref.Revision)
	}
	listed := map[string]bool{}
	for _, f := range files {
		listed[f] = true
	}
	var want []string
	for _, f := range c.Extra {
		if listed[f] {
			want = append(want, f)
		}
	}
	if index != "" {
		want = append(want, index)
	}
	want = append(want, weights...)
	d := &download{c: c, ref: ref, commit: commit, repoDir: filepath.Join(c.Cache, repoFolder(ref.Repo))}
	for _, f := range want {
		if err := d.fetch(ctx, f); err != nil {
			return "", err
		}
	}
	if index != "" {
		shards, err := readIndex(filepath.Join(d.snapshot(), index))
		if err != nil {
			return "", err
		}
		for _, s := range shards {
			if err := d.fetch(ctx, s); err != nil {
				return "", err
			}
		}
	}
	if ref.Revision != d.commit {
		p := filepath.Join(d.repoDir, "refs", filepath.FromSlash(ref.Revision))
		if err := writeAtomic(p, []byte(d.commit)); err != nil {
			return "", err
		}
	}
	return d.snapshot(), nil
}

// download is the state of one Download.
type download struct {
	c       *Client
	ref     Ref
	commit  string // "" until known
	repoDir string
}

func (d *download) snapshot() string { return filepath.Join(d.repoDir, "snapshots", d.commit) }

// auth adds the token to a request bound for the endpoint's host.
func (c *Client) auth(req *http.Request) {
	if c.Token == "" {
		return
	}
	if e, err := url.Parse(c.Endpoint); err == nil && e.Host == req.URL.Host {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
}

// statusError describes an unsuccessful response to what.
func statusError(what string, resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%s: %s (a gated or private repository: set HF_TOKEN to a token with access)", what, resp.Status)
	case http.StatusNotFound:
		return fmt.Errorf("%s: %s (no such repository, revision or file)", what, resp.Status)
	}
	return fmt.Errorf("%s: %s", what, resp.Status)
}

// listFiles returns the repository's file names at ref's revision and the
// commit the revision names ("" if the listing does not say).
func (c *Client) listFiles(ctx context.Context, ref Ref) ([]string, string, error) {
	u := c.Endpoint + "/api/models/" + ref.Repo + "/revision/" + url.PathEscape(ref.Revision)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", fmt.Errorf("list %s: %w", ref, err)
	}
	c.auth(req)
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("list %s: %w", ref, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", statusError("list "+u, resp)
	}
	var info struct {
		SHA      string `json:"sha"`
		Siblings []struct {
			Name string `json:"rfilename"`
		} `json:"siblings"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxInfoSize)).Decode(&info); err != nil {
		return nil, "", fmt.Errorf("list %s: %w", u, err)
	}
	if info.SHA != "" && !IsCommit(info.SHA) {
		return nil, "", fmt.Errorf("list %s: sha %q is not a commit hash", u, info.SHA)
	}
	var files []string
	for _, s := range info.Siblings {
		if checkFileName(s.Name) == nil {
			files = append(files, s.Name)
		}
	}
	return files, info.SHA, nil
}

// meta is what HEAD says of a file.
type meta struct {
	commit, etag, location string
	size                   int64 // -1 when unknown
}

// head locates file: the hub answers LFS files with a redirect to their
// storage, whose headers describe the file; redirects within the
// endpoint's host (a renamed repository) are followed.
func (d *download) head(ctx context.Context, file string) (*meta, error) {
	rev := d.commit
	if rev == "" {
		rev = d.ref.Revision
	}
	u := d.c.Endpoint + "/" + d.ref.Repo + "/resolve/" + url.PathEscape(rev) + "/" + escapePath(file)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return nil, fmt.Errorf("locate %s: %w", file, err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	d.c.auth(req)
	hc := *d.c.http()
	hc.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		if r.URL.Host != via[0].URL.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("locate %s: %w", u, err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return nil, statusError("locate "+u, resp)
	}
	m := &meta{commit: resp.Header.Get("X-Repo-Commit"), size: -1, location: resp.Request.URL.String()}
	if !IsCommit(m.commit) {
		return nil, fmt.Errorf("locate %s: the answer has no X-Repo-Commit commit hash (%q): is HF_ENDPOINT a Hugging Face hub?", u, m.commit)
	}
	etag := resp.Header.Get("X-Linked-Etag")
	if etag == "" {
		etag = resp.Header.Get("ETag")
	}
	m.etag = strings.Trim(strings.TrimPrefix(etag, "W/"), `"`)
	if !etagRe.MatchString(m.etag) {
		return nil, fmt.Errorf("locate %s: etag %q is missing or not a file name", u, etag)
	}
	size := resp.Header.Get("X-Linked-Size")
	if size == "" {
		size = resp.Header.Get("Content-Length")
	}
	if size != "" {
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("locate %s: size %q", u, size)
		}
		m.size = n
	}
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 {
		l, err := resp.Request.URL.Parse(loc)
		if err != nil {
			return nil, fmt.Errorf("locate %s: Location %q: %w", u, loc, err)
		}
		m.location = l.String()
	}
	return m, nil
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// fetch makes snapshots/<commit>/file present, downloading its blob if
// the cache lacks it.
func (d *download) fetch(ctx context.Context, file string) error {
	if d.commit != "" && exists(d.snapshot(), file) {
		return nil
	}
	m, err := d.head(ctx, file)
	if err != nil {
		return err
	}
	if d.commit == "" {
		d.commit = m.commit
	} else if m.commit != d.commit {
		return fmt.Errorf("%s: the hub answered commit %s for %s, expected %s (the revision moved during the download; run again)", d.ref, m.commit, file, d.commit)
	}
	if exists(d.snapshot(), file) {
		return nil
	}
	blob := filepath.Join(d.repoDir, "blobs", m.etag)
	if err := d.blob(ctx, file, m, blob); err != nil {
		return err
	}
	return link(filepath.Join(d.snapshot(), filepath.FromSlash(file)), blob)
}

// blob downloads m into blob unless it is there, under the blob's lock.
func (d *download) blob(ctx context.Context, file string, m *meta, blob string) error {
	lockDir := filepath.Join(d.c.Cache, ".locks", repoFolder(d.ref.Repo))
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return fmt.Errorf("download %s: %w", file, err)
	}
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return fmt.Errorf("download %s: %w", file, err)
	}
	lf, err := os.OpenFile(filepath.Join(lockDir, m.etag+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("download %s: %w", file, err)
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("download %s: lock %s: %w", file, lf.Name(), err)
	}
	defer unix.Flock(int(lf.Fd()), unix.LOCK_UN) //nolint:errcheck // closing releases it too
	if st, err := os.Stat(blob); err == nil && st.Mode().IsRegular() {
		return nil
	}
	inc := blob + ".incomplete"
	for try := 1; ; try++ {
		err = d.get(ctx, file, m, inc)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var perm *permanentError
		if errors.As(err, &perm) || try == attempts {
			return fmt.Errorf("download %s of %s: %w (the part fetched stays in %s and is resumed next time)", file, d.ref, err, inc)
		}
	}
	if err := verify(inc, m); err != nil {
		os.Remove(inc)
		return fmt.Errorf("download %s of %s: %w", file, d.ref, err)
	}
	if err := os.Rename(inc, blob); err != nil {
		return fmt.Errorf("download %s: %w", file, err)
	}
	return nil
}

// permanentError is a download failure that a retry does not mend.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// get appends to inc what it lacks of m, asking for the rest with a Range
// request when inc already holds a part.
func (d *download) get(ctx context.Context, file string, m *meta, inc string) error {
	f, err := os.OpenFile(inc, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return &permanentError{err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return &permanentError{err}
	}
	have := st.Size()
	if m.size >= 0 && have > m.size {
		have = 0
	}
	if m.size >= 0 && have == m.size {
		return f.Truncate(have)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.location, nil)
	if err != nil {
		return &permanentError{err}
	}
	req.Header.Set("Accept-Encoding", "identity")
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	d.c.auth(req)
	resp, err := d.c.http().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", have)) {
			return fmt.Errorf("GET %s: Content-Range %q does not start at byte %d", m.location, resp.Header.Get("Content-Range"), have)
		}
	case resp.StatusCode == http.StatusOK:
		have = 0
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// The part on disk is not a prefix the server knows: start over.
		if err := f.Truncate(0); err != nil {
			return &permanentError{err}
		}
		return fmt.Errorf("GET %s: %s for bytes %d-", m.location, resp.Status, have)
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return &permanentError{statusError("GET "+m.location, resp)}
	default:
		return statusError("GET "+m.location, resp)
	}
	if err := f.Truncate(have); err != nil {
		return &permanentError{err}
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return &permanentError{err}
	}
	var w io.Writer = f
	if d.c.Progress != nil {
		w = &progressWriter{w: f, p: Progress{Repo: d.ref.Repo, File: file, Done: have, Total: m.size}, fn: d.c.Progress}
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return &permanentError{err}
	}
	return f.Close()
}

// verify checks the downloaded file's size and, for an LFS file (whose
// etag is its SHA-256), its hash.
func verify(p string, m *meta) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if m.size >= 0 && st.Size() != m.size {
		return fmt.Errorf("%s holds %d bytes, the hub announced %d", p, st.Size(), m.size)
	}
	if len(m.etag) != 64 {
		return nil
	}
	if _, err := hex.DecodeString(m.etag); err != nil {
		return nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != strings.ToLower(m.etag) {
		return fmt.Errorf("%s has SHA-256 %s, the hub announced %s", p, sum, m.etag)
	}
	return nil
}

type progressWriter struct {
	w    io.Writer
	p    Progress
	last int64
	fn   func(Progress)
}

func (pw *progressWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	pw.p.Done += int64(n)
	if pw.p.Done-pw.last >= 1<<20 || (pw.p.Total >= 0 && pw.p.Done == pw.p.Total) {
		pw.last = pw.p.Done
		pw.fn(pw.p)
	}
	return n, err
}

// link makes p a relative symlink to target, replacing what is there.
func link(p, target string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("link %s: %w", p, err)
	}
	rel, err := filepath.Rel(filepath.Dir(p), target)
	if err != nil {
		return fmt.Errorf("link %s: %w", p, err)
	}
	tmp := fmt.Sprintf("%s.tmp-%d", p, os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return fmt.Errorf("link %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("link %s: %w", p, err)
	}
	return nil
}

// writeAtomic writes data to p through a temporary sibling and a rename.
func writeAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
