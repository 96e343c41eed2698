package eval_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/runner"
)

// TestLogLikelihoodScoring scores a multiple-choice toy task by
// log-likelihood on the built-in runner (acc and acc_norm) and checks each
// item's pick, verdict and the accuracy against values computed by hand
// from the runner's own log-likelihoods of " " + choice after the prompt.
func TestLogLikelihoodScoring(t *testing.T) {
	ctx := context.Background()
	m, err := runner.New(runner.Options{}).Open(ctx, filepath.Join(familyDir, "reverse"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ll, ok := m.(eval.LogLikelihooder)
	if !ok {
		t.Fatal("the runner's model does not implement eval.LogLikelihooder")
	}
	picks := map[string][]int{}
	for _, tc := range []struct {
		file string
		norm func(string) float64
	}{
		{"toy_acc.yml", func(string) float64 { return 1 }},
		{"toy_acc_norm.yml", func(c string) float64 { return float64(utf8.RuneCountInString(c)) }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			task, err := datasets.Load(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if req := eval.RequestFor(task); req.Kind != eval.RequestLogLikelihood {
				t.Fatalf("request kind %q, want %q", req.Kind, eval.RequestLogLikelihood)
			}
			cache := &mapCache{m: map[string]eval.CacheRecord{}}
			res, err := eval.Evaluate(ctx, m, task, eval.Options{Parallel: 2, Cache: cache})
			if err != nil {
				t.Fatal(err)
			}
			correct := 0
			for i, r := range res.Items {
				it := task.Items[i]
				if strings.Contains(r.Prompt, "A. ") || r.Prompt != it.Prompt || !strings.HasSuffix(r.Prompt, "=") {
					t.Errorf("%s: prompt %q lists the choices or is not the item's", r.ID, r.Prompt)
				}
				best, bestV := -1, 0.0
				for j, c := range it.Choices {
					want, err := ll.LogLikelihood(ctx, it.Prompt, " "+c)
					if err != nil {
						t.Fatal(err)
					}
					if len(r.LogLikelihoods) != len(it.Choices) || r.LogLikelihoods[j] != want {
						t.Fatalf("%s: log-likelihoods %v, choice %d by hand %v", r.ID, r.LogLikelihoods, j, want)
					}
					if v := want / tc.norm(c); best < 0 || v > bestV {
						best, bestV = j, v
					}
				}
				picks[tc.file] = append(picks[tc.file], best)
				if r.Response != datasets.Letter(best) || r.Correct != (best == it.Gold) || r.Target != datasets.Letter(it.Gold) {
					t.Errorf("%s: response %q correct %v target %q; by hand pick %d, gold %d", r.ID, r.Response, r.Correct, r.Target, best, it.Gold)
				}
				if best == it.Gold {
					correct++
				}
			}
			if res.N != len(task.Items) || res.Correct != correct || res.Accuracy != float64(correct)/float64(res.N) {
				t.Errorf("%d/%d correct (%v), by hand %d", res.Correct, res.N, res.Accuracy, correct)
			}
			t.Logf("%s: %d/%d", task.Name, res.Correct, res.N)
			if s := eval.Samples("reverse", m.Digest(), []*eval.TaskResult{res}); len(s) != len(res.Items) || !slices.Equal(s[0].LogLikelihoods, res.Items[0].LogLikelihoods) {
				t.Errorf("samples do not carry the log-likelihoods: %+v", s[0])
			}
			again, err := eval.Evaluate(ctx, m, task, eval.Options{Cache: cache})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range again.Items {
				if !r.Cached || r.Response != res.Items[i].Response || r.Correct != res.Items[i].Correct {
					t.Errorf("second run %s: cached %v, %q vs %q", r.ID, r.Cached, r.Response, res.Items[i].Response)
				}
			}
		})
	}
	// The items mix choice lengths, so the two modes must disagree
	// somewhere: acc_norm is not acc under another name.
	if a := picks["toy_acc.yml"]; slices.Equal(a, picks["toy_acc_norm.yml"]) {
		t.Errorf("acc and acc_norm pick the same choices on every item: %v", a)
	}
}

// TestLogLikelihoodUnsupportedBackend: a model without LogLikelihooder
// fails a log-likelihood task before any request, with an error naming
// the task and suggesting letter scoring; one that implements it but
// reports ErrUnsupported at run time gets the same advice.
func TestLogLikelihoodUnsupportedBackend(t *testing.T) {
	task, err := datasets.Load(filepath.Join("testdata", "toy_acc_norm.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]eval.Model{"no interface": noLL{}, "run-time ErrUnsupported": llUnsupported{}} {
		_, err := eval.Evaluate(context.Background(), m, task, eval.Options{})
		if !errors.Is(err, eval.ErrUnsupported) || !strings.Contains(err.Error(), "task toy_acc_norm") || !strings.Contains(err.Error(), "scoring: letter") {
			t.Errorf("%s: error %v, want ErrUnsupported naming the task and scoring: letter", name, err)
		}
	}
}

// noLL is a model without log-likelihoods; every request fails the test.
type noLL struct{}

func (noLL) Generate(context.Context, string, eval.GenerateOptions) (string, error) {
	return "", errors.New("unexpected Generate")
}

func (noLL) TopTokens(context.Context, string, int) ([]eval.TokenLogprob, error) {
	return nil, errors.New("unexpected TopTokens")
}
func (noLL) Digest() string   { return "noll" }
func (noLL) Settings() string { return "fake" }
func (noLL) Close() error     { return nil }

// llUnsupported declares LogLikelihooder but cannot serve it.
type llUnsupported struct{ noLL }

func (llUnsupported) LogLikelihood(context.Context, string, string) (float64, error) {
	return 0, eval.ErrUnsupported
}
