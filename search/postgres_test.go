package search

import (
	"bytes"
	"context"
	"database/sql"
	"os/exec"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/results/pgtest"
)

// pgInt runs a query returning one integer on the PostgreSQL test schema.
func pgInt(t *testing.T, dsn, q string) int {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestPostgresProcesses runs one study from 3 processes × 2 workers
// against one PostgreSQL database, as workers on several machines would:
// the processes race to migrate both schemas and to create the study, and
// share the study's budget.
func TestPostgresProcesses(t *testing.T) {
	dsn := pgtest.Schema(t)
	dir := t.TempDir()
	const trials = 12
	s := writeStudyAt(t, dir, dsn, `method: task_arithmetic
space:
  lambda: {type: float, low: 0.3, high: 1.5}
  weight: {type: float, low: 0.3, high: 1.0, scope: per_model}
trials: 12
workers: 2
`)
	if !s.Postgres() {
		t.Fatalf("storage %q is not PostgreSQL", s.Storage)
	}
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range 3 {
		cmd, out := workerCmd(t, s)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i])
		}
		if o := outs[i].String(); strings.Contains(strings.ToLower(o), "error") || strings.Contains(o, "deadlock") {
			t.Errorf("process %d reported an error:\n%s", i, o)
		}
	}
	st, err := ReadStatus(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if st.Complete != trials || st.Failed != 0 || st.Running != 0 || st.Done() != trials {
		t.Errorf("%d complete, %d failed, %d running, %d done; want %d, 0, 0, %d", st.Complete, st.Failed, st.Running, st.Done(), trials, trials)
	}
	if n := pgInt(t, dsn, `SELECT count(DISTINCT number) FROM trials WHERE state = 'COMPLETE'`); n != trials {
		t.Errorf("complete goptuna trials with distinct numbers = %d, want %d", n, trials)
	}
	if n, d := pgInt(t, dsn, `SELECT count(*) FROM trials`), pgInt(t, dsn, `SELECT count(DISTINCT number) FROM trials`); n != d {
		t.Errorf("%d goptuna trials but %d distinct numbers", n, d)
	}
	if n := pgInt(t, dsn, `SELECT count(*) FROM trials WHERE state NOT IN ('COMPLETE', 'FAIL')`); n != 0 {
		t.Errorf("%d goptuna trials neither complete nor failed", n)
	}
	if n := pgInt(t, dsn, `SELECT count(*) FROM mt_trials WHERE state = 'complete'`); n != trials {
		t.Errorf("mergetune records %d complete trials, want %d", n, trials)
	}
	if n := pgInt(t, dsn, `SELECT count(*) FROM mt_trials t WHERE state = 'complete' AND (duplicate_of IS NOT NULL OR EXISTS
	(SELECT 1 FROM mt_trial_stages s WHERE s.study = t.study AND s.trial_number = t.trial_number AND s.stage = 'evaluate' AND s.seconds > 0))`); n != trials {
		t.Errorf("%d of %d complete trials recorded their stages", n, trials)
	}
	if n := pgInt(t, dsn, `SELECT count(DISTINCT split_part(worker, '/', 2)) FROM mt_trials`); n < 2 {
		t.Logf("only %d of 3 processes ran trials", n)
	}
}
