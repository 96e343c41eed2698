package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/datasets"
)

// TestEvaluateLongItemFallback checks a backend that cannot count tokens
// (Ollama): a prompt it refuses with ErrContextOverflow is cut from the
// left by characters until it is accepted (truncate), or the item is
// skipped and counted (skip); the run never fails for it.
func TestEvaluateLongItemFallback(t *testing.T) {
	const limit = 30 // the fake's context, in bytes
	for _, policy := range []string{datasets.LongItemsTruncate, datasets.LongItemsSkip} {
		t.Run(policy, func(t *testing.T) {
			task, err := datasets.Builtin("toy:upper", "", 5)
			if err != nil {
				t.Fatal(err)
			}
			task.LongItems = policy
			long := strings.Repeat("ä", 40) + "up xyz="
			task.Items = append(task.Items, datasets.Item{ID: "long", Prompt: long, Target: "XYZ"})
			m := &fakeModel{gen: func(p string) (string, error) {
				if len(p) > limit {
					return "", fmt.Errorf("fake: %d bytes: %w", len(p), ErrContextOverflow)
				}
				return strings.ToUpper(strings.TrimSuffix(p[strings.LastIndex(p, "up ")+3:], "=")), nil
			}}
			var warned []string
			res, err := Evaluate(context.Background(), m, task, Options{Warn: func(s string) { warned = append(warned, s) }})
			if err != nil {
				t.Fatalf("the long item failed the run: %v", err)
			}
			last := res.Items[5]
			if len(warned) != 1 {
				t.Errorf("warnings %q", warned)
			}
			switch policy {
			case datasets.LongItemsTruncate:
				if res.N != 6 || res.Truncated != 1 || res.Correct != 6 || last.Long != LongTruncated ||
					len(last.Prompt) > limit || !strings.HasSuffix(long, last.Prompt) || !strings.HasSuffix(last.Prompt, "up xyz=") {
					t.Errorf("N %d, truncated %d, correct %d; item %+v", res.N, res.Truncated, res.Correct, last)
				}
			case datasets.LongItemsSkip:
				if res.N != 5 || res.Skipped != 1 || last.Long != LongSkipped || res.Accuracy != 1 {
					t.Errorf("N %d, skipped %d, accuracy %v; item %+v", res.N, res.Skipped, res.Accuracy, last)
				}
			}
		})
	}
}

// TestCutLeft checks the fallback cut: a quarter of the runes, at a rune
// boundary, at least one.
func TestCutLeft(t *testing.T) {
	for in, want := range map[string]string{"abcdefgh": "cdefgh", "äöüß": "öüß", "a": "", "": ""} {
		if got := cutLeft(in); got != want {
			t.Errorf("cutLeft(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLogSamples checks that the records of an evaluation hold each item's
// prompt, target, choices, response and verdict, and that the file is
// written whole through a rename.
func TestLogSamples(t *testing.T) {
	task := loadTask(t, "qa.yml")
	m := &fakeModel{digest: "sha256:abc", gen: qaAnswers}
	cache := &memCache{}
	res, err := Evaluate(context.Background(), m, task, Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	// The cache row says what was asked of which model.
	for _, rec := range cache.m {
		if rec.ModelDigest != "sha256:abc" || rec.Task != task.Name || rec.ItemID == "" || rec.Prompt == "" {
			t.Errorf("cache record %+v", rec)
		}
	}
	path := filepath.Join(t.TempDir(), "samples.jsonl")
	if err := WriteSamplesFile(path, Samples("dir/model", m.Digest(), []*TaskResult{res})); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) != len(task.Items) {
		t.Fatalf("%d records for %d items", len(lines), len(task.Items))
	}
	for i, l := range lines {
		var s Sample
		if err := json.Unmarshal(l, &s); err != nil {
			t.Fatal(err)
		}
		it, r := task.Items[i], res.Items[i]
		if s.Model != "dir/model" || s.ModelDigest != "sha256:abc" || s.Task != task.Name || s.ItemID != it.ID ||
			s.Prompt != it.Prompt || s.Target != it.Target || s.Response != r.Response || s.Correct != r.Correct ||
			s.Extracted != r.Extracted || s.Gold != nil {
			t.Errorf("record %d: %+v, item %+v", i, s, it)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	// A directory that does not exist: an error naming the path, nothing written.
	bad := filepath.Join(t.TempDir(), "missing", "s.jsonl")
	if err := WriteSamplesFile(bad, nil); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("missing directory: %v", err)
	}
}

// TestCompare pairs two results by item and leaves skipped items out.
func TestCompare(t *testing.T) {
	mk := func(correct ...bool) *TaskResult {
		r := &TaskResult{Task: "t"}
		for i, c := range correct {
			r.Items = append(r.Items, ItemResult{ID: fmt.Sprint(i), Correct: c})
		}
		return r
	}
	a := mk(true, true, false, false, true)
	b := mk(true, false, true, false, false)
	b.Items[4].Long = LongSkipped
	c, err := Compare(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if c.N != 4 || c.Both != 1 || c.OnlyA != 1 || c.OnlyB != 1 || c.Neither != 1 || c.Diff != 0 || c.P != 1 ||
		c.DiffCI95[0] >= 0 || c.DiffCI95[1] <= 0 {
		t.Errorf("%+v", c)
	}
	if _, err := Compare(a, &TaskResult{Task: "u"}); err == nil {
		t.Error("different tasks compared")
	}
}
