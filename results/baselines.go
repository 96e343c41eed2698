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
