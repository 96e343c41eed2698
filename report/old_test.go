package report

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search"
	"github.com/mergetune/mergetune/search/study"
)

// TestSchemaV3Database reads a database as a mergetune of schema version 3
// left it (no recorded settings; the curve table the old report created
// outside the migrations): the report reads it read-only as it is, with
// the trials, the study file's path from goptuna's attribute and a note
// that the settings are missing; opening it for writing migrates it to
// the current version (the curve's point kept through version 5's
// rebuild), and the study's next run records its settings.
func TestSchemaV3Database(t *testing.T) {
	ctx := context.Background()
	fam, err := filepath.Abs("../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "old.yml")
	db := filepath.Join(dir, "old.db")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`name: old
base_model: %[1]s/base
models:
  - {model: %[1]s/swapcase, tasks: [swapcase]}
  - {model: %[1]s/rot1, tasks: [rot1]}
method: task_arithmetic
space:
  lambda: {type: float, low: 0.3, high: 1.2}
tasks: [toy:swapcase@tune, toy:rot1@tune]
limit: 5
trials: 2
objective: {type: normalized, weights: {toy:rot1@tune: 2}}
storage: %[2]s
`, fam, db)), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := study.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := search.Run(ctx, s, search.Options{}); err != nil {
		t.Fatal(err)
	}
	// Back to version 3: no settings, trial stages, claims or
	// confirmations tables; the old
	// report's curve table.
	raw, err := sql.Open("sqlite3", results.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE mt_study_settings`, `DROP TABLE mt_trial_stages`, `DROP TABLE mt_report_curve`,
		`DROP TABLE mt_claims`, `DROP TABLE mt_claim_plots`, `DROP TABLE mt_claim_points`, `DROP TABLE mt_confirmations`,
		`CREATE TABLE mt_report_curve (
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
		`INSERT INTO mt_report_curve (method, variant, study, models, tasks, mean, normalized, merge_seconds, eval_seconds, created_at)
VALUES ('ties', 'frozen', 'old', 2, 2, 0.5, 0.6, 1, 2, '')`,
		`UPDATE mergetune_schema SET version = 3`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	d, err := Load(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Studies) != 1 || len(d.Curve) != 1 || d.Curve[0].Normalized != 0.6 || d.Curve[0].Rule != "fixed" || d.Curve[0].Subsets != 1 {
		t.Fatalf("v3 database: %d studies, curve %+v", len(d.Studies), d.Curve)
	}
	old := d.Studies[0]
	if old.Settings != nil || !strings.Contains(old.SettingsErr, "schema version 4") || old.File != file || old.Counts().Complete != 2 {
		t.Fatalf("v3 study: settings %v (%q), file %q, %+v", old.Settings, old.SettingsErr, old.File, old.Counts())
	}
	var md bytes.Buffer
	if err := Write(&md, d, FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), old.SettingsErr) {
		t.Errorf("the markdown report does not say the settings are missing:\n%s", md.String())
	}

	rdb, err := results.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	v, err := rdb.Version(ctx)
	rdb.Close()
	if err != nil || v != results.SchemaVersion {
		t.Fatalf("migrated version %d, %v; want %d", v, err, results.SchemaVersion)
	}
	if _, err := search.Run(ctx, s, search.Options{}); err != nil {
		t.Fatal(err)
	}
	if d, err = Load(ctx, db); err != nil {
		t.Fatal(err)
	}
	got := d.Studies[0].Settings
	// The migration to version 5 kept the old curve point: the fixed
	// rule's aggregate of one subset.
	if got == nil || got.Objective != "normalized" || got.Weights["toy:rot1@tune"] != 2 || got.TaskModels["toy:rot1@tune"] != "rot1" ||
		len(d.Curve) != 1 || d.Curve[0].Normalized != 0.6 || d.Curve[0].Rule != "fixed" || d.Curve[0].Subset != 0 || d.Curve[0].Subsets != 1 {
		t.Fatalf("after a run: settings %+v, curve %+v", got, d.Curve)
	}
}
