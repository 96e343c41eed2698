package eval_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/runner"
	"github.com/mergetune/mergetune/results"
)

// TestDBCacheAndRecord checks that a cache row in the results database
// says what was asked of which model (before, DBCache.Put copied only the
// response: task, item, prompt and digest were empty), and that the
// recorded item outcomes keep the prompt and target.
func TestDBCacheAndRecord(t *testing.T) {
	ctx := context.Background()
	db, err := results.Open(ctx, filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := runner.New(runner.Options{}).Open(ctx, filepath.Join(familyDir, "reverse"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	task, err := datasets.Builtin("toy:reverse", "", 5)
	if err != nil {
		t.Fatal(err)
	}
	cache := eval.DBCache{DB: db}
	res, err := eval.Evaluate(ctx, m, task, eval.Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	req := eval.RequestFor(task)
	for _, it := range task.Items {
		o, ok, err := db.GetCached(ctx, eval.CacheKey(m, it, req))
		if err != nil || !ok {
			t.Fatalf("item %s not cached: %v", it.ID, err)
		}
		if o.ModelDigest != m.Digest() || o.Settings != m.Settings() || o.Task != task.Name || o.ItemID != it.ID || o.Prompt != it.Prompt {
			t.Errorf("cache row of %s: %+v", it.ID, o)
		}
	}
	id, err := eval.Record(ctx, db, m, "reverse", "", []*eval.TaskResult{res}, nil)
	if err != nil {
		t.Fatal(err)
	}
	items, err := db.ItemOutcomes(ctx, id)
	if err != nil || len(items) != 5 {
		t.Fatalf("outcomes: %d, %v", len(items), err)
	}
	for i, o := range items {
		it := task.Items[i]
		if o.Prompt != it.Prompt || o.Target != it.Target || o.ItemID != it.ID || o.Response != res.Items[i].Response {
			t.Errorf("outcome %d: %+v, item %+v", i, o, it)
		}
	}
}
