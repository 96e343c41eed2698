package search

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/eval/runner"
)

// TestUnknownSamplerOrPrunerRefused: a study whose sampler or pruner no
// table entry has (the parser refuses such a file; here it is set on the
// parsed study) fails to load with the study file, the field, the value
// and the known names, instead of running another sampler.
func TestUnknownSamplerOrPrunerRefused(t *testing.T) {
	for _, c := range []struct{ field, value, known string }{
		{"sampler.type", "bayes", "tpe"},
		{"pruner.type", "hyperband", "median"},
	} {
		t.Run(c.field, func(t *testing.T) {
			s := writeStudy(t, t.TempDir(), "method: task_arithmetic\ntrials: 2\n")
			if c.field == "sampler.type" {
				s.Sampler = c.value
			} else {
				s.Pruner = c.value
			}
			ctx := context.Background()
			st, err := OpenStore(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.ensureStudy(s); err != nil {
				t.Fatal(err)
			}
			_, err = st.loadStudy(ctx, s)
			if err == nil {
				t.Fatalf("%s %s: loaded", c.field, c.value)
			}
			for _, want := range []string{s.File, c.field, `"` + c.value + `"`, "known:", c.known} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

// TestEvaluatorFromTable: the runner opens the study's evaluator by its
// type from the table it is given (cmd injects backends.All()): a
// backend only the injected table has runs the study, and a type no
// table entry has fails before any trial, naming the study file, the
// value and the known names.
func TestEvaluatorFromTable(t *testing.T) {
	var opens atomic.Int32
	table := backends.Table{"counting": backends.Driver{Name: "counting",
		Open: func(_ context.Context, c backends.Config) (eval.Backend, string, error) {
			opens.Add(1)
			if c.Parallel != 2 {
				t.Errorf("opened with parallel %d, want the study's 2", c.Parallel)
			}
			return runner.New(runner.Options{}), "counting-host", nil
		}}}
	s := writeStudy(t, t.TempDir(), "method: task_arithmetic\ntrials: 2\nworkers: 1\n")
	s.Evaluator = "counting"
	sum, err := Run(context.Background(), s, Options{Backends: table})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status.Complete != 2 || opens.Load() == 0 {
		t.Errorf("%d trials complete, %d opens of the injected backend; want 2 and some", sum.Status.Complete, opens.Load())
	}

	s = writeStudy(t, t.TempDir(), "method: task_arithmetic\ntrials: 2\n")
	s.Evaluator = "vllm"
	_, err = Run(context.Background(), s, Options{})
	for _, want := range []string{s.File, "evaluator vllm", `unknown backend "vllm"`, "builtin, ollama, openai"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
