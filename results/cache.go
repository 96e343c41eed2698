package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// CachedOutcome is one scored item in the evaluation cache: what was asked
// of which model with which settings, what it answered, and how that was
// scored.
type CachedOutcome struct {
	ModelDigest string        // content digest of the model (never its name)
	Settings    string        // canonical request options
	Task        string        // task name
	ItemID      string        // item identifier within the task
	Prompt      string        // the rendered prompt
	Response    string        // the model's raw response
	Extracted   string        // the answer extracted from Response
	Correct     bool          // whether Extracted matched the gold answer
	Latency     time.Duration // time the request took
}

// GetCached returns the cached outcome stored under key. The bool is false
// when there is none.
func (db *DB) GetCached(ctx context.Context, key string) (CachedOutcome, bool, error) {
	var (
		o         CachedOutcome
		correct   int
		latencyMS float64
	)
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT model_digest, settings, task, item_id, prompt,
	response, extracted, correct, latency_ms
FROM mt_eval_cache WHERE key = ?`), key).Scan(
		&o.ModelDigest, &o.Settings, &o.Task, &o.ItemID, &o.Prompt,
		&o.Response, &o.Extracted, &correct, &latencyMS)
	if errors.Is(err, sql.ErrNoRows) {
		return CachedOutcome{}, false, nil
	}
	if err != nil {
		return CachedOutcome{}, false, fmt.Errorf("results: get cached outcome %q: %w", key, err)
	}
	o.Correct = correct != 0
	o.Latency = time.Duration(math.Round(latencyMS * float64(time.Millisecond)))
	return o, true, nil
}

// PutCached stores o under key, replacing any outcome already stored
// under it. The key must identify the model's content digest, the
// rendered prompt and the request options (the caller computes it).
func (db *DB) PutCached(ctx context.Context, key string, o CachedOutcome) error {
	if key == "" {
		return errors.New("results: put cached outcome: empty key")
	}
	err := db.exec(ctx, db.q(`INSERT INTO mt_eval_cache (key, model_digest, settings, task,
	item_id, prompt, response, extracted, correct, latency_ms, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
	model_digest = excluded.model_digest, settings = excluded.settings,
	task = excluded.task, item_id = excluded.item_id, prompt = excluded.prompt,
	response = excluded.response, extracted = excluded.extracted,
	correct = excluded.correct, latency_ms = excluded.latency_ms,
	created_at = excluded.created_at`),
		key, o.ModelDigest, o.Settings, o.Task, o.ItemID, db.blob(o.Prompt), db.blob(o.Response),
		db.blob(o.Extracted), boolInt(o.Correct), float64(o.Latency)/float64(time.Millisecond),
		formatTime(time.Now()))
	if err != nil {
		return fmt.Errorf("results: put cached outcome %q (task %s, item %s): %w", key, o.Task, o.ItemID, err)
	}
	return nil
}
