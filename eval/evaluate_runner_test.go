package eval_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/datasets/toy"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/runner"
)

// familyDir holds the toy model family: base and one fine-tune per task.
var familyDir = filepath.Join("..", "datasets", "toy", "family")

// TestEvaluateToyFamily scores fine-tunes of the toy family on their own
// task through the built-in runner: they were trained to answer it.
func TestEvaluateToyFamily(t *testing.T) {
	for _, name := range []string{"reverse", "succ", "parity"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(familyDir, name)
			if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
				t.Fatalf("toy fine-tune missing (datasets/toy/family is part of the repository): %v", err)
			}
			ctx := context.Background()
			m, err := runner.New(runner.Options{}).Open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			task, err := datasets.Builtin("toy:"+name, "", 60)
			if err != nil {
				t.Fatal(err)
			}
			cache := &mapCache{m: map[string]eval.CacheRecord{}}
			res, err := eval.Evaluate(ctx, m, task, eval.Options{Parallel: 4, Cache: cache})
			if err != nil {
				t.Fatal(err)
			}
			if res.N != 60 || res.Accuracy < 0.9 || res.CI95[0] > res.Accuracy || res.CI95[1] < res.Accuracy {
				t.Errorf("%s: %d/%d correct, CI95 %v", name, res.Correct, res.N, res.CI95)
			}
			for _, r := range res.Items[:3] {
				t.Logf("%s → %q (%v)", r.Prompt, r.Response, r.Correct)
			}
			again, err := eval.Evaluate(ctx, m, task, eval.Options{Parallel: 4, Cache: cache})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range again.Items {
				if !r.Cached || r.Response != res.Items[i].Response {
					t.Fatalf("second run, item %s: cached %v, %q vs %q", r.ID, r.Cached, r.Response, res.Items[i].Response)
				}
			}
			// The base model was not trained on the task.
			base, err := runner.New(runner.Options{}).Open(ctx, filepath.Join(familyDir, "base"))
			if err != nil {
				t.Fatal(err)
			}
			defer base.Close()
			bres, err := eval.Evaluate(ctx, base, task, eval.Options{Parallel: 4, Cache: cache})
			if err != nil {
				t.Fatal(err)
			}
			if bres.Items[0].Cached || bres.Accuracy >= res.Accuracy {
				t.Errorf("base: %v (cached %v), fine-tune %v", bres.Accuracy, bres.Items[0].Cached, res.Accuracy)
			}
		})
	}
}

// TestEvaluateRunnerFixture runs a generation task and a choice task on a
// runner test fixture (random weights): it must run and return every item.
func TestEvaluateRunnerFixture(t *testing.T) {
	ctx := context.Background()
	m, err := runner.New(runner.Options{}).Open(ctx, filepath.Join("runner", "testdata", "f32_mha"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	gen, err := datasets.Builtin("toy:rot1", "", 12)
	if err != nil {
		t.Fatal(err)
	}
	choice, err := datasets.Load(filepath.Join("..", "datasets", "testdata", "letters.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range []*datasets.Task{gen, choice} {
		res, err := eval.Evaluate(ctx, m, task, eval.Options{Parallel: 3})
		if err != nil {
			t.Fatalf("%s: %v", task.Name, err)
		}
		if res.N != len(task.Items) || len(res.Items) != res.N {
			t.Errorf("%s: %d items of %d", task.Name, res.N, len(task.Items))
		}
		for _, r := range res.Items {
			if len(r.Response) > toy.MaxLen*4 {
				t.Errorf("%s: response of %d bytes", r.ID, len(r.Response))
			}
		}
	}
}

// mapCache is an in-memory eval.Cache.
type mapCache struct {
	mu sync.Mutex
	m  map[string]eval.CacheRecord
}

func (c *mapCache) Get(_ context.Context, key string) (eval.CacheRecord, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[key]
	return r, ok, nil
}

func (c *mapCache) Put(_ context.Context, key string, r eval.CacheRecord) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = r
	return nil
}
