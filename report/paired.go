package report

import (
	"context"
	"fmt"
	"strconv"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/results"
)

// Paired is the best trial against one unmerged model (the base model or
// a task model) on one task, paired item by item (eval.Compare) over the
// items both evaluated, matched by item id.
type Paired struct {
	Split string // "tune" or "holdout"
	Task  string
	Model string // the study's name of the model
	// Cmp is the comparison, A the best trial and B the model; valid
	// when Note is "".
	Cmp eval.Comparison
	// Note says why there is no comparison: no common items, or no item
	// records of one side.
	Note string
}

// loadPaired compares the study's best trial with the base model and each
// task model on each of its tune and holdout tasks.
func loadPaired(ctx context.Context, rdb *results.DB, s *Study) ([]Paired, error) {
	if s.Best == nil {
		return nil, nil
	}
	runs := map[int64][]results.ItemOutcome{}
	items := func(runID int64, task string) (*eval.TaskResult, error) {
		list, ok := runs[runID]
		if !ok {
			var err error
			if list, err = rdb.ItemOutcomes(ctx, runID); err != nil {
				return nil, err
			}
			runs[runID] = list
		}
		r := &eval.TaskResult{Task: task}
		for _, o := range list {
			if o.Task == task {
				r.Items = append(r.Items, eval.ItemResult{ID: o.ItemID, Correct: o.Correct, Long: eval.LongOutcome(o.Long)})
			}
		}
		return r, nil
	}
	models := append([]string{results.BaseName}, s.Models()...)
	var out []Paired
	for _, sc := range append(append([]results.TaskScore{}, s.Best.Tune...), s.Best.Holdout...) {
		best, err := items(sc.RunID, sc.Task)
		if err != nil {
			return nil, err
		}
		for _, m := range models {
			p := Paired{Split: sc.Split, Task: sc.Task, Model: m}
			if p.Cmp, p.Note, err = pairWith(ctx, rdb, s, best, m, sc.Task, items); err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// pairWith compares the best trial's items on task with model's, or
// says why it cannot.
func pairWith(ctx context.Context, rdb *results.DB, s *Study, best *eval.TaskResult, model, task string,
	items func(int64, string) (*eval.TaskResult, error)) (eval.Comparison, string, error) {
	if len(best.Items) == 0 {
		return eval.Comparison{}, fmt.Sprintf("no item records of trial %d", s.Best.Number), nil
	}
	b, ok := s.Baseline(model, task)
	if !ok {
		return eval.Comparison{}, "no baseline of " + model, nil
	}
	runID, ok, err := rdb.BaselineRun(ctx, b)
	if err != nil {
		return eval.Comparison{}, "", fmt.Errorf("baseline run of %s on %s: %w", model, task, err)
	}
	if !ok {
		return eval.Comparison{}, "no item records of " + model, nil
	}
	other, err := items(runID, task)
	if err != nil {
		return eval.Comparison{}, "", err
	}
	c, err := eval.Compare(best, other)
	if err != nil || c.N == 0 {
		return eval.Comparison{}, noCommon, nil // Compare's only error here: no shared answered item
	}
	return c, "", nil
}

// noCommon is the note of a pair whose item records share no answered
// item.
const noCommon = "no common items"

// pairedRow is one row of a study's paired comparison table.
type pairedRow struct {
	Split, Task, Model string
	// Cells: common items, best accuracy, model accuracy, difference
	// with its interval, discordant pairs (only best / only model) and
	// McNemar's p; or, without a comparison, the note in the difference.
	N, AccBest, AccModel, Diff, Discordant, P string
}

// pairedHead is the header of the paired comparison table.
var pairedHead = []string{"split", "task", "model", "common items", "best trial", "model", "difference [95% interval]", "discordant (best only / model only)", "McNemar p"}

// pairedNote explains the paired comparison table.
const pairedNote = "The best trial against the base model and each task model, on the items both evaluated (matched by item id): accuracies on those items, the difference best − model with its 95% paired (Newcombe) interval, the discordant items and the two-sided p-value of McNemar's exact test, as `mergetune eval --compare` computes them."

// pairedRows renders the comparisons.
func pairedRows(ps []Paired) []pairedRow {
	out := make([]pairedRow, len(ps))
	for i, p := range ps {
		r := pairedRow{Split: p.Split, Task: p.Task, Model: p.Model}
		if p.Note != "" {
			r.N, r.AccBest, r.AccModel, r.Discordant, r.P = "0", "-", "-", "-", "-"
			if p.Note != noCommon {
				r.N = "-"
			}
			r.Diff = p.Note
		} else {
			c := p.Cmp
			r.N = strconv.Itoa(c.N)
			r.AccBest, r.AccModel = fmt.Sprintf("%.3f", c.AccA), fmt.Sprintf("%.3f", c.AccB)
			r.Diff = fmt.Sprintf("%+.3f [%+.3f, %+.3f]", c.Diff, c.DiffCI95[0], c.DiffCI95[1])
			r.Discordant = fmt.Sprintf("%d / %d", c.OnlyA, c.OnlyB)
			r.P = fmtP(c.P)
		}
		out[i] = r
	}
	return out
}

// fmtP renders a p-value.
func fmtP(p float64) string { return strconv.FormatFloat(p, 'g', 3, 64) }

// pairedCSVFields are the CSV columns of one comparison, after
// cmp:<model>:<split>:<task>:.
var pairedCSVFields = []string{"n", "acc_best", "acc_model", "diff", "diff_lo", "diff_hi", "only_best", "only_model", "p"}

// pairedCSV renders a comparison's CSV cells (n = 0 and the rest empty
// without one).
func pairedCSV(p Paired) []string {
	if p.Note != "" {
		cells := make([]string, len(pairedCSVFields))
		if p.Note == noCommon {
			cells[0] = "0"
		}
		return cells
	}
	c := p.Cmp
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
	return []string{strconv.Itoa(c.N), f(c.AccA), f(c.AccB), f(c.Diff), f(c.DiffCI95[0]), f(c.DiffCI95[1]),
		strconv.Itoa(c.OnlyA), strconv.Itoa(c.OnlyB), strconv.FormatFloat(c.P, 'g', 6, 64)}
}

// pairedKey is the CSV column prefix of a comparison.
func pairedKey(p Paired) string { return "cmp:" + p.Model + ":" + p.Split + ":" + p.Task }
