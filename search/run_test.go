package search

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/study"
)

// family is the toy family's directory.
func family(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs("../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writeStudy writes a study over two toy tasks into dir and loads it;
// extra lines are appended (later keys must not repeat earlier ones).
func writeStudy(t testing.TB, dir, body string) *study.Study {
	t.Helper()
	return writeStudyAt(t, dir, "study.db", body)
}

// writeStudyAt is writeStudy with the given storage.
func writeStudyAt(t testing.TB, dir, storage, body string) *study.Study {
	t.Helper()
	fam := family(t)
	text := fmt.Sprintf(`name: toy
base_model: %[1]s/base
models:
  - model: %[1]s/swapcase
    tasks: [swapcase]
  - model: %[1]s/rot1
    tasks: [rot1]
tasks: [toy:swapcase@tune, toy:rot1@tune]
limit: 12
dtype: bfloat16
storage: %[2]q
work_dir: work
`, fam, storage) + body
	return loadStudyText(t, dir, text)
}

// loadStudyText writes text to dir/study.yml and loads it.
func loadStudyText(t testing.TB, dir, text string) *study.Study {
	t.Helper()
	path := filepath.Join(dir, "study.yml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := study.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goptunaStates counts goptuna's trial states (0 running, 1 complete,
// 2 pruned, 3 fail, 4 waiting in rdb.v2's encoding is by name: we read
// them as stored strings).
func goptunaStates(t testing.TB, path string) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite3", results.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT state, count(*) FROM trials GROUP BY state`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			t.Fatal(err)
		}
		out[st] = n
	}
	return out
}

func queryInt(t testing.TB, path, q string, args ...any) int {
	t.Helper()
	db, err := sql.Open("sqlite3", results.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestRunStudy(t *testing.T) {
	dir := t.TempDir()
	s := writeStudy(t, dir, `method: breadcrumbs
space:
  lambda: {type: float, low: 0.2, high: 1.5}
  weight: {type: float, low: 0.3, high: 1.0, scope: per_model}
  density: {type: float, low: 0.5, high: 1.0, scope: shared}
holdout: [toy:swapcase]
objective: normalized
sampler: {type: tpe, seed: 3}
trials: 8
workers: 2
keep_best: 2
`)
	ctx := context.Background()
	var progress []Progress
	sum, err := Run(ctx, s, Options{Progress: func(p Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	st := sum.Status
	if st.Complete != 8 || st.Failed != 0 || st.Running != 0 {
		t.Fatalf("status: %d complete, %d failed, %d running; want 8, 0, 0", st.Complete, st.Failed, st.Running)
	}
	if len(progress) != 8 || progress[7].Done != 8 || progress[7].Budget != 8 {
		t.Errorf("progress: %d reports, last %+v", len(progress), progress[len(progress)-1])
	}
	db := s.Storage
	if n := queryInt(t, db, `SELECT count(DISTINCT number) FROM trials`); n != 8 {
		t.Errorf("distinct goptuna trial numbers = %d, want 8", n)
	}
	if n := queryInt(t, db, `SELECT count(*) FROM trials`); n != 8 {
		t.Errorf("goptuna trials = %d, want 8 (states %v)", n, goptunaStates(t, db))
	}
	// trial 0 is the enqueued default: breadcrumbs defaults inside the space
	rdb, err := results.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	rec0, ok, err := rdb.Trial(ctx, "toy", 0)
	if err != nil || !ok {
		t.Fatalf("trial 0: %v %v", ok, err)
	}
	for _, want := range []string{"lambda: 1\n", "density: 0.9\n", "weight: 1\n"} {
		if !strings.Contains(rec0.MergeYAML, want) {
			t.Errorf("default trial's YAML lacks %q:\n%s", want, rec0.MergeYAML)
		}
	}
	for _, r := range st.Trials {
		if r.ModelDigest == "" || r.MergeTime <= 0 || r.EvalTime <= 0 || r.Objective == nil || r.Worker == "" {
			t.Errorf("trial %d record incomplete: %+v", r.Number, r)
		}
		scores, err := rdb.TrialTaskScores(ctx, "toy", r.Number)
		if err != nil {
			t.Fatal(err)
		}
		tune := 0
		for _, sc := range scores {
			if sc.Split == "tune" {
				tune++
				if sc.N != 12 || sc.CILo > sc.Accuracy || sc.CIHi < sc.Accuracy {
					t.Errorf("trial %d score %+v", r.Number, sc)
				}
			}
		}
		if tune != 2 {
			t.Errorf("trial %d: %d tune scores, want 2", r.Number, tune)
		}
	}
	if n := queryInt(t, db, `SELECT count(*) FROM mt_item_outcomes WHERE trial_id IS NOT NULL`); n < 8*24 {
		t.Errorf("item outcomes linked to trials = %d, want ≥ %d", n, 8*24)
	}
	bl, err := rdb.Baselines(ctx, "toy")
	if err != nil {
		t.Fatal(err)
	}
	if len(bl) != 3*3 { // base + 2 models, on 2 tune + 1 holdout task
		t.Errorf("baselines = %d, want 9", len(bl))
	}
	if len(sum.Holdout) != 1 || sum.Holdout[0].Split != "holdout" {
		t.Errorf("holdout = %+v", sum.Holdout)
	}
	// the frozen recipe (per-model weights → their mean) is scored on the
	// same holdout items, beside the best trial
	if len(sum.RecipeHoldout) != 1 || sum.RecipeHoldout[0].Task != sum.Holdout[0].Task ||
		sum.RecipeHoldout[0].N != sum.Holdout[0].N || sum.RecipeHoldout[0].Trial != nil {
		t.Errorf("recipe holdout = %+v, best trial's %+v", sum.RecipeHoldout, sum.Holdout)
	}
	// keep_best: at most 2 merged models remain, the best among them
	ents, _ := os.ReadDir(s.WorkDir)
	if len(ents) > 2 {
		t.Errorf("work dir keeps %d models, want ≤ 2", len(ents))
	}
	if _, err := os.Stat(filepath.Join(s.WorkDir, fmt.Sprintf("trial-%05d", st.Best.Number))); err != nil {
		t.Errorf("best trial's model was deleted: %v", err)
	}
	// A second run finds the budget spent and runs nothing.
	sum2, err := Run(ctx, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum2.Status.Trials) != 8 {
		t.Errorf("second run: %d trials, want 8", len(sum2.Status.Trials))
	}
}

// queryIntQuiet is queryInt for polling: errors read as -1.
func queryIntQuiet(path, q string) int {
	db, err := sql.Open("sqlite3", results.DSN(path))
	if err != nil {
		return -1
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		return -1
	}
	return n
}
