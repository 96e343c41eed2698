package report

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"

	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search"
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
	Normalized float64 // mean of accuracy / the task model's own accuracy
	MergeTime  time.Duration
	EvalTime   time.Duration
}

// curveSchema creates the curve table; it is created on first use and
// sits beside mergetune's mt_ tables.
const curveSchema = `CREATE TABLE IF NOT EXISTS mt_report_curve (
	id            INTEGER PRIMARY KEY,
	method        TEXT    NOT NULL,
	variant       TEXT    NOT NULL,
	study         TEXT    NOT NULL,
	models        INTEGER NOT NULL,
	tasks         INTEGER NOT NULL,
	mean          REAL    NOT NULL,
	normalized    REAL    NOT NULL,
	merge_seconds REAL    NOT NULL,
	eval_seconds  REAL    NOT NULL,
	created_at    TEXT    NOT NULL,
	UNIQUE (method, variant, study, models)
)`

// FromExtend converts search.Extend's curve of a recipe from study s
// (method m) into frozen curve points. Points of Extend's comparison
// variants keep their own method name.
func FromExtend(s, m string, pts []search.CurvePoint) []CurvePoint {
	out := make([]CurvePoint, 0, len(pts))
	for _, p := range pts {
		method := m
		if p.Method != "recipe" {
			method = p.Method
		}
		out = append(out, CurvePoint{Method: method, Variant: VariantFrozen, Study: s, Models: p.Models, Tasks: p.Tasks,
			Mean: p.Mean, Normalized: p.Normalized, MergeTime: p.MergeTime, EvalTime: p.EvalTime})
	}
	return out
}

// conn is the report's database connection, to a SQLite file or a
// PostgreSQL database; queries are written with ? placeholders, which it
// rebinds to $1, $2, … for PostgreSQL.
type conn struct {
	*sql.DB
	pg bool
}

// rebind rewrites ? placeholders for the connection's dialect.
func (c *conn) rebind(q string) string { return results.Rebind(q, c.pg) }

// QueryContext is sql.DB's, with the query rebound.
func (c *conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.DB.QueryContext(ctx, c.rebind(q), args...)
}

// QueryRowContext is sql.DB's, with the query rebound.
func (c *conn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return c.DB.QueryRowContext(ctx, c.rebind(q), args...)
}

// ExecContext is sql.DB's, with the query rebound.
func (c *conn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.DB.ExecContext(ctx, c.rebind(q), args...)
}

// openSQL opens the study database at path, a SQLite file (which must
// exist) or a postgres:// DSN, with mergetune's connection settings.
func openSQL(ctx context.Context, path string) (*conn, error) {
	pg := results.IsPostgres(path)
	if !pg {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("report: database %s: %w", path, err)
		}
	}
	// results.Open checks the path, creates mergetune's schema if the
	// database has none and registers the drivers.
	rdb, err := results.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := rdb.Close(); err != nil {
		return nil, err
	}
	driver, dsn := "sqlite3", results.DSN(path)
	if pg {
		driver, dsn = "pgx", path
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("report: open %s: %w", results.RedactDSN(path), err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("report: open %s: %w", results.RedactDSN(path), err)
	}
	return &conn{DB: db, pg: pg}, nil
}

// openSQLReadOnly opens the study database at path for reading only
// (results.OpenReadOnly): nothing is created, migrated or written, and a
// file that is not a mergetune database gets an error.
func openSQLReadOnly(ctx context.Context, path string) (*conn, *results.DB, error) {
	rdb, err := results.OpenReadOnly(ctx, path)
	if err != nil {
		return nil, nil, fmt.Errorf("report: %w", err)
	}
	pg := results.IsPostgres(path)
	driver, dsn := "sqlite3", results.ReadOnlyDSN(path)
	if pg {
		driver, dsn = "pgx", path
	}
	db, err := sql.Open(driver, dsn)
	if err == nil {
		err = db.PingContext(ctx)
		if err != nil {
			db.Close()
		}
	}
	if err != nil {
		rdb.Close()
		return nil, nil, fmt.Errorf("report: open %s: %w", results.RedactDSN(path), err)
	}
	return &conn{DB: db, pg: pg}, rdb, nil
}

// SaveCurve records curve points in the database at path (table
// mt_report_curve), replacing points of the same method, variant, study
// and number of models.
func SaveCurve(ctx context.Context, path string, pts []CurvePoint) error {
	db, err := openSQL(ctx, path)
	if err != nil {
		return fmt.Errorf("report: save curve: %w", err)
	}
	defer db.Close()
	schema := curveSchema
	if db.pg {
		schema = results.PostgresDDL(schema)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("report: save curve in %s: create table: %w", path, err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("report: save curve in %s: %w", path, err)
	}
	defer tx.Rollback()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for _, p := range pts {
		if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO mt_report_curve (method, variant, study, models, tasks, mean,
	normalized, merge_seconds, eval_seconds, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (method, variant, study, models) DO UPDATE SET tasks = excluded.tasks, mean = excluded.mean,
	normalized = excluded.normalized, merge_seconds = excluded.merge_seconds,
	eval_seconds = excluded.eval_seconds, created_at = excluded.created_at`),
			p.Method, p.Variant, p.Study, p.Models, p.Tasks, p.Mean, p.Normalized,
			p.MergeTime.Seconds(), p.EvalTime.Seconds(), now); err != nil {
			return fmt.Errorf("report: save curve point %s/%s at %d models in %s: %w", p.Method, p.Variant, p.Models, path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("report: save curve in %s: commit: %w", path, err)
	}
	return nil
}

// loadCurve reads the curve points, by method, variant and size; a
// database without the table has none.
func loadCurve(ctx context.Context, db *conn) ([]CurvePoint, error) {
	ok, err := hasTable(ctx, db, "mt_report_curve")
	if err != nil || !ok {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT method, variant, study, models, tasks, mean, normalized, merge_seconds, eval_seconds
FROM mt_report_curve ORDER BY method, variant, models, study`)
	if err != nil {
		return nil, fmt.Errorf("read curve: %w", err)
	}
	defer rows.Close()
	var out []CurvePoint
	for rows.Next() {
		var p CurvePoint
		var ms, es float64
		if err := rows.Scan(&p.Method, &p.Variant, &p.Study, &p.Models, &p.Tasks, &p.Mean, &p.Normalized, &ms, &es); err != nil {
			return nil, fmt.Errorf("read curve: %w", err)
		}
		p.MergeTime, p.EvalTime = time.Duration(ms*float64(time.Second)), time.Duration(es*float64(time.Second))
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read curve: %w", err)
	}
	return out, nil
}

// hasTable reports whether the database has a table of this name.
func hasTable(ctx context.Context, db *conn, name string) (bool, error) {
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if db.pg {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
	}
	var n int
	if err := db.QueryRowContext(ctx, q, name).Scan(&n); err != nil {
		return false, fmt.Errorf("look for table %s: %w", name, err)
	}
	return n > 0, nil
}
