package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"    // registers the "pgx" driver
	sqlite3 "github.com/mattn/go-sqlite3" // also registers the "sqlite3" driver

	"github.com/mergetune/mergetune/results/dsn"
)

// dsnParams are the connection settings every writer of a mergetune
// database must share: WAL so readers never block the writer, a busy
// timeout so a writer waits for the lock, and immediate transactions so
// the lock is taken at BEGIN, where the busy timeout applies (a deferred
// transaction that upgrades from read to write fails at once).
const dsnParams = "_busy_timeout=10000&_journal_mode=WAL&_txlock=immediate"

// SchemaVersion is the version of the mergetune schema this package
// writes; Open migrates older databases up to it.
const SchemaVersion = 9

// timeLayout is how times are stored: UTC, fixed width, so that text order
// is time order.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// DSN returns the go-sqlite3 data source name for the database file at
// path, with the settings that let several goroutines and processes write
// at once (see the package documentation). The search package passes it
// to goptuna's gorm so both share the same settings. path must not
// contain '?'.
func DSN(path string) string {
	return path + "?" + dsnParams
}

// IsPostgres reports whether storage is a PostgreSQL DSN (a URL starting
// with postgres:// or postgresql://) rather than a SQLite file path.
func IsPostgres(storage string) bool { return dsn.IsPostgres(storage) }

// RedactDSN returns storage with every password replaced by "xxxxx", for
// messages (see dsn.Redact): a URL's user password and password query
// parameters, and a key=value string's password settings. A SQLite path
// is returned as it is.
func RedactDSN(storage string) string { return dsn.Redact(storage) }

// dialect is the SQL dialect of a database.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// DB is an open mergetune results database. It is safe for concurrent use
// by several goroutines.
type DB struct {
	sql     *sql.DB
	path    string // as given to Open
	name    string // path, or the DSN without its password, for messages
	dialect dialect
	// version is the schema version the queries may rely on:
	// SchemaVersion for a database opened with Open (which migrates),
	// the stored version for one opened with OpenReadOnly.
	version  int
	readOnly bool // opened with OpenReadOnly
}

// Open opens the mergetune results database at path and migrates the
// mergetune schema to SchemaVersion. path is either a SQLite file path
// (the file is created if needed; its directory must exist) or a
// PostgreSQL DSN (postgres://user:password@host:port/db?sslmode=...; the
// database must exist). Opening the same database from several processes
// (on several machines, for PostgreSQL) at once is safe.
func Open(ctx context.Context, path string) (_ *DB, err error) {
	defer func() { err = dsn.RedactError(err, path) }()
	if IsPostgres(path) {
		return openPostgres(ctx, path)
	}
	name := RedactDSN(path) // for messages: a path may hold a key=value DSN's password
	if path == "" {
		return nil, errors.New("results: open: empty database path")
	}
	if path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("results: open %q: want a file path, not a SQLite URI or in-memory database", name)
	}
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("results: open %q: the path must not contain '?'", name)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("results: open %q: directory %q does not exist", name, RedactDSN(dir))
		}
		return nil, fmt.Errorf("results: open %q: %w", name, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("results: open %q: %q is not a directory", name, RedactDSN(dir))
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("results: open %q: is a directory", name)
	}

	// mergetune's own connections also enforce foreign keys between its
	// tables; goptuna's connections (DSN) are left as goptuna expects.
	sqlDB, err := sql.Open("sqlite3", DSN(path)+"&_foreign_keys=1")
	if err != nil {
		return nil, fmt.Errorf("results: open %q: %w", name, err)
	}
	db := &DB{sql: sqlDB, path: path, name: name, version: SchemaVersion}
	if err := db.connect(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("results: open %q: %w", name, err)
	}
	return db, nil
}

// openPostgres opens the PostgreSQL database named by dsn through pgx.
func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	name := RedactDSN(dsn)
	sqlDB, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("results: open %s: %w", name, err)
	}
	ConfigurePool(sqlDB)
	db := &DB{sql: sqlDB, path: dsn, name: name, dialect: dialectPostgres, version: SchemaVersion}
	err = db.sql.PingContext(ctx)
	if err == nil {
		err = db.migrate(ctx)
	}
	if err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("results: open %s: %w", name, err)
	}
	return db, nil
}

// ConfigurePool sets the connection pool limits every PostgreSQL handle of
// mergetune uses: a bounded pool, and connections recycled before a
// server or firewall drops them while a long trial runs.
func ConfigurePool(db *sql.DB) {
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
}

// MigrationLock is the key of the PostgreSQL advisory lock that processes
// hold (pg_advisory_xact_lock) while they migrate the schemas of a shared
// database, mergetune's and goptuna's, so concurrent openers take turns.
const MigrationLock int64 = 0x6d657267_65747565 // "mergetue"

// q rewrites a query written with ? placeholders for db's dialect: $1,
// $2, ... for PostgreSQL. Queries must not contain a literal '?'.
func (db *DB) q(query string) string {
	return Rebind(query, db.dialect == dialectPostgres)
}

// Rebind rewrites the ? placeholders of a query written for SQLite as
// PostgreSQL's $1, $2, … when postgres is true.
func Rebind(query string, postgres bool) string {
	if !postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// blob passes free text (prompts and model responses, which may hold NUL
// bytes PostgreSQL text cannot) to a column that is BYTEA on PostgreSQL.
func (db *DB) blob(s string) any {
	if db.dialect == dialectPostgres {
		return []byte(s)
	}
	return s
}

// openRetryFor bounds how long Open retries a busy database; it matches
// the DSN's busy timeout.
const openRetryFor = 10 * time.Second

// connect opens the first connection and migrates the schema, retrying
// while the database is busy. The first connection to a new file switches
// it to WAL, and SQLite reports SQLITE_BUSY at once, without waiting for
// the busy timeout, when several processes race to do that.
func (db *DB) connect(ctx context.Context) error {
	deadline := time.Now().Add(openRetryFor)
	wait := 5 * time.Millisecond
	for {
		err := db.sql.PingContext(ctx)
		if err == nil {
			err = db.migrate(ctx)
		}
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up waiting: %w)", err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's "database is locked" or "table
// is locked".
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// Path returns the file path (or DSN) the database was opened with.
func (db *DB) Path() string { return db.path }

// Close closes the database.
func (db *DB) Close() error {
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("results: close %q: %w", db.name, err)
	}
	return nil
}

// Version returns the schema version recorded in the database.
func (db *DB) Version(ctx context.Context) (int, error) {
	var v int
	err := db.sql.QueryRowContext(ctx, `SELECT version FROM mergetune_schema WHERE id = 1`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("results: read schema version of %q: %w", db.name, err)
	}
	return v, nil
}

// migrate brings the schema up to SchemaVersion in one immediate
// transaction, so concurrent openers run it one at a time and each sees
// the others' completed work.
func (db *DB) migrate(ctx context.Context) (err error) {
	steps := migrations()
	if len(steps) != SchemaVersion {
		return fmt.Errorf("internal error: %d migrations for schema version %d", len(steps), SchemaVersion)
	}
	return db.inTx(ctx, "migrate schema", func(tx *sql.Tx) error {
		if db.dialect == dialectPostgres {
			// CREATE TABLE IF NOT EXISTS races on PostgreSQL: take
			// turns, each seeing the others' committed work.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, MigrationLock); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS mergetune_schema (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	version    INTEGER NOT NULL,
	updated_at TEXT    NOT NULL
)`); err != nil {
			return fmt.Errorf("create mergetune_schema: %w", err)
		}
		var version int
		err := tx.QueryRowContext(ctx, `SELECT version FROM mergetune_schema WHERE id = 1`).Scan(&version)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			version = 0
		case err != nil:
			return fmt.Errorf("read schema version: %w", err)
		}
		if version > SchemaVersion {
			return fmt.Errorf("schema version %d is newer than this mergetune supports (%d); upgrade mergetune", version, SchemaVersion)
		}
		if version == SchemaVersion {
			return nil
		}
		for v := version; v < SchemaVersion; v++ {
			for i, stmt := range steps[v] {
				if db.dialect == dialectPostgres {
					stmt = PostgresDDL(stmt)
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("migration to version %d, statement %d: %w", v+1, i+1, err)
				}
			}
		}
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO mergetune_schema (id, version, updated_at) VALUES (1, ?, ?)
ON CONFLICT (id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`),
			SchemaVersion, formatTime(time.Now()))
		if err != nil {
			return fmt.Errorf("record schema version %d: %w", SchemaVersion, err)
		}
		return nil
	})
}

// postgresTypes matches the SQLite column types PostgresDDL rewrites.
var postgresTypes = regexp.MustCompile(`\b(?:(prompt|response|extracted|target|choices)(\s+)TEXT|INTEGER PRIMARY KEY|INTEGER|REAL)\b`)

// PostgresDDL rewrites a schema statement written for SQLite for
// PostgreSQL: 64-bit identity keys and integers, double precision reals,
// and BYTEA for free text (see DB.blob).
func PostgresDDL(stmt string) string {
	return postgresTypes.ReplaceAllStringFunc(stmt, func(m string) string {
		switch m {
		case "INTEGER PRIMARY KEY":
			return "BIGSERIAL PRIMARY KEY"
		case "INTEGER":
			return "BIGINT"
		case "REAL":
			return "DOUBLE PRECISION"
		}
		return strings.TrimSuffix(m, "TEXT") + "BYTEA"
	})
}

// migrations returns the schema's migration steps: element i moves the
// schema from version i to version i+1. Steps are only ever appended.
func migrations() [][]string {
	return [][]string{
		// Version 1: the evaluation cache; evaluation runs with their task
		// scores and item outcomes, optionally tied to a trial; a study's
		// trials and baselines, beside goptuna's tables.
		{
			`CREATE TABLE mt_eval_cache (
	key          TEXT    PRIMARY KEY,
	model_digest TEXT    NOT NULL,
	settings     TEXT    NOT NULL,
	task         TEXT    NOT NULL,
	item_id      TEXT    NOT NULL,
	prompt       TEXT    NOT NULL,
	response     TEXT    NOT NULL,
	extracted    TEXT    NOT NULL,
	correct      INTEGER NOT NULL,
	latency_ms   REAL    NOT NULL,
	created_at   TEXT    NOT NULL
)`,
			`CREATE INDEX mt_eval_cache_model ON mt_eval_cache (model_digest, task)`,
			`CREATE TABLE mt_eval_runs (
	id           INTEGER PRIMARY KEY,
	started_at   TEXT    NOT NULL,
	model_dir    TEXT    NOT NULL,
	model_digest TEXT    NOT NULL,
	settings     TEXT    NOT NULL,
	host         TEXT    NOT NULL
)`,
			`CREATE TABLE mt_trials (
	id               INTEGER PRIMARY KEY,
	study            TEXT    NOT NULL,
	trial_number     INTEGER NOT NULL,
	goptuna_trial_id INTEGER NOT NULL,
	state            TEXT    NOT NULL,
	method           TEXT    NOT NULL,
	merge_yaml       TEXT    NOT NULL,
	objective        REAL,
	model_digest     TEXT    NOT NULL,
	merge_seconds    REAL    NOT NULL,
	import_seconds   REAL    NOT NULL,
	eval_seconds     REAL    NOT NULL,
	failure          TEXT    NOT NULL,
	started_at       TEXT,
	finished_at      TEXT,
	worker           TEXT    NOT NULL,
	UNIQUE (study, trial_number)
)`,
			`CREATE TABLE mt_task_scores (
	id        INTEGER PRIMARY KEY,
	run_id    INTEGER NOT NULL REFERENCES mt_eval_runs (id) ON DELETE CASCADE,
	trial_id  INTEGER REFERENCES mt_trials (id) ON DELETE SET NULL,
	task      TEXT    NOT NULL,
	split     TEXT    NOT NULL,
	n         INTEGER NOT NULL,
	correct   INTEGER NOT NULL,
	accuracy  REAL    NOT NULL,
	ci_lo     REAL    NOT NULL,
	ci_hi     REAL    NOT NULL,
	UNIQUE (run_id, task, split)
)`,
			`CREATE INDEX mt_task_scores_trial ON mt_task_scores (trial_id)`,
			`CREATE TABLE mt_item_outcomes (
	id        INTEGER PRIMARY KEY,
	run_id    INTEGER NOT NULL REFERENCES mt_eval_runs (id) ON DELETE CASCADE,
	trial_id  INTEGER REFERENCES mt_trials (id) ON DELETE SET NULL,
	task      TEXT    NOT NULL,
	item_id   TEXT    NOT NULL,
	correct   INTEGER NOT NULL,
	extracted TEXT    NOT NULL,
	response  TEXT    NOT NULL,
	cached    INTEGER NOT NULL,
	UNIQUE (run_id, task, item_id)
)`,
			`CREATE INDEX mt_item_outcomes_trial ON mt_item_outcomes (trial_id)`,
			`CREATE TABLE mt_baselines (
	study        TEXT    NOT NULL,
	model        TEXT    NOT NULL,
	task         TEXT    NOT NULL,
	accuracy     REAL    NOT NULL,
	n            INTEGER NOT NULL,
	ci_lo        REAL    NOT NULL,
	ci_hi        REAL    NOT NULL,
	model_digest TEXT    NOT NULL,
	PRIMARY KEY (study, model, task)
)`,
		},
		// Version 2: each study's definition (what its trials' values
		// depend on), so a changed study file is noticed; and the trial a
		// duplicate trial reused the result of.
		{
			`CREATE TABLE mt_studies (
	study      TEXT    PRIMARY KEY,
	origin     TEXT    NOT NULL,
	hash       TEXT    NOT NULL,
	definition TEXT    NOT NULL,
	created_at TEXT    NOT NULL,
	updated_at TEXT    NOT NULL
)`,
			`CREATE INDEX mt_studies_origin ON mt_studies (origin)`,
			`ALTER TABLE mt_trials ADD COLUMN duplicate_of INTEGER`,
		},
		// Version 3: each item outcome keeps what was asked and expected:
		// the prompt as sent, the target, the choices (a JSON array) and
		// whether the item was truncated or skipped for its length.
		{
			`ALTER TABLE mt_item_outcomes ADD COLUMN prompt TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE mt_item_outcomes ADD COLUMN target TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE mt_item_outcomes ADD COLUMN choices TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE mt_item_outcomes ADD COLUMN overlong TEXT NOT NULL DEFAULT ''`,
		},
		// Version 4: each study's settings as it was created (task
		// models, weights, objective, the study file's text), so a
		// report needs only the database; and the extension curve,
		// which the report used to create outside the migrations (IF
		// NOT EXISTS: a database of version 3 may hold it already, with
		// this schema).
		{
			`CREATE TABLE mt_study_settings (
	study      TEXT PRIMARY KEY,
	settings   TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
)`,
			`CREATE TABLE IF NOT EXISTS mt_report_curve (
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
)`,
		},
		// Version 5: the extension curve by scale rule and subset of task
		// models (search.Extend's protocol): a row per size, rule and
		// subset, and the aggregate over the subsets (subset 0) with its
		// interval across subsets; each row's items' interval, members
		// and evaluation cost. The unique key changes, so the table is
		// rebuilt; older points are the fixed rule's aggregate of one
		// subset.
		{
			`CREATE TABLE mt_report_curve_v5 (
	id            INTEGER PRIMARY KEY,
	method        TEXT    NOT NULL,
	variant       TEXT    NOT NULL,
	study         TEXT    NOT NULL,
	models        INTEGER NOT NULL,
	rule          TEXT    NOT NULL,
	subset        INTEGER NOT NULL,
	subsets       INTEGER NOT NULL,
	members       TEXT    NOT NULL,
	tasks         INTEGER NOT NULL,
	mean          REAL    NOT NULL,
	normalized    REAL    NOT NULL,
	subset_lo     REAL    NOT NULL,
	subset_hi     REAL    NOT NULL,
	item_lo       REAL    NOT NULL,
	item_hi       REAL    NOT NULL,
	merges        INTEGER NOT NULL,
	items         INTEGER NOT NULL,
	merge_seconds REAL    NOT NULL,
	eval_seconds  REAL    NOT NULL,
	created_at    TEXT    NOT NULL,
	UNIQUE (method, variant, study, models, rule, subset)
)`,
			`INSERT INTO mt_report_curve_v5 (method, variant, study, models, rule, subset, subsets, members, tasks, mean,
	normalized, subset_lo, subset_hi, item_lo, item_hi, merges, items, merge_seconds, eval_seconds, created_at)
SELECT method, variant, study, models, 'fixed', 0, 1, '', tasks, mean, normalized, normalized, normalized,
	normalized, normalized, 1, 0, merge_seconds, eval_seconds, created_at FROM mt_report_curve`,
			`DROP TABLE mt_report_curve`,
			`ALTER TABLE mt_report_curve_v5 RENAME TO mt_report_curve`,
		},
		// Version 6: where each trial's time went, stage by stage (merge,
		// the backend's import stages, evaluate), in order.
		{
			`CREATE TABLE mt_trial_stages (
	study        TEXT    NOT NULL,
	trial_number INTEGER NOT NULL,
	stage        TEXT    NOT NULL,
	ord          INTEGER NOT NULL,
	seconds      REAL    NOT NULL,
	PRIMARY KEY (study, trial_number, stage)
)`,
		},
		// Version 7: the paper claims checked on the tiny family
		// (`mergetune reproduce`): one row per claim with its value,
		// interval and verdict, and each claim's plot with its points.
		{
			`CREATE TABLE mt_claims (
	id         TEXT    PRIMARY KEY,
	ord        INTEGER NOT NULL,
	paper      TEXT    NOT NULL,
	statement  TEXT    NOT NULL,
	measure    TEXT    NOT NULL,
	value      REAL    NOT NULL,
	lo         REAL    NOT NULL,
	hi         REAL    NOT NULL,
	threshold  REAL    NOT NULL,
	units      INTEGER NOT NULL,
	verdict    TEXT    NOT NULL,
	plot       TEXT    NOT NULL,
	run        TEXT    NOT NULL,
	created_at TEXT    NOT NULL
)`,
			`CREATE TABLE mt_claim_plots (
	name   TEXT    PRIMARY KEY,
	title  TEXT    NOT NULL,
	xlabel TEXT    NOT NULL,
	ylabel TEXT    NOT NULL,
	bars   INTEGER NOT NULL
)`,
			`CREATE TABLE mt_claim_points (
	plot   TEXT    NOT NULL,
	ord    INTEGER NOT NULL,
	series TEXT    NOT NULL,
	detail INTEGER NOT NULL,
	x      REAL    NOT NULL,
	label  TEXT    NOT NULL,
	y      REAL    NOT NULL,
	lo     REAL    NOT NULL,
	hi     REAL    NOT NULL,
	PRIMARY KEY (plot, ord)
)`,
		},
		// Version 8: the confirmation of a study's best trials before
		// freezing: each re-scored trial's tune objective and confirmed
		// score on more items, and which one was frozen.
		{
			`CREATE TABLE mt_confirmations (
	study        TEXT    NOT NULL,
	trial_number INTEGER NOT NULL,
	tune_rank    INTEGER NOT NULL,
	objective    REAL    NOT NULL,
	confirmed    REAL    NOT NULL,
	items        INTEGER NOT NULL,
	chosen       INTEGER NOT NULL,
	created_at   TEXT    NOT NULL,
	PRIMARY KEY (study, trial_number)
)`,
		},
		// Version 9: the scale factor each extension point merged the
		// frozen recipe with (refit's choice; of an aggregate, the mean);
		// 0 on older points, which did not record it.
		{
			`ALTER TABLE mt_report_curve ADD COLUMN factor REAL NOT NULL DEFAULT 0`,
		},
	}
}

// inTx runs fn in one immediate transaction, committing when fn returns
// nil and rolling back otherwise. what names the operation in errors. A
// transaction PostgreSQL aborts as a deadlock victim or serialization
// failure is run again (see retry), so fn must only work through tx.
func (db *DB) inTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	return retry(ctx, func() error {
		tx, err := db.sql.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("%s: begin transaction: %w", what, err)
		}
		if err := fn(tx); err != nil {
			if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
				return fmt.Errorf("%s: %w (rollback: %v)", what, err, rbErr)
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("%s: commit: %w", what, err)
		}
		return nil
	})
}

// exec runs one statement, again when PostgreSQL aborts it as a deadlock
// victim or serialization failure.
func (db *DB) exec(ctx context.Context, query string, args ...any) error {
	return retry(ctx, func() error {
		_, err := db.sql.ExecContext(ctx, query, args...)
		return err
	})
}

// retryAttempts bounds how often retry runs a transaction.
const retryAttempts = 6

// retry runs fn until it succeeds, fails for a reason other than a
// PostgreSQL deadlock (40P01) or serialization failure (40001), or has
// run retryAttempts times, waiting 10 ms, 20 ms, … between runs. Workers
// of several machines writing one study can deadlock on the unique
// indexes; the server then aborts one transaction, which is safe to run
// again.
func retry(ctx context.Context, fn func() error) error {
	wait := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !retryable(err) || attempt == retryAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (not retried: %w)", err, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// retryable reports whether err is PostgreSQL's deadlock or serialization
// failure: the server rolled the transaction back and it may be run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// formatTime renders t for storage; the zero time is stored as "".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// parseTime reads a time written by formatTime; "" is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse stored time %q: %w", s, err)
	}
	return t, nil
}

// nullTime stores the zero time as NULL and any other time as text.
func nullTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: formatTime(t), Valid: true}
}

// boolInt stores a bool as 0 or 1.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
