package eval_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/runner"
)

// TestEvaluateLongItemRunner scores toy:reverse on the tiny family's
// reverse model (a context of 32 tokens) with one item far longer than the
// context: the run completes; under long_items: truncate the item's prompt
// is cut from the left to fit, with a warning, and under skip the item is
// counted as skipped and left out of N. Before, the one item failed the
// whole evaluation.
func TestEvaluateLongItemRunner(t *testing.T) {
	ctx := context.Background()
	m, err := runner.New(runner.Options{}).OpenModel(ctx, filepath.Join(familyDir, "reverse"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	long := strings.Repeat("abcdefgh", 20) + " =" // 162 bytes, byte-level tokens
	for _, tc := range []struct {
		policy          string
		truncated, skip int
	}{
		{datasets.LongItemsTruncate, 1, 0},
		{datasets.LongItemsSkip, 0, 1},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			task, err := datasets.Builtin("toy:reverse", "", 20)
			if err != nil {
				t.Fatal(err)
			}
			task.LongItems = tc.policy
			task.Items = append(task.Items, datasets.Item{ID: "long", Prompt: long, Target: "x"})
			var warnings []string
			cache := &mapCache{m: map[string]eval.CacheRecord{}}
			opt := eval.Options{Parallel: 3, Cache: cache, Warn: func(s string) { warnings = append(warnings, s) }}
			res, err := eval.Evaluate(ctx, m, task, opt)
			if err != nil {
				t.Fatalf("one long item failed the run: %v", err)
			}
			if res.Truncated != tc.truncated || res.Skipped != tc.skip || res.N != 21-tc.skip || len(res.Items) != 21 {
				t.Fatalf("N %d, truncated %d, skipped %d, items %d", res.N, res.Truncated, res.Skipped, len(res.Items))
			}
			if res.Accuracy < 0.8 {
				t.Errorf("accuracy %v: the other items were not scored", res.Accuracy)
			}
			last := res.Items[20]
			if len(warnings) != 1 || !strings.Contains(warnings[0], "item long") {
				t.Errorf("warnings %q", warnings)
			}
			switch tc.policy {
			case datasets.LongItemsTruncate:
				if last.Long != eval.LongTruncated || !strings.HasSuffix(long, last.Prompt) || len(last.Prompt) >= len(long) ||
					len(m.Encode(last.Prompt))+min(task.MaxTokens, m.ContextLen()/2) > m.ContextLen() {
					t.Errorf("truncated item: %q (%s), %d tokens", last.Prompt, last.Long, len(m.Encode(last.Prompt)))
				}
				// The cached answer keeps the prompt as sent.
				again, err := eval.Evaluate(ctx, m, task, opt)
				if err != nil || !again.Items[20].Cached || again.Items[20].Prompt != last.Prompt || again.Truncated != 1 {
					t.Errorf("second run: %+v, %v", again.Items[20], err)
				}
			case datasets.LongItemsSkip:
				if last.Long != eval.LongSkipped || last.Response != "" || last.Prompt != long {
					t.Errorf("skipped item: %+v", last)
				}
			}
		})
	}
}

// TestRunnerOverflowError checks that the runner's over-long requests wrap
// eval.ErrContextOverflow, which the evaluator acts on.
func TestRunnerOverflowError(t *testing.T) {
	ctx := context.Background()
	m, err := runner.New(runner.Options{}).OpenModel(ctx, filepath.Join(familyDir, "reverse"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	long := strings.Repeat("x", 100)
	if _, err := m.Generate(ctx, long, eval.GenerateOptions{MaxTokens: 4}); !errorsIs(err) {
		t.Errorf("generate: %v", err)
	}
	if _, err := m.TopTokens(ctx, long, 5); !errorsIs(err) {
		t.Errorf("top tokens: %v", err)
	}
	if _, err := m.LogLikelihood(ctx, long, "y"); !errorsIs(err) {
		t.Errorf("log-likelihood: %v", err)
	}
	if fitted, dropped := m.FitPrompt(long, 4); fitted != strings.Repeat("x", 28) || dropped != 72 {
		t.Errorf("FitPrompt: %q, %d dropped", fitted, dropped)
	}
	if fitted, dropped := m.FitPrompt("abc", 4); fitted != "abc" || dropped != 0 {
		t.Errorf("FitPrompt of a short prompt: %q, %d", fitted, dropped)
	}
}

// errorsIs reports whether err is the runner's context overflow.
func errorsIs(err error) bool { return errors.Is(err, eval.ErrContextOverflow) }
