package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Baseline is the score of an unmerged model (the base model or a task
// model) on one task, evaluated once per study and cached.
type Baseline struct {
	Study       string
	Model       string // the model as the study names it
	Task        string
	Accuracy    float64
	N           int
	CILo        float64
	CIHi        float64
	ModelDigest string // content digest of the model evaluated
}

// PutBaseline records b, replacing any baseline of the same study, model
// and task.
func (db *DB) PutBaseline(ctx context.Context, b Baseline) error {
	what := fmt.Sprintf("results: record baseline of %s on %s in study %q", b.Model, b.Task, b.Study)
	if b.Study == "" || b.Model == "" || b.Task == "" {
		return fmt.Errorf("%s: study, model and task must all be set", what)
	}
	err := db.exec(ctx, db.q(`INSERT INTO mt_baselines (study, model, task, accuracy, n,
	ci_lo, ci_hi, model_digest)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (study, model, task) DO UPDATE SET
	accuracy = excluded.accuracy, n = excluded.n, ci_lo = excluded.ci_lo,
	ci_hi = excluded.ci_hi, model_digest = excluded.model_digest`),
		b.Study, b.Model, b.Task, b.Accuracy, b.N, b.CILo, b.CIHi, b.ModelDigest)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// baselineColumns selects a Baseline.
const baselineColumns = `SELECT study, model, task, accuracy, n, ci_lo, ci_hi, model_digest FROM mt_baselines`

func scanBaseline(sc scanner) (Baseline, error) {
	var b Baseline
	err := sc.Scan(&b.Study, &b.Model, &b.Task, &b.Accuracy, &b.N, &b.CILo, &b.CIHi, &b.ModelDigest)
	return b, err
}

// Baseline returns the baseline of model on task in study. The bool is
// false when there is none.
func (db *DB) Baseline(ctx context.Context, study, model, task string) (Baseline, bool, error) {
	b, err := scanBaseline(db.sql.QueryRowContext(ctx,
		db.q(baselineColumns+` WHERE study = ? AND model = ? AND task = ?`), study, model, task))
	if errors.Is(err, sql.ErrNoRows) {
		return Baseline{}, false, nil
	}
	if err != nil {
		return Baseline{}, false, fmt.Errorf("results: read baseline of %s on %s in study %q: %w", model, task, study, err)
	}
	return b, true, nil
}

// Baselines returns all baselines of a study, ordered by model and task.
func (db *DB) Baselines(ctx context.Context, study string) ([]Baseline, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(baselineColumns+` WHERE study = ? ORDER BY model, task`), study)
	if err != nil {
		return nil, fmt.Errorf("results: read baselines of study %q: %w", study, err)
	}
	defer rows.Close()
	var out []Baseline
	for rows.Next() {
		b, err := scanBaseline(rows)
		if err != nil {
			return nil, fmt.Errorf("results: read baselines of study %q: %w", study, err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("results: read baselines of study %q: %w", study, err)
	}
	return out, nil
}

// BaseName is the name baselines of a study's base model are recorded
// under.
const BaseName = "base"

// BaselineSets returns the names baselines are recorded under (studies,
// and sets such as the demo's matrix), sorted.
func (db *DB) BaselineSets(ctx context.Context) ([]string, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT DISTINCT study FROM mt_baselines ORDER BY study`)
	if err != nil {
		return nil, fmt.Errorf("results: list baseline sets: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("results: list baseline sets: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("results: list baseline sets: %w", err)
	}
	return out, nil
}

// BaselineRun finds the latest evaluation run of a baseline's model (by
// its digest) on its task that is no trial's. The bool is false when
// there is none (or the baseline has no digest).
func (db *DB) BaselineRun(ctx context.Context, b Baseline) (int64, bool, error) {
	if b.ModelDigest == "" {
		return 0, false, nil
	}
	var id int64
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT s.run_id FROM mt_task_scores s JOIN mt_eval_runs r ON r.id = s.run_id
WHERE r.model_digest = ? AND s.task = ? AND s.trial_id IS NULL ORDER BY s.run_id DESC LIMIT 1`),
		b.ModelDigest, b.Task).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("results: the run of baseline %s on %s: %w", b.Model, b.Task, err)
	}
	return id, true, nil
}
