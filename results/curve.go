package results

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Curve variants.
const (
	// VariantFrozen is a merge with a study's frozen recipe on more
	// models than it was tuned on (search.Extend).
	VariantFrozen = "frozen"
	// VariantTuned is the winner of a study tuned at that number of
	// models, scored on its holdout tasks.
	VariantTuned = "tuned"
)

// CurvePoint is one point of the extension curve: a merge of Models task
// models scored on their tasks.
type CurvePoint struct {
	Method     string // merge method ("ties", "breadcrumbs", …)
	Variant    string // VariantFrozen or VariantTuned
	Study      string // the study whose recipe (frozen) or winner (tuned) it is
	Models     int    // models merged
	Tasks      int    // tasks scored
	Mean       float64
	Normalized float64 // normalized accuracy (eval.Scoring)
	MergeTime  time.Duration
	EvalTime   time.Duration
}

// PutCurve records curve points (table mt_report_curve), replacing points
// of the same method, variant, study and number of models.
func (db *DB) PutCurve(ctx context.Context, pts []CurvePoint) error {
	now := formatTime(time.Now())
	return db.inTx(ctx, "results: record the extension curve", func(tx *sql.Tx) error {
		for _, p := range pts {
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO mt_report_curve (method, variant, study, models, tasks, mean,
	normalized, merge_seconds, eval_seconds, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (method, variant, study, models) DO UPDATE SET tasks = excluded.tasks, mean = excluded.mean,
	normalized = excluded.normalized, merge_seconds = excluded.merge_seconds,
	eval_seconds = excluded.eval_seconds, created_at = excluded.created_at`),
				p.Method, p.Variant, p.Study, p.Models, p.Tasks, p.Mean, p.Normalized,
				p.MergeTime.Seconds(), p.EvalTime.Seconds(), now); err != nil {
				return fmt.Errorf("point %s/%s at %d models: %w", p.Method, p.Variant, p.Models, err)
			}
		}
		return nil
	})
}

// Curve reads the extension curve, by method, variant and size. A
// database without the table (one of version 3 or older that never held a
// curve) has none.
func (db *DB) Curve(ctx context.Context) ([]CurvePoint, error) {
	ok, err := db.HasTable(ctx, "mt_report_curve")
	if err != nil || !ok {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT method, variant, study, models, tasks, mean, normalized, merge_seconds, eval_seconds
FROM mt_report_curve ORDER BY method, variant, models, study`)
	if err != nil {
		return nil, fmt.Errorf("results: read the extension curve: %w", err)
	}
	defer rows.Close()
	var out []CurvePoint
	for rows.Next() {
		var p CurvePoint
		var ms, es float64
		if err := rows.Scan(&p.Method, &p.Variant, &p.Study, &p.Models, &p.Tasks, &p.Mean, &p.Normalized, &ms, &es); err != nil {
			return nil, fmt.Errorf("results: read the extension curve: %w", err)
		}
		p.MergeTime, p.EvalTime = time.Duration(ms*float64(time.Second)), time.Duration(es*float64(time.Second))
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("results: read the extension curve: %w", err)
	}
	return out, nil
}

// HasTable reports whether the database has a table of this name (one of
// mergetune's or goptuna's).
func (db *DB) HasTable(ctx context.Context, name string) (bool, error) {
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if db.dialect == dialectPostgres {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	}
	var n int
	if err := db.sql.QueryRowContext(ctx, q, name).Scan(&n); err != nil {
		return false, fmt.Errorf("results: look for table %s in %s: %w", name, db.name, err)
	}
	return n > 0, nil
}
