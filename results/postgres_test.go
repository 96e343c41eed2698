package results

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mergetune/mergetune/results/pgtest"
)

// openPostgres opens a fresh schema of the test PostgreSQL server and
// closes it when the test ends.
func openPostgresTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// TestPostgres runs the round trips of the SQLite tests against
// PostgreSQL.
func TestPostgres(t *testing.T) {
	for name, body := range map[string]func(*testing.T, func(*testing.T) *DB){
		"CacheRoundTrip":    testCacheRoundTrip,
		"RunsRoundTrip":     testRunsRoundTrip,
		"RunWritesRejected": testRunWritesRejected,
		"TrialsUpsert":      testTrialsUpsert,
		"Baselines":         testBaselines,
	} {
		t.Run(name, func(t *testing.T) { body(t, openPostgresTemp) })
	}
}

func TestPostgresOpen(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	// Processes racing to migrate a new database take turns.
	const n = 8
	dbs := make([]*DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = Open(ctx, dsn) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		defer dbs[i].Close()
		if v, err := dbs[i].Version(ctx); err != nil || v != SchemaVersion {
			t.Errorf("open %d: version %d, %v", i, v, err)
		}
	}
	if dbs[0].Path() != dsn {
		t.Errorf("Path() = %q, want the DSN", dbs[0].Path())
	}

	// Concurrent writers over several handles, as several processes.
	const goroutines, m = 8, 10
	errc := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			if err := writeLoad(ctx, dbs[g%n], fmt.Sprintf("g%d", g), m); err != nil {
				errc <- fmt.Errorf("goroutine %d: %w", g, err)
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	checkLoad(t, dbs[0], goroutines, m)

	if _, err := dbs[0].sql.ExecContext(ctx, "UPDATE mergetune_schema SET version = 99"); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(ctx, dsn); err == nil {
		db.Close()
		t.Error("opened a database with a newer schema")
	} else if !strings.Contains(err.Error(), "schema version 99 is newer") {
		t.Errorf("newer schema: %v", err)
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgresql://u@h/db":                           "postgresql://u@h/db",
		"/tmp/x.db":                                     "/tmp/x.db",
	} {
		if got := RedactDSN(in); got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}
