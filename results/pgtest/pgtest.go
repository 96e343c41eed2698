// Package pgtest gives tests a PostgreSQL database to run against: a
// fresh schema in the database named by the MERGETUNE_TEST_POSTGRES
// environment variable, dropped when the test ends.
//
// The variable is required: a test that needs PostgreSQL fails (it does
// not skip) when it is unset. To start a local server (Debian's
// postgresql package, as root):
//
//	pg_ctlcluster 15 main start
//	su postgres -c "psql -c \"CREATE ROLE mergetune LOGIN PASSWORD 'mergetune'\""
//	su postgres -c "createdb -O mergetune mergetune_test"
//	export MERGETUNE_TEST_POSTGRES='postgres://mergetune:mergetune@127.0.0.1:5432/mergetune_test?sslmode=disable'
//
// .ci/run does the same.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// Env names the environment variable holding the test server's DSN.
const Env = "MERGETUNE_TEST_POSTGRES"

// DSN returns the test server's DSN, failing the test when Env is unset.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn != "" {
		return dsn
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set on CI: .ci/run must start PostgreSQL and export it", Env)
	}
	t.Fatalf(`%s is not set: this test needs a PostgreSQL server. As root:
	pg_ctlcluster 15 main start
	su postgres -c "psql -c \"CREATE ROLE mergetune LOGIN PASSWORD 'mergetune'\""
	su postgres -c "createdb -O mergetune mergetune_test"
then run the tests with
	%s='postgres://mergetune:mergetune@127.0.0.1:5432/mergetune_test?sslmode=disable'`, Env, Env)
	return ""
}

// Schema creates a schema of its own for the test and returns a DSN whose
// connections use it (search_path); the schema and everything in it are
// dropped when the test ends.
func Schema(t testing.TB) string {
	t.Helper()
	base := DSN(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "mt_test_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema %s in %s: %v", schema, Env, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
