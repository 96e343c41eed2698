package eval

import (
	"context"
	"fmt"

	"github.com/mergetune/mergetune/results"
)

// DBCache is a Cache kept in a results database, so evaluations are reused
// across runs, processes and machines sharing the file.
type DBCache struct{ DB *results.DB }

// Get implements Cache.
func (c DBCache) Get(ctx context.Context, key string) (CacheRecord, bool, error) {
	o, ok, err := c.DB.GetCached(ctx, key)
	if err != nil || !ok {
		return CacheRecord{}, ok, err
	}
	return CacheRecord{ModelDigest: o.ModelDigest, Settings: o.Settings, Task: o.Task, ItemID: o.ItemID, Prompt: o.Prompt,
		Response: o.Response, Extracted: o.Extracted, Correct: o.Correct, Latency: o.Latency}, true, nil
}

// Put implements Cache.
func (c DBCache) Put(ctx context.Context, key string, rec CacheRecord) error {
	return c.DB.PutCached(ctx, key, results.CachedOutcome{
		ModelDigest: rec.ModelDigest, Settings: rec.Settings, Task: rec.Task, ItemID: rec.ItemID, Prompt: rec.Prompt,
		Response: rec.Response, Extracted: rec.Extracted, Correct: rec.Correct, Latency: rec.Latency,
	})
}

// Record writes one evaluation run (the model, its task scores and every
// item's outcome) to db and returns the run's ID. trial links the run to a
// study trial, or is nil.
func Record(ctx context.Context, db *results.DB, m Model, dir, host string, res []*TaskResult, trial *results.TrialKey) (int64, error) {
	id, err := db.NewRun(ctx, results.Run{ModelDir: dir, ModelDigest: m.Digest(), Settings: m.Settings(), Host: host})
	if err != nil {
		return 0, fmt.Errorf("record run of %s: %w", dir, err)
	}
	for _, r := range res {
		if err := db.AddTaskScore(ctx, results.TaskScore{
			RunID: id, Trial: trial, Task: r.Task, Split: r.Split, N: r.N, Correct: r.Correct,
			Accuracy: r.Accuracy, CILo: r.CI95[0], CIHi: r.CI95[1],
		}); err != nil {
			return 0, fmt.Errorf("record task %s: %w", r.Task, err)
		}
		items := make([]results.ItemOutcome, len(r.Items))
		for i, it := range r.Items {
			items[i] = results.ItemOutcome{RunID: id, Trial: trial, Task: r.Task, ItemID: it.ID,
				Correct: it.Correct, Extracted: it.Extracted, Response: it.Response, Cached: it.Cached,
				Prompt: it.Prompt, Target: it.Target, Choices: it.Choices, Long: string(it.Long)}
		}
		if err := db.AddItemOutcomes(ctx, items); err != nil {
			return 0, fmt.Errorf("record items of task %s: %w", r.Task, err)
		}
	}
	return id, nil
}
