// Package ollama is an eval.Backend that serves models through a local
// Ollama server (https://ollama.com), version 0.17.4 or later.
//
// Open converts a Hugging Face safetensors directory into a GGUF file with
// Ollama's own converter (github.com/ollama/ollama/convert, pure Go),
// uploads it as a blob and creates a model from it under a name that says
// which study and trial it belongs to (Options.NamePrefix plus a short
// content digest), optionally quantized. Requests are raw /api/generate
// calls with greedy, deterministic options (temperature 0, repeat_penalty 1,
// top_k 1, a fixed seed and num_ctx) and truncate false, so that a prompt
// longer than the context is an error instead of being cut silently. Close
// unloads the model and deletes it unless Options.Keep is set.
//
// Open first probes the server (GET /api/version) within a few seconds
// (Timeouts.Probe): a host where nothing listens gives an error wrapping
// ErrUnreachable that says how to start a server, one that accepts
// connections but does not answer an error wrapping ErrNoAnswer. Each
// attempt of a request is bounded by a limit scaled to its work
// (Timeouts: a base plus a share per token asked for; longer for the
// import), and requests that fail on the way (a dropped connection, a 5xx
// answer, an attempt past its limit) are retried with exponential backoff. Ollama has no
// prompt log-likelihood, so a Model does not implement eval.LogLikelihooder:
// a task with a log-likelihood scoring mode (acc, acc_norm) is refused
// with an error naming it and suggesting scoring: letter.
package ollama

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/convert"
	fsggml "github.com/ollama/ollama/fs/ggml"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/results"
)

// Defaults of Options.
const (
	DefaultNumCtx     = 2048
	DefaultRetries    = 3
	DefaultBackoff    = 250 * time.Millisecond
	DefaultNamePrefix = "mergetune"
	// DefaultKeepAlive is how long the server keeps an opened model
	// loaded after its last request (Close unloads it at once).
	DefaultKeepAlive = 30 * time.Minute
)

// Options configure the Ollama backend. The zero value works against a
// server at OLLAMA_HOST (default http://127.0.0.1:11434).
type Options struct {
	// Host is the server's address, as in OLLAMA_HOST ("host:port",
	// "http://host:port", …). Empty: OLLAMA_HOST, else
	// http://127.0.0.1:11434.
	Host string
	// Parallel is the most requests of one model in flight at once; match
	// the server's OLLAMA_NUM_PARALLEL (0: 1). Further requests wait.
	Parallel int
	// NumCtx is the context size sent with every request (0:
	// DefaultNumCtx). The server caps it at the model's context length.
	NumCtx int
	// NumThread is the runner's num_thread, sent with every request (0:
	// the server's choice, the number of physical cores). One thread is
	// fastest for tiny models, and steadier on a busy machine.
	NumThread int
	// NoMmap leaves the runner's use_mmap to the server. By default every
	// request asks for use_mmap: the runner then maps the GGUF, which the
	// merge has just written and the page cache holds, where a CPU-only
	// server (v0.17.4) would otherwise read the whole file into memory at
	// each load. It changes no answer.
	NoMmap bool
	// Seed is the sampling seed sent with every request (decoding is
	// greedy, so it only pins the sampler's state).
	Seed int
	// Quantize is passed to the server's create: "" (keep the converter's
	// F16/BF16 weights), "q8_0" or "q4_K_M".
	Quantize string
	// Keep keeps the model on the server after Close (it is still
	// unloaded from memory).
	Keep bool
	// NamePrefix starts the names of created models, e.g.
	// "mergetune-<study>-<trial>"; a short content digest follows it
	// (empty: DefaultNamePrefix). Characters Ollama does not accept in a
	// model name are replaced by '-'.
	NamePrefix string
	// Retries is how many times a failed request is repeated (0:
	// DefaultRetries; negative: never).
	Retries int
	// Backoff is the wait before the first retry, doubled before each
	// further one (0: DefaultBackoff).
	Backoff time.Duration
	// Timeouts bound the health probe and each attempt of each request,
	// scaled to the work it asks for (zero fields: their defaults).
	Timeouts Timeouts
	// Engine names the server's inference engine in Settings, so cached
	// answers of different engines are kept apart: "" or "llamacpp" for
	// the default runner, "ollama" for OLLAMA_NEW_ENGINE=1. It does not
	// change the server.
	Engine string
	// HTTPClient is used for all requests (nil: a client without an
	// overall timeout; Timeouts bound each attempt).
	HTTPClient *http.Client
	// Progress, when set, is told how an import advances (a large model
	// takes minutes to convert and upload).
	Progress func(ImportProgress)
	// ModelsDir is the server's models directory (its OLLAMA_MODELS),
	// when the server runs on this machine and may be handed files
	// directly: a GGUF candidate is then linked (copied where a link is
	// impossible) into its blob store and only create is called, with no
	// upload. Empty: the OLLAMA_MODELS environment variable when the
	// server's host is a loopback address; without it, the directory of
	// the blob the server reports for the first model the Backend creates
	// (its Modelfile's FROM), where this machine sees that blob: the first
	// candidate is uploaded (or streamed), the later ones placed. Else
	// none. "-" never uses the blob store directly. A blob the server does
	// not then see (the directory is not its store) is removed again and
	// uploaded as usual, and the Backend uploads or streams its
	// candidates from then on, as it does once a placement into a learned
	// store fails (a store this user may not write).
	ModelsDir string
	// NoStream uploads a GGUF candidate once its merge has ended instead
	// of while the merge writes it (Backend.Stream).
	NoStream bool
}

// ImportProgress is one step of an import: Stage is "convert", "hash",
// "upload", "create" or "load"; Done and Total count bytes where known (0
// when not).
type ImportProgress struct {
	Stage       string
	Done, Total int64
}

// report calls the Progress callback when there is one.
func (b *Backend) report(stage string, done, total int64) {
	if b.opt.Progress != nil {
		b.opt.Progress(ImportProgress{Stage: stage, Done: done, Total: total})
	}
}

// Backend is the Ollama eval.Backend. It is safe for concurrent use.
type Backend struct {
	opt    Options
	host   *url.URL
	http   *http.Client
	send   *http.Client // streamed uploads (see upload.go)
	client *api.Client
	// local: the server's host is a loopback address; its copy of an
	// upload is written on this machine (see releaser).
	local bool
	// noStream: the server dropped a streamed upload (see Stream).
	noStream atomic.Bool
	// noPlace: the server did not see a blob placed into its store, or
	// the store it reported could not be written (see place).
	noPlace atomic.Bool
	// learn: the server's store may be learned from the server (see
	// learnStore); learned is it, once learned.
	learn      bool
	learnTried atomic.Bool
	learned    atomic.Pointer[string]
}

var _ eval.Backend = (*Backend)(nil)

// New returns a backend for the server at opt.Host. It does not contact
// the server: Open does.
func New(opt Options) (*Backend, error) {
	host, err := hostURL(opt.Host)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(opt.Quantize) {
	case "":
	case "q8_0", "q4_k_m", "q4_k", "q4_k_s", "f16", "f32":
	default:
		return nil, fmt.Errorf("ollama: unsupported quantization %q (want \"\", q8_0 or q4_K_M)", opt.Quantize)
	}
	if opt.Parallel <= 0 {
		opt.Parallel = 1
	}
	if opt.NumCtx <= 0 {
		opt.NumCtx = DefaultNumCtx
	}
	switch {
	case opt.Retries == 0:
		opt.Retries = DefaultRetries
	case opt.Retries < 0:
		opt.Retries = 0
	}
	if opt.Backoff <= 0 {
		opt.Backoff = DefaultBackoff
	}
	opt.Timeouts = opt.Timeouts.WithDefaults()
	if opt.NamePrefix == "" {
		opt.NamePrefix = DefaultNamePrefix
	}
	opt.NamePrefix = sanitizeName(opt.NamePrefix)
	learn := false
	switch {
	case opt.ModelsDir == "-":
		opt.ModelsDir = ""
	case opt.ModelsDir == "" && isLoopback(host):
		opt.ModelsDir = os.Getenv("OLLAMA_MODELS")
		learn = opt.ModelsDir == ""
	}
	switch opt.Engine {
	case "":
		opt.Engine = "llamacpp"
	case "llamacpp", "ollama":
	default:
		return nil, fmt.Errorf("ollama: unknown engine %q (want llamacpp or ollama)", opt.Engine)
	}
	hc, send := opt.HTTPClient, opt.HTTPClient
	if hc == nil {
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		hc = &http.Client{Transport: &http.Transport{
			Proxy:               nil, // a local server: never through a proxy
			DialContext:         d.DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		}}
		send = &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: sendfileDialer(d), IdleConnTimeout: 90 * time.Second}}
	}
	return &Backend{opt: opt, host: host, local: isLoopback(host), learn: learn, http: hc, send: send, client: api.NewClient(host, hc)}, nil
}

// CandidateFormat implements eval.CandidateFormatter: candidates are GGUF
// files, written in q8_0 by the merge when Options.Quantize is q8_0 (so
// the server need not quantize them).
func (b *Backend) CandidateFormat() (format, typ string) {
	if strings.EqualFold(b.opt.Quantize, "q8_0") {
		return "gguf", "q8_0"
	}
	return "gguf", ""
}

// Host returns the server's base URL.
func (b *Backend) Host() string { return b.host.String() }

// Client returns the Ollama API client the backend uses.
func (b *Backend) Client() *api.Client { return b.client }

// hostURL parses an OLLAMA_HOST-style address the way Ollama does
// (envconfig.Host): a missing scheme is http, a missing port 11434 (80 or
// 443 with an explicit http or https scheme). Empty s means the
// OLLAMA_HOST environment variable.
func hostURL(s string) (*url.URL, error) {
	if s == "" {
		s = os.Getenv("OLLAMA_HOST")
	}
	s = strings.TrimSpace(s)
	port := "11434"
	scheme, hostport, ok := strings.Cut(s, "://")
	switch {
	case !ok:
		scheme, hostport = "http", s
	case scheme == "http":
		port = "80"
	case scheme == "https":
		port = "443"
	default:
		return nil, fmt.Errorf("ollama: host %q: unknown scheme %q", s, scheme)
	}
	hostport, path, _ := strings.Cut(hostport, "/")
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		host = "127.0.0.1"
		if ip := net.ParseIP(strings.Trim(hostport, "[]")); ip != nil {
			host = ip.String()
		} else if hostport != "" {
			host = hostport
		}
	} else {
		if host == "" {
			host = "127.0.0.1"
		}
		port = p
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return nil, fmt.Errorf("ollama: host %q: invalid port %q", s, port)
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port), Path: path}, nil
}

// sanitizeName lower-cases s and replaces what Ollama does not accept in a
// model name by '-'.
func sanitizeName(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b), "-_.")
}

// ImportStats says what Open spent its time on.
type ImportStats struct {
	GGUFBytes int64         // size of the GGUF
	Convert   time.Duration // safetensors → GGUF (0 for a GGUF candidate)
	Hash      time.Duration // the GGUF's SHA-256
	Upload    time.Duration // blob upload or placement (0 when the server had it)
	Create    time.Duration // model creation, quantization included
	Load      time.Duration // loading the model into a runner
	Uploaded  bool          // false when the blob was already there
	Placed    bool          // the blob was put into the server's blob store directly
	// DigestGiven: the digest came with the candidate (the merge computed
	// it while writing the GGUF), so there was no hash stage.
	DigestGiven bool
	// Streamed: the blob was uploaded while the merge wrote the GGUF
	// (Backend.Stream); Upload is then how long the upload went on after
	// the merge had ended.
	Streamed bool
	// StreamFallback says why a streamed upload was not used, when one
	// was begun: the finished file was uploaded after the merge instead.
	StreamFallback string
}

// Total is the whole import time.
func (s ImportStats) Total() time.Duration {
	return s.Convert + s.Hash + s.Upload + s.Create + s.Load
}

// isLoopback reports whether the server's host is this machine.
func isLoopback(u *url.URL) bool {
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Open implements eval.Backend: it imports the model at path into the
// server and loads it. path is a Hugging Face safetensors directory
// (converted with Ollama's converter) or a GGUF file (imported as it is,
// e.g. written by the merge engine). The returned model is an *Model.
func (b *Backend) Open(ctx context.Context, path string) (eval.Model, error) {
	return b.OpenModel(ctx, path)
}

// OpenDigest implements eval.DigestOpener: it is Open of the GGUF file
// path whose "sha256:<hex>" digest is known (the merge computed it while
// writing the file), which is not hashed again. A wrong digest makes the
// server refuse the upload.
func (b *Backend) OpenDigest(ctx context.Context, path, digest string) (eval.Model, error) {
	return b.OpenModelDigest(ctx, path, digest)
}

// OpenModel is Open with the concrete result type.
func (b *Backend) OpenModel(ctx context.Context, path string) (*Model, error) {
	return b.OpenModelDigest(ctx, path, "")
}

// OpenModelDigest is OpenDigest with the concrete result type; an empty
// digest is computed.
func (b *Backend) OpenModelDigest(ctx context.Context, path, digest string) (*Model, error) {
	if digest != "" && !validDigest(digest) {
		return nil, fmt.Errorf("ollama: open %s: digest %q is not sha256:<64 hex digits>", path, digest)
	}
	version, err := b.Probe(ctx)
	if err != nil {
		return nil, fmt.Errorf("ollama: open %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("ollama: open %s: %w", path, err)
	}
	if fi.Mode().IsRegular() {
		return b.openGGUF(ctx, path, version, digest, ImportStats{})
	}
	if digest != "" {
		return nil, fmt.Errorf("ollama: open %s: a digest is only known for a GGUF file", path)
	}
	return b.openDir(ctx, path, version)
}

// validDigest reports whether d is "sha256:" and 64 lower-case hex digits.
func validDigest(d string) bool {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}

// openGGUF imports the GGUF file path, hashing it unless its digest is
// given; st holds what was done already (a streamed upload).
func (b *Backend) openGGUF(ctx context.Context, path, version, digest string, st ImportStats) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ollama: open %s: %w", path, err)
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != "GGUF" {
		return nil, fmt.Errorf("ollama: open %s: not a GGUF file nor a model directory", path)
	}
	if digest != "" {
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("ollama: open %s: %w", path, err)
		}
		st.GGUFBytes = fi.Size()
		st.DigestGiven = true
		return b.importGGUF(ctx, path, f, digest, version, st)
	}
	start := time.Now()
	b.report("hash", 0, 0)
	digest, size, err := fileDigest(f)
	if err != nil {
		return nil, fmt.Errorf("ollama: open %s: hash GGUF: %w", path, err)
	}
	st.GGUFBytes = size
	st.Hash = time.Since(start)
	b.report("hash", size, size)
	return b.importGGUF(ctx, path, f, digest, version, st)
}

// openDir converts the model directory dir to GGUF and imports it.
func (b *Backend) openDir(ctx context.Context, dir, version string) (*Model, error) {
	var st ImportStats
	start := time.Now()
	f, err := os.CreateTemp("", "mergetune-*.gguf")
	if err != nil {
		return nil, fmt.Errorf("ollama: open %s: %w", dir, err)
	}
	converted := f // f may become the fixed copy below; both are removed
	defer func() {
		converted.Close()
		os.Remove(converted.Name())
	}()
	b.report("convert", 0, 0)
	if err := convertModel(os.DirFS(dir), f); err != nil {
		return nil, fmt.Errorf("ollama: open %s: convert to GGUF: %w", dir, err)
	}
	fixed, err := fixGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("ollama: open %s: check GGUF: %w", dir, err)
	}
	if fixed != f {
		defer func() {
			fixed.Close()
			os.Remove(fixed.Name())
		}()
		f = fixed
	}
	st.Convert = time.Since(start)
	b.report("convert", 0, 0)
	start = time.Now()
	digest, size, err := fileDigest(f)
	if err != nil {
		return nil, fmt.Errorf("ollama: open %s: hash GGUF: %w", dir, err)
	}
	st.GGUFBytes = size
	st.Hash = time.Since(start)
	return b.importGGUF(ctx, dir, f, digest, version, st)
}

// importGGUF makes the GGUF f (of digest, named path in errors) a model
// of the server and loads it.
func (b *Backend) importGGUF(ctx context.Context, dir string, f *os.File, digest, version string, st ImportStats) (*Model, error) {
	size := st.GGUFBytes
	start := time.Now()
	exists := st.Streamed // the blob is there: Stream checked
	if !exists {
		var err error
		if exists, err = b.hasBlob(ctx, digest); err != nil {
			return nil, fmt.Errorf("ollama: open %s: %w", dir, err)
		}
	}
	if !exists {
		placed, err := b.place(ctx, f, digest)
		if err != nil {
			return nil, fmt.Errorf("ollama: open %s: %w", dir, err)
		}
		exists, st.Placed = placed, placed
	}
	if !exists {
		err := b.retry(ctx, "upload blob "+digest, b.opt.Timeouts.Import, func(ctx context.Context) error {
			return b.UploadBlob(ctx, digest, f, size)
		})
		if err != nil {
			return nil, fmt.Errorf("ollama: open %s: %w", dir, err)
		}
		st.Uploaded = true
	}
	if !st.Streamed {
		st.Upload = time.Since(start)
	}

	hexDigest := strings.TrimPrefix(digest, "sha256:")
	name := b.opt.NamePrefix + "-" + hexDigest[:12]
	if b.opt.Quantize != "" {
		name += "-" + sanitizeName(b.opt.Quantize)
	}
	name += ":latest"
	m := b.newModel(name, digest, version)

	// A GGUF already in the asked-for quantization is not quantized
	// again (the merge writes q8_0 itself).
	quantize := b.opt.Quantize
	if h, err := readGGUFHeader(f); err == nil && quantize != "" && fileTypes()[strings.ToLower(quantize)] == h.uint32s["general.file_type"] {
		quantize = ""
	}
	start = time.Now()
	b.report("create", 0, 0)
	if err := b.create(ctx, name, digest, quantize); err != nil {
		return nil, fmt.Errorf("ollama: open %s: %w", dir, err)
	}
	st.Create = time.Since(start)
	b.learnStore(ctx, name, digest, size)
	fail := func(err error) (*Model, error) {
		if !b.opt.Keep {
			// Best effort: the model is useless; do not leave it behind.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			_ = b.client.Delete(cctx, &api.DeleteRequest{Model: name})
		}
		return nil, fmt.Errorf("ollama: open %s: %w", dir, err)
	}
	if quantize != "" {
		// The weights are the server's quantization of the GGUF: identify
		// them by the digest the server reports.
		d, err := b.listedDigest(ctx, name)
		if err != nil {
			return fail(err)
		}
		m.digest = d
		m.source = digest
	}

	start = time.Now()
	b.report("load", 0, 0)
	if err := m.load(ctx); err != nil {
		return fail(err)
	}
	st.Load = time.Since(start)
	m.stats = st
	return m, nil
}

// convertModel runs Ollama's converter, turning a panic into an error.
func convertModel(fsys fs.FS, f *os.File) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("converter panicked: %v", r)
		}
	}()
	return convert.ConvertModel(fsys, f)
}

// fileDigest returns the "sha256:<hex>" digest and the size of f.
func fileDigest(f *os.File) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return "", 0, err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n, nil
}

// hasBlob asks the server whether it holds the blob (HEAD
// /api/blobs/<digest>; the api client has no method for it).
func (b *Backend) hasBlob(ctx context.Context, digest string) (bool, error) {
	var exists bool
	err := b.retry(ctx, "check blob "+digest, b.opt.Timeouts.Request, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, b.host.JoinPath("/api/blobs/", digest).String(), nil)
		if err != nil {
			return err
		}
		resp, err := b.http.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			exists = true
		case resp.StatusCode == http.StatusNotFound:
			exists = false
		default:
			return api.StatusError{StatusCode: resp.StatusCode, Status: resp.Status}
		}
		return nil
	})
	return exists, err
}

// create creates the model name from the blob digest and waits for the
// server's "success".
func (b *Backend) create(ctx context.Context, name, digest, quantize string) error {
	return b.retry(ctx, "create "+name, b.opt.Timeouts.Import, func(ctx context.Context) error {
		var last string
		err := b.client.Create(ctx, &api.CreateRequest{
			Model:    name,
			Files:    map[string]string{"model.gguf": digest},
			Quantize: quantize,
		}, func(p api.ProgressResponse) error {
			last = p.Status
			if p.Total > 0 {
				b.report("create", p.Completed, p.Total) // quantizing
			}
			return nil
		})
		if err != nil {
			return err
		}
		if last != "success" {
			return fmt.Errorf("%w: last status %q", errIncomplete, last)
		}
		return nil
	})
}

// fileTypes maps the quantizations a GGUF may already have to their
// general.file_type (llama.cpp's LLAMA_FTYPE_MOSTLY_*).
func fileTypes() map[string]uint32 { return map[string]uint32{"q8_0": uint32(fsggml.FileTypeQ8_0)} }

// listedDigest returns the digest List reports for the model name.
func (b *Backend) listedDigest(ctx context.Context, name string) (string, error) {
	var digest string
	err := b.retry(ctx, "list models", b.opt.Timeouts.Request, func(ctx context.Context) error {
		l, err := b.client.List(ctx)
		if err != nil {
			return err
		}
		for _, m := range l.Models {
			if m.Name == name || m.Model == name {
				digest = m.Digest
				return nil
			}
		}
		return fmt.Errorf("model %s is not listed", name)
	})
	if err != nil {
		return "", err
	}
	if digest == "" {
		return "", errors.New("ollama: list reports no digest for " + name)
	}
	if !strings.HasPrefix(digest, "sha256:") {
		digest = "sha256:" + digest
	}
	return digest, nil
}

// newModel returns the handle of the server's model name.
func (b *Backend) newModel(name, digest, version string) *Model {
	return &Model{b: b, name: name, digest: digest, version: version,
		sem: make(chan struct{}, b.opt.Parallel), closed: make(chan struct{})}
}

// Stages returns the import's stages in order, as a trial records them:
// convert (only for a safetensors candidate), hash (unless the digest came
// with the candidate), upload (or "upload after merge" for a candidate
// uploaded while the merge wrote it, "place" for one put into the
// server's store), create, load.
func (s ImportStats) Stages() results.Stages {
	var out results.Stages
	if s.Convert > 0 {
		out = append(out, results.Stage{Name: "convert", Time: s.Convert})
	}
	if !s.DigestGiven {
		out = append(out, results.Stage{Name: "hash", Time: s.Hash})
	}
	upload := "upload"
	switch {
	case s.Streamed:
		// sent while the merge wrote it: what is left after the merge
		upload = "upload after merge"
	case s.Placed:
		upload = "place" // linked (or copied) into the server's store
	}
	return append(out,
		results.Stage{Name: upload, Time: s.Upload},
		results.Stage{Name: "create", Time: s.Create},
		results.Stage{Name: "load", Time: s.Load})
}
