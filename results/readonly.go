package results

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mergetune/mergetune/results/dsn"
)

// sqliteMagic starts every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// ErrNotDatabase is wrapped by OpenReadOnly's error for a file that is not
// a mergetune database (empty, not SQLite, or without mergetune's schema).
var ErrNotDatabase = errors.New("not a mergetune database")

// OpenReadOnly opens an existing mergetune database for reading only: it
// never creates, migrates or writes it. path is a SQLite file (which must
// be a regular file holding a mergetune database: an empty or foreign file
// gets an error wrapping ErrNotDatabase, and is left as it is) or a
// PostgreSQL DSN (whose sessions are then read-only). A database of an
// older schema version is read as it is; one newer than this mergetune
// supports is refused.
func OpenReadOnly(ctx context.Context, path string) (_ *DB, err error) {
	defer func() { err = dsn.RedactError(err, path) }()
	var db *DB
	if IsPostgres(path) {
		db, err = openPostgresReadOnly(path)
	} else {
		db, err = openSQLiteReadOnly(path)
	}
	if err != nil {
		return nil, err
	}
	if err := db.readVersion(ctx); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("results: open %s: %w", db.name, err)
	}
	return db, nil
}

// openSQLiteReadOnly checks that path is a SQLite file and opens it in
// SQLite's read-only mode.
func openSQLiteReadOnly(path string) (*DB, error) {
	name := RedactDSN(path)
	if err := checkSQLiteFile(path); err != nil {
		return nil, fmt.Errorf("results: open %s: %w", name, err)
	}
	sqlDB, err := sql.Open("sqlite3", ReadOnlyDSN(path))
	if err != nil {
		return nil, fmt.Errorf("results: open %s: %w", name, err)
	}
	return &DB{sql: sqlDB, path: path, name: name, readOnly: true}, nil
}

// ReadOnlyDSN returns the go-sqlite3 data source name that opens the
// database file at path read-only (SQLite's mode=ro): no statement can
// write it, and opening it creates nothing. path must not contain '?'.
func ReadOnlyDSN(path string) string {
	esc := strings.NewReplacer("%", "%25", "#", "%23", "?", "%3f").Replace(path)
	return "file:" + esc + "?mode=ro&_busy_timeout=10000"
}

// checkSQLiteFile refuses what is not a regular file starting with SQLite's
// header, without blocking on a FIFO or a device.
func checkSQLiteFile(path string) error {
	if strings.ContainsRune(path, '?') {
		return errors.New("the path must not contain '?'")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: not a regular file (%s)", ErrNotDatabase, fi.Mode().Type())
	}
	if fi.Size() == 0 {
		return fmt.Errorf("%w: the file is empty", ErrNotDatabase)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, []byte(sqliteMagic)) {
		return fmt.Errorf("%w: not a SQLite file", ErrNotDatabase)
	}
	return nil
}

// openPostgresReadOnly opens a PostgreSQL database whose sessions default
// to read-only transactions.
func openPostgresReadOnly(dsn string) (*DB, error) {
	name := RedactDSN(dsn)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("results: open %s: %w", name, err)
	}
	cfg.RuntimeParams["default_transaction_read_only"] = "on"
	sqlDB := stdlib.OpenDB(*cfg)
	ConfigurePool(sqlDB)
	return &DB{sql: sqlDB, path: dsn, name: name, dialect: dialectPostgres, readOnly: true}, nil
}

// readVersion reads the stored schema version into db.version, refusing a
// database without mergetune's schema or with a newer one.
func (db *DB) readVersion(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return err
	}
	// Is there a mergetune_schema table (on PostgreSQL: on the search
	// path, as the queries will see it)?
	query := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'mergetune_schema'`
	if db.dialect == dialectPostgres {
		query = `SELECT count(*) FROM (SELECT to_regclass('mergetune_schema') AS r) x WHERE r IS NOT NULL`
	}
	var n int
	err := db.sql.QueryRowContext(ctx, query).Scan(&n)
	if err != nil {
		if db.dialect == dialectSQLite && strings.Contains(err.Error(), "not a database") {
			return fmt.Errorf("%w: %v", ErrNotDatabase, err)
		}
		return fmt.Errorf("read the schema: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: it holds no mergetune records (run a study or an evaluation first)", ErrNotDatabase)
	}
	v, err := db.Version(ctx)
	if err != nil {
		return err
	}
	if v > SchemaVersion {
		return fmt.Errorf("schema version %d is newer than this mergetune supports (%d); upgrade mergetune", v, SchemaVersion)
	}
	db.version = v
	return nil
}

// ReadOnly reports whether the database was opened with OpenReadOnly.
func (db *DB) ReadOnly() bool { return db.readOnly }
