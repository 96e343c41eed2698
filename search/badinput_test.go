package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/eval/runner"
)

// ggufOnly is a backend that takes GGUF candidates (as Ollama does); the
// studies below fail in the merge, before opening any. The unmerged
// models (the study's baselines) get a model that answers nothing.
type ggufOnly struct{ typ string }

func (g ggufOnly) CandidateFormat() (string, string) { return "gguf", g.typ }
func (ggufOnly) Open(_ context.Context, dir string) (eval.Model, error) {
	if strings.Contains(dir, "trial-") {
		return nil, errors.New("a candidate was merged")
	}
	return silent{dir}, nil
}

// silent is a model that answers nothing.
type silent struct{ dir string }

func (silent) Generate(context.Context, string, eval.GenerateOptions) (string, error) { return "", nil }
func (silent) TopTokens(context.Context, string, int) ([]eval.TokenLogprob, error) {
	return nil, nil
}
func (s silent) Digest() string { return "silent:" + s.dir }
func (silent) Settings() string { return "silent" }
func (silent) Close() error     { return nil }

// dyingServer fails the import of its first trial's candidate as a server
// that dies mid-upload does, and evaluates the other models on the
// built-in runner.
type dyingServer struct {
	opens atomic.Int32
	inner eval.Backend
}

func (d *dyingServer) Open(ctx context.Context, dir string) (eval.Model, error) {
	if strings.Contains(dir, "trial-") && d.opens.Add(1) == 1 {
		return nil, errors.New(`ollama: upload blob sha256:0f3c: failed after 4 attempts: Post "http://127.0.0.1:11434/api/blobs/sha256:0f3c": EOF`)
	}
	return d.inner.Open(ctx, dir)
}

// copyModel copies the family model name into dir, editing its
// config.json and replacing its tokenizer.json when asked.
func copyModel(t *testing.T, dir, name string, config func(map[string]any), tokenizer string) string {
	t.Helper()
	src := filepath.Join(family(t), name)
	dst := filepath.Join(dir, name)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case e.Name() == "config.json" && config != nil:
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			config(m)
			if b, err = json.Marshal(m); err != nil {
				t.Fatal(err)
			}
		case e.Name() == "tokenizer.json" && tokenizer != "":
			b = []byte(tokenizer)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestTrialFailuresRecorded runs studies whose trials fail on bad input —
// an architecture Ollama cannot convert, a tokenizer its converter
// rejects (both found while the merge writes the GGUF), a server that dies
// during the first candidate's upload — and checks that each failed trial
// is recorded as failed with its cause, that `study status` prints the
// cause whole, that the study goes on to its next trials (which complete
// where the input allows), and that no failed trial leaves anything in
// the work directory. A disk that fills while the GGUF is written is a
// file size limit (RLIMIT_FSIZE) above the study's database and below the
// candidate's size, on a child process that runs the study.
func TestTrialFailuresRecorded(t *testing.T) {
	const childDir = "MERGETUNE_TEST_BAD_STUDY_DIR"
	tests := []struct {
		name      string
		config    func(map[string]any)
		tokenizer string
		backend   func() eval.Backend
		fsize     uint64 // run the study in a child with this file size limit
		failed    []int  // trial numbers that fail
		cause     string // in each failure
	}{
		{name: "disk fills while the GGUF is written", fsize: 1500 << 10,
			backend: func() eval.Backend { return ggufOnly{typ: "f32"} }, failed: []int{0, 1, 2}, cause: "file too large"},
		{name: "architecture Ollama cannot serve",
			config:  func(m map[string]any) { m["architectures"] = []string{"MistralForCausalLM"} },
			backend: func() eval.Backend { return ggufOnly{} }, failed: []int{0, 1, 2}, cause: "MistralForCausalLM"},
		{name: "tokenizer the converter rejects",
			tokenizer: `{"model": {"type": "Unigram", "vocab": 7}}`,
			backend:   func() eval.Backend { return ggufOnly{} }, failed: []int{0, 1, 2}, cause: "metadata"},
		{name: "server dies mid-upload",
			backend: func() eval.Backend { return &dyingServer{inner: runner.New(runner.Options{})} }, failed: []int{0}, cause: "upload blob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := os.Getenv(childDir)
			child := dir != ""
			if !child {
				dir = t.TempDir()
			}
			models := filepath.Join(dir, "models")
			if !child {
				for _, m := range []string{"base", "swapcase", "rot1"} {
					copyModel(t, models, m, tt.config, tt.tokenizer)
				}
			}
			text := fmt.Sprintf(`name: bad
base_model: %[1]s/base
models:
  - {model: %[1]s/swapcase, tasks: [swapcase]}
  - {model: %[1]s/rot1, tasks: [rot1]}
tasks: [toy:swapcase@tune, toy:rot1@tune]
limit: 4
method: task_arithmetic
objective: mean
space:
  lambda: {type: float, low: 0.5, high: 1.5}
trials: 3
workers: 1
keep_best: 3
storage: study.db
work_dir: work
`, models)
			s := loadStudyText(t, dir, text)
			s.Evaluator = "test"
			be := tt.backend()
			table := backends.Table{"test": backends.Driver{Name: "test",
				Open: func(context.Context, backends.Config) (eval.Backend, string, error) { return be, "test-host", nil }}}
			var st *Status
			switch {
			case child:
				lim := &unix.Rlimit{Cur: tt.fsize, Max: tt.fsize}
				if err := unix.Setrlimit(unix.RLIMIT_FSIZE, lim); err != nil {
					t.Fatal(err)
				}
				if _, err := Run(context.Background(), s, Options{Backends: table}); err != nil {
					t.Fatal(err)
				}
				return
			case tt.fsize > 0:
				cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
				cmd.Env = append(os.Environ(), childDir+"="+dir)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("child: %v\n%s", err, out)
				}
				var err error
				if st, err = ReadStatus(context.Background(), s); err != nil {
					t.Fatal(err)
				}
			default:
				sum, err := Run(context.Background(), s, Options{Backends: table})
				if err != nil {
					t.Fatal(err)
				}
				st = sum.Status
			}
			if st.Failed != len(tt.failed) || st.Complete != 3-len(tt.failed) || len(st.Trials) != 3 {
				t.Fatalf("%d failed, %d complete of %d trials; want %d failed of 3", st.Failed, st.Complete, len(st.Trials), len(tt.failed))
			}
			for _, r := range st.Trials {
				failed := false
				for _, n := range tt.failed {
					failed = failed || n == r.Number
				}
				switch {
				case failed && (r.State != "failed" || !strings.Contains(r.Failure, tt.cause)):
					t.Errorf("trial %d: %s, failure %q; want failed with %q", r.Number, r.State, r.Failure, tt.cause)
				case !failed && r.State != "complete":
					t.Errorf("trial %d: %s (%s); want complete", r.Number, r.State, r.Failure)
				}
				if failed {
					if _, err := os.Stat(filepath.Join(s.WorkDir, fmt.Sprintf("trial-%05d", r.Number))); !os.IsNotExist(err) {
						t.Errorf("failed trial %d left its directory (%v)", r.Number, err)
					}
				}
			}
			var out bytes.Buffer
			if err := st.Write(&out); err != nil {
				t.Fatal(err)
			}
			if _, fails, ok := strings.Cut(out.String(), "failures:\n"); ok {
				t.Logf("status:\n%s", fails)
			}
			for _, n := range tt.failed {
				if !strings.Contains(out.String(), fmt.Sprintf("  trial %d: ", n)) || !strings.Contains(out.String(), tt.cause) {
					t.Errorf("status lacks trial %d's cause %q:\n%s", n, tt.cause, out.String())
				}
			}
			// Nothing half-written: the work directory holds the complete
			// trials' candidates only.
			entries, _ := os.ReadDir(s.WorkDir)
			if len(entries) != 3-len(tt.failed) {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("work dir holds %v, want %d complete trials", names, 3-len(tt.failed))
			}
		})
	}
}
