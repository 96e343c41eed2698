package report

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	stdhtml "html"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/results/pgtest"
	"github.com/mergetune/mergetune/search"
	"github.com/mergetune/mergetune/search/study"
)

// TestPairedComparison runs a tiny study with the built-in runner and
// checks that the report compares its best trial with the base model and
// each task model on each tune and holdout task, with the values of
// eval.Compare on the items both evaluated, in HTML, Markdown and CSV; a
// pair whose items share no id says so.
func TestPairedComparison(t *testing.T) { checkPaired(t, "study.db") }

// TestPairedComparisonPostgres is TestPairedComparison with the study on
// PostgreSQL.
func TestPairedComparisonPostgres(t *testing.T) { checkPaired(t, pgtest.Schema(t)) }

// checkPaired runs the paired comparison test with the study stored at
// storage (a path relative to the study file, or a PostgreSQL DSN).
func checkPaired(t *testing.T, storage string) {
	ctx := context.Background()
	fam, err := filepath.Abs("../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "study.yml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`name: paired
base_model: %[1]s/base
models:
  - {model: %[1]s/swapcase, tasks: [swapcase]}
  - {model: %[1]s/rot1, tasks: [rot1]}
method: task_arithmetic
space:
  lambda: {type: float, low: 0.3, high: 1.2}
tasks: [toy:swapcase@tune, toy:rot1@tune]
holdout: [toy:rot1]
limit: 10
trials: 2
objective: normalized
storage: %[2]s
work_dir: work
`, fam, storage)), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := study.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := search.Run(ctx, s, search.Options{}); err != nil {
		t.Fatal(err)
	}
	// The rot1 model's items of toy:swapcase@tune get other ids: that
	// pair has no common item.
	pg := results.IsPostgres(s.Storage)
	driver, dsn := "sqlite3", s.Storage
	if pg {
		driver = "pgx"
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	runOf := func(model string) int64 {
		t.Helper()
		var id int64
		if err := raw.QueryRow(results.Rebind(`SELECT max(id) FROM mt_eval_runs WHERE model_dir = ?`, pg), model).Scan(&id); err != nil {
			t.Fatalf("baseline run of %s: %v", model, err)
		}
		return id
	}
	if _, err := raw.Exec(results.Rebind(`UPDATE mt_item_outcomes SET item_id = 'other-' || item_id WHERE run_id = ? AND task = ?`, pg),
		runOf(fam+"/rot1"), "toy:swapcase@tune"); err != nil {
		t.Fatal(err)
	}

	// Expected: eval.Compare over the item records, read here by model
	// directory and trial.
	rdb, err := results.OpenReadOnly(ctx, s.Storage)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	d, err := Load(ctx, s.Storage)
	if err != nil {
		t.Fatal(err)
	}
	st := d.Studies[0]
	if st.Best == nil {
		t.Fatal("no best trial")
	}
	taskResult := func(runIDs []int64, task string) *eval.TaskResult {
		t.Helper()
		r := &eval.TaskResult{Task: task}
		for _, id := range runIDs {
			outs, err := rdb.ItemOutcomes(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range outs {
				if o.Task == task {
					r.Items = append(r.Items, eval.ItemResult{ID: o.ItemID, Correct: o.Correct, Long: eval.LongOutcome(o.Long)})
				}
			}
		}
		return r
	}
	var trialRuns []int64
	rows, err := raw.Query(results.Rebind(`SELECT DISTINCT o.run_id FROM mt_item_outcomes o JOIN mt_trials t ON t.id = o.trial_id
WHERE t.study = ? AND t.trial_number = ?`, pg), "paired", st.Best.Number)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		trialRuns = append(trialRuns, id)
	}
	rows.Close()
	paths := map[string]string{search.BaseName: fam + "/base", "swapcase": fam + "/swapcase", "rot1": fam + "/rot1"}
	type key struct{ split, task, model string }
	want := map[key]eval.Comparison{}
	for _, k := range []key{
		{"tune", "toy:swapcase@tune", "base"}, {"tune", "toy:swapcase@tune", "swapcase"},
		{"tune", "toy:rot1@tune", "base"}, {"tune", "toy:rot1@tune", "swapcase"}, {"tune", "toy:rot1@tune", "rot1"},
		{"holdout", "toy:rot1", "base"}, {"holdout", "toy:rot1", "swapcase"}, {"holdout", "toy:rot1", "rot1"},
	} {
		c, err := eval.Compare(taskResult(trialRuns, k.task), taskResult([]int64{runOf(paths[k.model])}, k.task))
		if err != nil || c.N != 10 {
			t.Fatalf("%v: expected comparison: %+v, %v", k, c, err)
		}
		want[k] = c
	}
	noCommon := key{"tune", "toy:swapcase@tune", "rot1"}

	// Data.
	if len(st.Paired) != len(want)+1 {
		t.Fatalf("%d paired comparisons, want %d: %+v", len(st.Paired), len(want)+1, st.Paired)
	}
	for _, p := range st.Paired {
		k := key{p.Split, p.Task, p.Model}
		if k == noCommon {
			if p.Note != "no common items" {
				t.Errorf("%v: note %q, want no common items", k, p.Note)
			}
			continue
		}
		if p.Note != "" || p.Cmp != want[k] {
			t.Errorf("%v: %+v (note %q), want %+v", k, p.Cmp, p.Note, want[k])
		}
	}

	// HTML and Markdown: each row's cells.
	var html, md bytes.Buffer
	if err := Write(&html, d, FormatHTML); err != nil {
		t.Fatal(err)
	}
	if err := Write(&md, d, FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	htmlText := stdhtml.UnescapeString(html.String()) // html/template writes + as &#43;
	td := func(s string) string { return `<td class="num">` + s + `</td>` }
	for k, c := range want {
		diff := fmt.Sprintf("%+.3f [%+.3f, %+.3f]", c.Diff, c.DiffCI95[0], c.DiffCI95[1])
		acc := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
		disc := fmt.Sprintf("%d / %d", c.OnlyA, c.OnlyB)
		p := strconv.FormatFloat(c.P, 'g', 3, 64)
		hrow := fmt.Sprintf("<tr><td>%s</td><td>%s</td><td>%s</td>%s%s%s%s%s%s</tr>", k.split, k.task, k.model,
			td(strconv.Itoa(c.N)), td(acc(c.AccA)), td(acc(c.AccB)), td(diff), td(disc), td(p))
		if !strings.Contains(htmlText, hrow) {
			t.Errorf("html lacks the row %s", hrow)
		}
		mrow := fmt.Sprintf("| %s | %s | %s | %d | %s | %s | %s | %s | %s |", k.split, k.task, k.model, c.N, acc(c.AccA), acc(c.AccB), diff, disc, p)
		if !strings.Contains(md.String(), mrow) {
			t.Errorf("markdown lacks the row %s", mrow)
		}
	}
	for _, page := range []string{htmlText, md.String()} {
		if !strings.Contains(page, "no common items") || !strings.Contains(page, "Paired comparison") {
			t.Errorf("report lacks the paired comparison section or the no-common-items cell:\n%s", page)
		}
	}

	// CSV: the best trial's row carries the comparisons, the others none.
	var buf bytes.Buffer
	if err := Write(&buf, d, FormatCSV); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+len(st.Trials) {
		t.Fatalf("%d csv rows, want a header and %d trials", len(recs), len(st.Trials))
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, r := range recs[1:] {
		best := r[col["trial"]] == strconv.Itoa(st.Best.Number)
		for k, c := range want {
			prefix := "cmp:" + k.model + ":" + k.split + ":" + k.task + ":"
			num := func(f string) float64 {
				t.Helper()
				i, ok := col[prefix+f]
				if !ok {
					t.Fatalf("csv lacks the column %s%s", prefix, f)
				}
				if !best {
					if r[i] != "" {
						t.Errorf("trial %s (not the best) has %s%s = %q", r[col["trial"]], prefix, f, r[i])
					}
					return 0
				}
				v, err := strconv.ParseFloat(r[i], 64)
				if err != nil {
					t.Fatalf("%s%s = %q: %v", prefix, f, r[i], err)
				}
				return v
			}
			got := []float64{num("n"), num("acc_best"), num("acc_model"), num("diff"), num("diff_lo"), num("diff_hi"), num("only_best"), num("only_model"), num("p")}
			if !best {
				continue
			}
			exp := []float64{float64(c.N), c.AccA, c.AccB, c.Diff, c.DiffCI95[0], c.DiffCI95[1], float64(c.OnlyA), float64(c.OnlyB), c.P}
			for i := range got {
				if d := got[i] - exp[i]; d > 1e-5 || d < -1e-5 {
					t.Errorf("csv %s%s = %v, want %v", prefix, pairedCSVFields[i], got[i], exp[i])
				}
			}
		}
		if best {
			prefix := "cmp:" + noCommon.model + ":" + noCommon.split + ":" + noCommon.task + ":"
			if r[col[prefix+"n"]] != "0" || r[col[prefix+"diff"]] != "" {
				t.Errorf("csv: the pair without common items has n %q, diff %q", r[col[prefix+"n"]], r[col[prefix+"diff"]])
			}
		}
	}
}
