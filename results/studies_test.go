package results

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/mergetune/mergetune/results/pgtest"
)

func TestStudyDefinitions(t *testing.T) {
	testStudyDefinitions(t, func(t *testing.T) *DB {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestPostgresStudyDefinitions(t *testing.T) { testStudyDefinitions(t, openPostgresTemp) }

func testStudyDefinitions(t *testing.T, open func(*testing.T) *DB) {
	ctx := context.Background()
	db := open(t)
	if _, ok, err := db.StudyDefinition(ctx, "toy"); ok || err != nil {
		t.Fatalf("definition of a new study: %v %v", ok, err)
	}
	a := StudyDefinition{Study: "toy", Origin: "toy", Hash: "aaa", Definition: `{"method":"breadcrumbs"}`}
	got, err := db.PutStudyDefinition(ctx, a, false)
	if err != nil || got.Hash != "aaa" || got.CreatedAt.IsZero() {
		t.Fatalf("put: %+v %v", got, err)
	}
	// Without replace the first definition stays: the caller sees the
	// stored hash differ from its own.
	b := StudyDefinition{Study: "toy", Origin: "toy", Hash: "bbb", Definition: `{"method":"ties"}`}
	if got, err = db.PutStudyDefinition(ctx, b, false); err != nil || got.Hash != "aaa" {
		t.Fatalf("put without replace: %+v %v", got, err)
	}
	if got, err = db.PutStudyDefinition(ctx, b, true); err != nil || got.Hash != "bbb" || got.Definition != b.Definition {
		t.Fatalf("put with replace: %+v %v", got, err)
	}
	c := StudyDefinition{Study: "toy-2", Origin: "toy", Hash: "aaa", Definition: a.Definition}
	if _, err := db.PutStudyDefinition(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	all, err := db.StudiesFrom(ctx, "toy")
	if err != nil || len(all) != 2 || all[0].Study != "toy" || all[1].Study != "toy-2" {
		t.Fatalf("studies from toy: %+v %v", all, err)
	}
	if d, ok, err := db.StudyDefinition(ctx, "toy-2"); !ok || err != nil || d.Origin != "toy" {
		t.Fatalf("toy-2: %+v %v %v", d, ok, err)
	}
	dup := 1
	obj := 0.25
	if err := db.UpsertTrial(ctx, TrialRecord{Study: "toy", Number: 2, State: TrialComplete, Objective: &obj, DuplicateOf: &dup}); err != nil {
		t.Fatal(err)
	}
	r, ok, err := db.Trial(ctx, "toy", 2)
	if err != nil || !ok || r.DuplicateOf == nil || *r.DuplicateOf != 1 {
		t.Fatalf("duplicate trial: %+v %v %v", r, ok, err)
	}
}

// TestMigrateV1 opens a database of schema version 1: read-only it is read
// as it is (no duplicate_of, no definitions); Open migrates it to version
// 2 keeping its trials.
func TestMigrateV1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	raw, err := sql.Open("sqlite3", DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	stmts := append([]string{`CREATE TABLE mergetune_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, updated_at TEXT NOT NULL)`,
		`INSERT INTO mergetune_schema VALUES (1, 1, '')`}, migrations()[0]...)
	stmts = append(stmts, `INSERT INTO mt_trials (study, trial_number, goptuna_trial_id, state, method, merge_yaml, objective,
	model_digest, merge_seconds, import_seconds, eval_seconds, failure, worker) VALUES ('toy', 0, 1, 'complete', 'ties', '', 0.5, '', 0, 0, 0, '', 'w')`)
	for _, q := range stmts {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	info, _ := os.Stat(path)
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ro.Trials(ctx, "toy")
	if err != nil || len(recs) != 1 || recs[0].DuplicateOf != nil {
		t.Fatalf("v1 trials read-only: %+v %v", recs, err)
	}
	if _, ok, err := ro.StudyDefinition(ctx, "toy"); ok || err != nil {
		t.Fatalf("v1 definition: %v %v", ok, err)
	}
	ro.Close()
	if after, _ := os.Stat(path); after.Size() != info.Size() {
		t.Fatalf("read-only open changed the file: %d bytes, was %d", after.Size(), info.Size())
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.Version(ctx); err != nil || v != SchemaVersion {
		t.Fatalf("version %d %v, want %d", v, err, SchemaVersion)
	}
	if recs, err := db.Trials(ctx, "toy"); err != nil || len(recs) != 1 {
		t.Fatalf("v2 trials: %+v %v", recs, err)
	}
}

// TestPostgresReadOnly checks that a read-only PostgreSQL handle reads and
// cannot write.
func TestPostgresReadOnly(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	db, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	obj := 0.5
	if err := db.UpsertTrial(ctx, TrialRecord{Study: "s", Number: 1, State: TrialComplete, Objective: &obj}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ro, err := OpenReadOnly(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if recs, err := ro.Trials(ctx, "s"); err != nil || len(recs) != 1 {
		t.Fatalf("trials: %+v %v", recs, err)
	}
	if err := ro.UpsertTrial(ctx, TrialRecord{Study: "s", Number: 2, State: TrialComplete, Objective: &obj}); err == nil {
		t.Error("a read-only handle wrote")
	}
	empty := pgtest.Schema(t)
	if _, err := OpenReadOnly(ctx, empty); err == nil {
		t.Error("opened a database without mergetune's schema")
	}
}

// TestMigrateV2ItemOutcomes opens a database of schema version 2 holding an
// item outcome: read-only it is read as it is (no prompt, target, choices);
// Open migrates it to version 3 keeping the outcome, and new outcomes keep
// what was asked and expected.
func TestMigrateV2ItemOutcomes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	raw, err := sql.Open("sqlite3", DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{`CREATE TABLE mergetune_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, updated_at TEXT NOT NULL)`,
		`INSERT INTO mergetune_schema VALUES (1, 2, '')`}
	stmts = append(stmts, migrations()[0]...)
	stmts = append(stmts, migrations()[1]...)
	stmts = append(stmts, `INSERT INTO mt_eval_runs (id, started_at, model_dir, model_digest, settings, host) VALUES (1, '', 'm', 'sha256:1', '', '')`,
		`INSERT INTO mt_item_outcomes (run_id, task, item_id, correct, extracted, response, cached) VALUES (1, 'qa', 'q:1', 1, 'paris', ' Paris', 0)`)
	for _, q := range stmts {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	old := ItemOutcome{RunID: 1, Task: "qa", ItemID: "q:1", Correct: true, Extracted: "paris", Response: " Paris"}
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ro.ItemOutcomes(ctx, 1)
	ro.Close()
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], old) {
		t.Fatalf("v2 outcomes read-only: %+v %v", got, err)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.Version(ctx); err != nil || v != SchemaVersion {
		t.Fatalf("version %d %v, want %d", v, err, SchemaVersion)
	}
	added := ItemOutcome{RunID: 1, Task: "qa", ItemID: "q:2", Prompt: "Q: 2+2?\nA:", Target: "4", Response: " 5", Extracted: "5"}
	if err := db.AddItemOutcomes(ctx, []ItemOutcome{added}); err != nil {
		t.Fatal(err)
	}
	got, err = db.ItemOutcomes(ctx, 1)
	if err != nil || !reflect.DeepEqual(got, []ItemOutcome{old, added}) {
		t.Fatalf("v3 outcomes: %+v %v", got, err)
	}
}
