package results

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
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
// models scored on their tasks (one subset of the task models), or the
// aggregate over the subsets of one size (Subset 0).
type CurvePoint struct {
	Method  string // merge method ("ties", "breadcrumbs", …)
	Variant string // VariantFrozen or VariantTuned
	Study   string // the study whose recipe (frozen) or winner (tuned) it is
	Models  int    // models merged
	// Rule is the scale rule the frozen recipe was merged by
	// ("fixed", "mean", "sqrt", "refit": search.ScaleRules); "" is
	// stored as "fixed".
	Rule string
	// Subset is the subset of task models, 1 to Subsets; 0 is the
	// aggregate of the size's subsets (or the one merge of a curve
	// recorded without subsets).
	Subset  int
	Subsets int    // subsets drawn at this size (0 is stored as 1)
	Members string // the subset's task models, comma-separated ("" for an aggregate)
	Tasks   int    // tasks scored
	Mean    float64
	// Normalized is the normalized accuracy (eval.Scoring); of an
	// aggregate, the mean over its subsets.
	Normalized float64
	// SubsetLo and SubsetHi are an aggregate's 95% interval of the mean
	// across subsets (Student's t over the subsets' normalized scores;
	// Normalized itself with one subset); a subset's row has its own
	// Normalized in both.
	SubsetLo, SubsetHi float64
	// ItemLo and ItemHi are the 95% interval of Normalized from the
	// evaluation items alone (the subsets held fixed).
	ItemLo, ItemHi float64
	// Merges and Items are the evaluation cost: merges made and items
	// evaluated (a refit rule's search included); of an aggregate, the
	// sum over its subsets, as are MergeTime and EvalTime.
	Merges, Items int
	MergeTime     time.Duration
	EvalTime      time.Duration
	// Factor is the scale the rule gave the frozen recipe's λ/weights
	// (refit: the one it chose); of an aggregate, the mean over its
	// subsets. 0: not recorded (a tuned point, or a database older than
	// schema version 9).
	Factor float64
}

// PutCurve records curve points (table mt_report_curve), replacing points
// of the same method, variant, study, number of models, rule and subset.
func (db *DB) PutCurve(ctx context.Context, pts []CurvePoint) error {
	now := formatTime(time.Now())
	return db.inTx(ctx, "results: record the extension curve", func(tx *sql.Tx) error {
		for _, p := range pts {
			rule, subsets := p.Rule, p.Subsets
			if rule == "" {
				rule = "fixed"
			}
			if subsets < 1 {
				subsets = 1
			}
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO mt_report_curve (method, variant, study, models, rule, subset,
	subsets, members, tasks, mean, normalized, subset_lo, subset_hi, item_lo, item_hi, merges, items,
	merge_seconds, eval_seconds, factor, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (method, variant, study, models, rule, subset) DO UPDATE SET subsets = excluded.subsets,
	members = excluded.members, tasks = excluded.tasks, mean = excluded.mean, normalized = excluded.normalized,
	subset_lo = excluded.subset_lo, subset_hi = excluded.subset_hi, item_lo = excluded.item_lo,
	item_hi = excluded.item_hi, merges = excluded.merges, items = excluded.items,
	merge_seconds = excluded.merge_seconds, eval_seconds = excluded.eval_seconds, factor = excluded.factor,
	created_at = excluded.created_at`),
				p.Method, p.Variant, p.Study, p.Models, rule, p.Subset, subsets, p.Members, p.Tasks, p.Mean, p.Normalized,
				p.SubsetLo, p.SubsetHi, p.ItemLo, p.ItemHi, p.Merges, p.Items,
				p.MergeTime.Seconds(), p.EvalTime.Seconds(), p.Factor, now); err != nil {
				return fmt.Errorf("point %s/%s/%s at %d models, subset %d: %w", p.Method, p.Variant, rule, p.Models, p.Subset, err)
			}
		}
		return nil
	})
}

// Curve reads the extension curve, by method, variant, rule, size and
// subset (the aggregate first). A database without the table (one of
// version 3 or older that never held a curve) has none; one of version 4
// has the fixed rule's aggregates only.
func (db *DB) Curve(ctx context.Context) ([]CurvePoint, error) {
	ok, err := db.HasTable(ctx, "mt_report_curve")
	if err != nil || !ok {
		return nil, err
	}
	q := `SELECT method, variant, study, models, rule, subset, subsets, members, tasks, mean, normalized,
	subset_lo, subset_hi, item_lo, item_hi, merges, items, merge_seconds, eval_seconds, factor
FROM mt_report_curve ORDER BY method, variant, rule, models, subset, study`
	switch {
	case db.version < 5:
		q = `SELECT method, variant, study, models, 'fixed', 0, 1, '', tasks, mean, normalized,
	normalized, normalized, normalized, normalized, 1, 0, merge_seconds, eval_seconds, 0
FROM mt_report_curve ORDER BY method, variant, models, study`
	case db.version < 9:
		q = strings.Replace(q, "eval_seconds, factor", "eval_seconds, 0", 1)
	}
	rows, err := db.sql.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("results: read the extension curve: %w", err)
	}
	defer rows.Close()
	var out []CurvePoint
	for rows.Next() {
		var p CurvePoint
		var ms, es float64
		if err := rows.Scan(&p.Method, &p.Variant, &p.Study, &p.Models, &p.Rule, &p.Subset, &p.Subsets, &p.Members,
			&p.Tasks, &p.Mean, &p.Normalized, &p.SubsetLo, &p.SubsetHi, &p.ItemLo, &p.ItemHi, &p.Merges, &p.Items,
			&ms, &es, &p.Factor); err != nil {
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
