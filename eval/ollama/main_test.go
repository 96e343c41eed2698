package ollama

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mergetune/mergetune/eval/ollama/ollamatest"
)

// The integration tests share one `ollama serve`, started by TestMain. A
// server that does not start fails every test that needs it (CI provides
// the binary, see .ci/install-ollama); the tests against fake servers run
// regardless.
var (
	testServer    *ollamatest.Server
	testServerErr error
)

// testParallel is the server's OLLAMA_NUM_PARALLEL and the backends'
// Options.Parallel.
const testParallel = 2

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		// Fuzzing (the coordinator and each worker run TestMain): the
		// fuzz targets need no server.
		testServerErr = errors.New("no server while fuzzing")
		os.Exit(m.Run())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	testServer, testServerErr = ollamatest.Start(ctx, ollamatest.Options{
		ContextLength: 2048,
		NumParallel:   testParallel,
	})
	cancel()
	code := m.Run()
	if testServer != nil {
		if err := testServer.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "stop ollama serve:", err)
		}
	}
	os.Exit(code)
}

// server returns the shared server or fails the test.
func server(t testing.TB) *ollamatest.Server {
	t.Helper()
	if testServerErr != nil {
		t.Fatalf("ollama serve is needed: %v", testServerErr)
	}
	return testServer
}

// backend returns a backend for the shared server.
func backend(t testing.TB, opt Options) *Backend {
	t.Helper()
	opt.Host = server(t).Host()
	if opt.Parallel == 0 {
		opt.Parallel = testParallel
	}
	if opt.NumThread == 0 {
		opt.NumThread = 1 // tiny models; steadier on a busy machine
	}
	if opt.NamePrefix == "" {
		opt.NamePrefix = "test-" + t.Name()
	}
	b, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// open opens dir on b and closes it when the test ends.
func open(t testing.TB, b *Backend, dir string) *Model {
	t.Helper()
	m, err := b.OpenModel(t.Context(), dir)
	if err != nil {
		t.Fatalf("open %s: %v\nserver log tail:\n%s", dir, err, tail(server(t).Log(), 3000))
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close %s: %v", m.Name(), err)
		}
	})
	return m
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
