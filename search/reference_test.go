package search

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/datasets/toy"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/ollama"
	"github.com/mergetune/mergetune/eval/ollama/ollamatest"
	"github.com/mergetune/mergetune/eval/runner"
)

// TestOpenReference opens an unmerged family model for its baselines
// through a real `ollama serve`: it goes up as a GGUF the merge engine
// wrote (no converter stage), in the candidates' q8_0 when the backend
// quantizes to q8_0, answers every item as the model imported through
// Ollama's converter does, and the directory it was written to is gone
// after the cleanup. A model the engine cannot write, and every model for
// a backend that takes safetensors directories (the built-in runner), is
// opened as it is.
func TestOpenReference(t *testing.T) {
	srv := ollamatest.New(t, ollamatest.Options{ContextLength: 2048, NumParallel: 2})
	model := filepath.Join(family(t), "swapcase")
	tasks := toy.Tasks()[:2]
	for _, quantize := range []string{"", "q8_0"} {
		t.Run("quantize="+quantize, func(t *testing.T) {
			work := filepath.Join(t.TempDir(), "work")
			be, err := ollama.New(ollama.Options{Host: srv.Host(), ModelsDir: "-", NumThread: 1, Quantize: quantize, NamePrefix: "reference-" + quantize})
			if err != nil {
				t.Fatal(err)
			}
			c, cleanup, err := openReference(t.Context(), model, work, be)
			if err != nil {
				t.Fatalf("%v\n%s", err, srv.Log()[max(0, len(srv.Log())-3000):])
			}
			st := c.Model.(*ollama.Model).Stats()
			if st.Convert != 0 || !st.Uploaded {
				t.Errorf("import %+v: want the engine's GGUF uploaded, no converter", st)
			}
			if c.dir != model {
				t.Errorf("the candidate's dir is %s, want the model's %s (the run names it)", c.dir, model)
			}
			entries, _ := os.ReadDir(work)
			if len(entries) != 1 {
				t.Errorf("work holds %d entries while the reference is open, want its directory", len(entries))
			}
			old, err := be.OpenModel(t.Context(), model) // Ollama's converter
			if err != nil {
				t.Fatal(err)
			}
			if old.Stats().Convert == 0 {
				t.Errorf("the converter path did not convert: %+v", old.Stats())
			}
			n := 0
			for _, task := range tasks {
				items, err := task.Items(toy.SplitTest, 6)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range items {
					opt := eval.GenerateOptions{MaxTokens: 16, Stop: []string{"\n"}}
					want, err := old.Generate(t.Context(), it.Prompt, opt)
					if err != nil {
						t.Fatal(err)
					}
					got, err := c.Generate(t.Context(), it.Prompt, opt)
					if err != nil {
						t.Fatal(err)
					}
					if got != want {
						t.Errorf("%s %q: the engine's reference answers %q, the converter's %q", task.Name, it.Prompt, got, want)
					}
					n++
				}
			}
			if n == 0 {
				t.Fatal("no items")
			}
			if err := old.Close(); err != nil {
				t.Error(err)
			}
			if err := c.Close(); err != nil {
				t.Error(err)
			}
			cleanup()
			if entries, _ := os.ReadDir(work); len(entries) != 0 {
				t.Errorf("work holds %d entries after the cleanup", len(entries))
			}
		})
	}
	t.Run("fallback", func(t *testing.T) {
		// An architecture the engine cannot write: the model goes to the
		// backend as it is, and nothing is left in work.
		bad := copyModel(t, t.TempDir(), "base", func(m map[string]any) { m["architectures"] = []string{"MistralForCausalLM"} }, "")
		work := t.TempDir()
		c, cleanup, err := openReference(t.Context(), bad, work, ggufOnly{})
		if err != nil {
			t.Fatal(err)
		}
		defer cleanup()
		if c.Digest() != "silent:"+bad {
			t.Errorf("opened %s, want the model as it is (%s)", c.Digest(), bad)
		}
		if entries, _ := os.ReadDir(work); len(entries) != 0 {
			t.Errorf("work holds %d entries after the engine's way failed", len(entries))
		}
		// A model it can write goes to the same backend as a GGUF.
		good := copyModel(t, t.TempDir(), "base", nil, "")
		c, cleanup2, err := openReference(t.Context(), good, work, ggufOnly{})
		if err != nil {
			t.Fatal(err)
		}
		defer cleanup2()
		if d := c.Digest(); !strings.HasPrefix(d, "silent:"+work) || !strings.HasSuffix(d, candidateGGUF) {
			t.Errorf("opened %s, want the engine's GGUF in %s", d, work)
		}
		// A file (a GGUF already) goes as it is.
		file := filepath.Join(good, "model.safetensors")
		m, cleanup3, err := OpenModel(t.Context(), file, work, ggufOnly{})
		if err != nil {
			t.Fatal(err)
		}
		defer cleanup3()
		if m.Digest() != "silent:"+file {
			t.Errorf("OpenModel(a file) opened %s, want it as it is", m.Digest())
		}
	})
	t.Run("builtin", func(t *testing.T) {
		c, cleanup, err := openReference(t.Context(), model, t.TempDir(), runner.New(runner.Options{}))
		if err != nil {
			t.Fatal(err)
		}
		defer cleanup()
		defer c.Close()
		if c.dir != model || c.mergeTime != 0 {
			t.Errorf("built-in runner: dir %s, merge %s; want the model opened as it is", c.dir, c.mergeTime)
		}
		m, cleanup2, err := OpenModel(t.Context(), model, "", runner.New(runner.Options{}))
		if err != nil {
			t.Fatal(err)
		}
		defer cleanup2()
		defer m.Close()
		if m.Digest() != c.Digest() {
			t.Errorf("OpenModel: digest %s, openReference %s", m.Digest(), c.Digest())
		}
	})
}

// TestSweepReferences: opening a reference removes the reference
// directories that processes of this host left when they were killed, and
// only those: not this process's, not another host's.
func TestSweepReferences(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	prefix := referencePrefix()
	left := filepath.Join(work, fmt.Sprintf("%s%d-123", prefix, dead.Process.Pid))
	mine := filepath.Join(work, fmt.Sprintf("%s%d-456", prefix, os.Getpid()))
	other := filepath.Join(work, fmt.Sprintf("reference-otherhost-%d-789", dead.Process.Pid))
	for _, d := range []string{left, mine, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "model.gguf"), []byte("GGUF"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, cleanup, err := openReference(t.Context(), copyModel(t, t.TempDir(), "base", nil, ""), work, ggufOnly{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	cleanup()
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("%s (a dead process's) is still there: %v", left, err)
	}
	for _, d := range []string{mine, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", d, err)
		}
	}
}
