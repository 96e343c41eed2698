package results

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestTrialStages(t *testing.T)         { testTrialStages(t, openTemp) }
func TestPostgresTrialStages(t *testing.T) { testTrialStages(t, openPostgresTemp) }

// testTrialStages records stages for trials, reads them back in order
// with Trials and Trial, and replaces them.
func testTrialStages(t *testing.T, open func(*testing.T) *DB) {
	ctx := context.Background()
	db := open(t)
	obj := 0.5
	for n := 0; n < 3; n++ {
		if err := db.UpsertTrial(ctx, TrialRecord{Study: "s", Number: n, State: TrialComplete, Objective: &obj}); err != nil {
			t.Fatal(err)
		}
	}
	st0 := Stages{{"merge", 1500 * time.Millisecond}, {"hash", 20 * time.Millisecond}, {"upload", 0}, {"load", 3 * time.Second}, {"evaluate", 250 * time.Millisecond}}
	st2 := Stages{{"merge", time.Second}, {"load", time.Millisecond}, {"evaluate", 2 * time.Second}}
	if err := db.SetTrialStages(ctx, TrialKey{"s", 0}, Stages{{"merge", time.Hour}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		n int
		s Stages
	}{{0, st0}, {2, st2}} {
		if err := db.SetTrialStages(ctx, TrialKey{"s", c.n}, c.s); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := db.Trials(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	want := []Stages{st0, nil, st2}
	for i, r := range recs {
		if !reflect.DeepEqual(r.Stages, want[i]) {
			t.Errorf("trial %d: stages %v, want %v", i, r.Stages, want[i])
		}
	}
	r, ok, err := db.Trial(ctx, "s", 2)
	if err != nil || !ok || !reflect.DeepEqual(r.Stages, st2) {
		t.Errorf("trial 2: %v %v %v, want %v", r.Stages, ok, err, st2)
	}
}

// TestMedianStages takes each stage's median over the finished trials, in
// the order the stages ran.
func TestMedianStages(t *testing.T) {
	s := time.Second
	recs := []TrialRecord{
		{Number: 0, State: TrialComplete, Stages: Stages{{"merge", 1 * s}, {"load", 4 * s}, {"evaluate", 3 * s}}, FinishedAt: time.Unix(10, 0)},
		{Number: 1, State: TrialFailed, Stages: Stages{{"merge", 100 * s}}, FinishedAt: time.Unix(30, 0)},
		{Number: 2, State: TrialPruned, Stages: Stages{{"merge", 3 * s}, {"hash", 1 * s}, {"load", 2 * s}, {"evaluate", 5 * s}}, FinishedAt: time.Unix(20, 0)},
		{Number: 3, State: TrialComplete, Stages: Stages{{"merge", 2 * s}, {"load", 6 * s}, {"evaluate", 4 * s}}, FinishedAt: time.Unix(15, 0)},
		{Number: 4, State: TrialComplete},
	}
	got, n := MedianStages(recs)
	want := Stages{{"merge", 2 * s}, {"hash", 1 * s}, {"load", 4 * s}, {"evaluate", 4 * s}}
	if n != 3 || !reflect.DeepEqual(got, want) {
		t.Errorf("MedianStages = %v over %d, want %v over 3", got, n, want)
	}
	if last, ok := LastStages(recs); !ok || last.Number != 2 {
		t.Errorf("LastStages = trial %d %v, want 2", last.Number, ok)
	}
	if got, n := MedianStages(recs[4:]); n != 0 || got != nil {
		t.Errorf("no stages: %v %d", got, n)
	}
}

// TestMigrateV5TrialStages opens a database of schema version 5 holding a
// trial: read-only it has no stages; Open migrates it and stages can be
// recorded.
func TestMigrateV5TrialStages(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v5.db")
	raw, err := sql.Open("sqlite3", DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{`CREATE TABLE mergetune_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, updated_at TEXT NOT NULL)`,
		`INSERT INTO mergetune_schema VALUES (1, 5, '')`}
	for _, m := range migrations()[:5] {
		stmts = append(stmts, m...)
	}
	stmts = append(stmts, `INSERT INTO mt_trials (study, trial_number, goptuna_trial_id, state, method, merge_yaml, model_digest,
	merge_seconds, import_seconds, eval_seconds, failure, worker) VALUES ('s', 0, 1, 'complete', 'linear', '', '', 1, 0, 2, '', 'w')`)
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
	recs, err := ro.Trials(ctx, "s")
	ro.Close()
	if err != nil || len(recs) != 1 || recs[0].Stages != nil {
		t.Fatalf("v5 trials read-only: %+v %v", recs, err)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.Version(ctx); err != nil || v != SchemaVersion {
		t.Fatalf("version %d %v, want %d", v, err, SchemaVersion)
	}
	st := Stages{{"merge", time.Second}, {"evaluate", 2 * time.Second}}
	if err := db.SetTrialStages(ctx, TrialKey{"s", 0}, st); err != nil {
		t.Fatal(err)
	}
	if r, _, err := db.Trial(ctx, "s", 0); err != nil || !reflect.DeepEqual(r.Stages, st) {
		t.Fatalf("migrated trial's stages %v %v, want %v", r.Stages, err, st)
	}
}
