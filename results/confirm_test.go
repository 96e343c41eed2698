package results

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
)

func TestConfirmations(t *testing.T)         { testConfirmations(t, openTemp) }
func TestPostgresConfirmations(t *testing.T) { testConfirmations(t, openPostgresTemp) }

// testConfirmations records a study's confirmations, reads them back by
// tune rank, and replaces them.
func testConfirmations(t *testing.T, open func(*testing.T) *DB) {
	ctx := context.Background()
	db := open(t)
	first := []Confirmation{{Study: "s", Trial: 9, TuneRank: 1, Tune: 0.9, Confirm: 0.6, Items: 400}}
	if err := db.PutConfirmations(ctx, "s", first); err != nil {
		t.Fatal(err)
	}
	cs := []Confirmation{
		{Study: "s", Trial: 4, TuneRank: 2, Tune: 0.8, Confirm: 0.75, Items: 400, Chosen: true},
		{Study: "s", Trial: 9, TuneRank: 1, Tune: 0.9, Confirm: 0.7, Items: 400},
	}
	if err := db.PutConfirmations(ctx, "s", cs); err != nil {
		t.Fatal(err)
	}
	if err := db.PutConfirmations(ctx, "other", first); err != nil {
		t.Fatal(err)
	}
	got, err := db.Confirmations(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Confirmation{cs[1], cs[0]}; !reflect.DeepEqual(got, want) {
		t.Errorf("confirmations %+v, want %+v", got, want)
	}
	if g := got[0].Gap(); g < 0.2-1e-12 || g > 0.2+1e-12 {
		t.Errorf("gap %v, want 0.2", g)
	}
}

// TestMigrateV7Confirmations: a database of version 7 has no
// confirmations read-only, and takes them once migrated.
func TestMigrateV7Confirmations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v7.db")
	raw, err := sql.Open("sqlite3", DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{`CREATE TABLE mergetune_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, updated_at TEXT NOT NULL)`,
		`INSERT INTO mergetune_schema VALUES (1, 7, '')`}
	for _, m := range migrations()[:7] {
		stmts = append(stmts, m...)
	}
	for _, q := range stmts {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := ro.Confirmations(ctx, "s")
	ro.Close()
	if err != nil || cs != nil {
		t.Fatalf("v7 confirmations read-only: %+v %v", cs, err)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.Version(ctx); err != nil || v != SchemaVersion {
		t.Fatalf("version %d %v, want %d", v, err, SchemaVersion)
	}
	c := []Confirmation{{Study: "s", Trial: 1, TuneRank: 1, Tune: 0.5, Confirm: 0.4, Items: 10, Chosen: true}}
	if err := db.PutConfirmations(ctx, "s", c); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Confirmations(ctx, "s"); err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("migrated confirmations %+v %v, want %+v", got, err, c)
	}
}
