// Package ollamatest starts a private `ollama serve` for tests: on a free
// 127.0.0.1 port, with its own temporary model store, a fixed context
// length and parallelism, and stops it (with the runner processes it
// started) at the end.
//
// The binary is found in the MERGETUNE_OLLAMA environment variable, else
// as `ollama` on PATH, else at DefaultBinary (where .ci/install-ollama
// builds it). A missing binary is an error, not a reason to skip: CI
// provides it.
package ollamatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ollama/ollama/api"
)

// DefaultBinary is where .ci/install-ollama puts the ollama binary (under
// the user's home directory).
const DefaultBinary = ".cache/mergetune/ollama-0.17.4/bin/ollama"

// Options configure the server.
type Options struct {
	// Binary is the ollama executable (empty: see FindBinary).
	Binary string
	// ContextLength is OLLAMA_CONTEXT_LENGTH (0: 2048).
	ContextLength int
	// NumParallel is OLLAMA_NUM_PARALLEL (0: 1).
	NumParallel int
	// KeepAlive is OLLAMA_KEEP_ALIVE (0: 10m).
	KeepAlive time.Duration
	// NewEngine sets OLLAMA_NEW_ENGINE=1 (the Go engine for llama).
	NewEngine bool
	// Dir holds the model store, home directory and log (empty: a new
	// temporary directory, removed by Close).
	Dir string
	// Env adds environment variables ("K=V") to the server's.
	Env []string
	// StartTimeout bounds the wait for the server to answer (0: 60s).
	StartTimeout time.Duration
}

// Server is a running `ollama serve`.
type Server struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:40123.
	URL *url.URL
	// Models is the server's OLLAMA_MODELS directory.
	Models string
	// LogPath is the file the server's output goes to.
	LogPath string

	cmd     *exec.Cmd
	dir     string
	rmDir   bool
	done    chan struct{} // closed when the process has exited
	waitErr error

	closeOnce sync.Once
	closeErr  error
}

// FindBinary returns the ollama binary: $MERGETUNE_OLLAMA, else `ollama`
// on PATH, else ~/DefaultBinary.
func FindBinary() (string, error) {
	if p := os.Getenv("MERGETUNE_OLLAMA"); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Errorf("ollamatest: MERGETUNE_OLLAMA=%s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("ollama"); err == nil {
		return p, nil
	}
	var tried []string
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, DefaultBinary)
		if executable(p) == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	return "", fmt.Errorf("ollamatest: no ollama binary: MERGETUNE_OLLAMA is unset, `ollama` is not on PATH "+
		"and %s does not exist; build it with `bash .ci/install-ollama`", strings.Join(tried, ", "))
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// New starts a server for the test and stops it when the test ends. It
// fails the test (never skips it) when the server cannot be started.
func New(t testing.TB, opt Options) *Server {
	t.Helper()
	s, err := Start(t.Context(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("ollamatest: %v", err)
		}
	})
	return s
}

// Start starts `ollama serve` and waits until it answers. ctx bounds the
// start only; call Close to stop the server.
func Start(ctx context.Context, opt Options) (*Server, error) {
	bin := opt.Binary
	if bin == "" {
		var err error
		if bin, err = FindBinary(); err != nil {
			return nil, err
		}
	} else if err := executable(bin); err != nil {
		return nil, fmt.Errorf("ollamatest: binary: %w", err)
	}
	if opt.ContextLength <= 0 {
		opt.ContextLength = 2048
	}
	if opt.NumParallel <= 0 {
		opt.NumParallel = 1
	}
	if opt.KeepAlive <= 0 {
		opt.KeepAlive = 10 * time.Minute
	}
	if opt.StartTimeout <= 0 {
		opt.StartTimeout = 60 * time.Second
	}
	dir, rmDir := opt.Dir, false
	if dir == "" {
		d, err := os.MkdirTemp("", "ollamatest-")
		if err != nil {
			return nil, fmt.Errorf("ollamatest: %w", err)
		}
		dir, rmDir = d, true
	}
	var lastErr error
	// A start can still fail for reasons of the moment; try a few times.
	for range 3 {
		s, err := start(ctx, bin, dir, opt)
		if err == nil {
			s.rmDir = rmDir
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	if rmDir {
		os.RemoveAll(dir)
	}
	return nil, lastErr
}

func start(ctx context.Context, bin, dir string, opt Options) (*Server, error) {
	models := filepath.Join(dir, "models")
	home := filepath.Join(dir, "home")
	for _, d := range []string{models, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("ollamatest: %w", err)
		}
	}
	logf, err := os.CreateTemp(dir, "serve-*.log")
	if err != nil {
		return nil, fmt.Errorf("ollamatest: %w", err)
	}
	logPath := logf.Name()
	defer logf.Close() // the child holds its own descriptor

	env := []string{}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OLLAMA_") || strings.HasPrefix(kv, "HOME=") {
			continue // the server's settings are ours alone
		}
		env = append(env, kv)
	}
	env = append(env,
		"HOME="+home,
		// port 0: the server binds a port of its own choosing and logs it,
		// so no other process can take it between a choice and the bind
		"OLLAMA_HOST=127.0.0.1:0",
		"OLLAMA_MODELS="+models,
		"OLLAMA_CONTEXT_LENGTH="+strconv.Itoa(opt.ContextLength),
		"OLLAMA_NUM_PARALLEL="+strconv.Itoa(opt.NumParallel),
		"OLLAMA_KEEP_ALIVE="+opt.KeepAlive.String(),
		"OLLAMA_NOPRUNE=1",
	)
	if opt.NewEngine {
		env = append(env, "OLLAMA_NEW_ENGINE=1")
	}
	env = append(env, opt.Env...)

	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ollamatest: start %s serve: %w", bin, err)
	}
	s := &Server{
		URL:     &url.URL{Scheme: "http"},
		Models:  models,
		LogPath: logPath,
		cmd:     cmd,
		dir:     dir,
		done:    make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()

	wctx, cancel := context.WithTimeout(ctx, opt.StartTimeout)
	defer cancel()
	for {
		// the address comes from the server's own log line, then the
		// server must answer on it
		if s.URL.Host == "" {
			s.URL.Host = listeningOn(s.Log())
		}
		var err error = errNotListening
		if s.URL.Host != "" {
			hctx, hcancel := context.WithTimeout(wctx, 2*time.Second)
			err = s.Client().Heartbeat(hctx)
			hcancel()
			if err == nil {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("ollamatest: %s serve exited at start (%v); log:\n%s", bin, s.waitErr, s.logTail())
		case <-wctx.Done():
			s.stop()
			return nil, fmt.Errorf("ollamatest: %s serve did not answer within %v: %w; log:\n%s",
				bin, opt.StartTimeout, err, s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// errNotListening: the server has not logged its address yet.
var errNotListening = errors.New("no \"Listening on\" line in its log yet")

// listening matches the server's log line naming its address.
var listening = regexp.MustCompile(`Listening on (127\.0\.0\.1:[0-9]+)`)

// listeningOn returns the address a server's log says it listens on, or
// "" before it says so.
func listeningOn(log string) string {
	if m := listening.FindStringSubmatch(log); m != nil {
		return m[1]
	}
	return ""
}

// Host returns the server's address as OLLAMA_HOST takes it
// ("http://127.0.0.1:PORT").
func (s *Server) Host() string { return s.URL.String() }

// Client returns an API client for the server.
func (s *Server) Client() *api.Client { return api.NewClient(s.URL, http.DefaultClient) }

// Log returns the server's output so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

func (s *Server) logTail() string {
	b := []byte(s.Log())
	const n = 4000
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// Close stops the server and the runner processes it started, and removes
// its temporary directory.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		if s.rmDir {
			s.closeErr = os.RemoveAll(s.dir)
		}
	})
	return s.closeErr
}

// Kill kills the server and its runners at once (SIGKILL, as a crash or
// the OOM killer would) and waits for the server to end; its directory
// stays until Close.
func (s *Server) Kill() {
	killGroup(s.cmd, true)
	<-s.done
}

// stop terminates the process group: SIGTERM, then SIGKILL after 10s.
func (s *Server) stop() {
	select {
	case <-s.done:
		killGroup(s.cmd, true) // runners may outlive the server
		return
	default:
	}
	killGroup(s.cmd, false)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
	killGroup(s.cmd, true)
	<-s.done
}
