package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mergetune/mergetune/results"
)

// mdEscape keeps a cell on one line and its pipes literal.
func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// mdTable writes a markdown table.
func mdTable(w io.Writer, head []string, rows [][]string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(head, " | "))
	seps := make([]string, len(head))
	for i := range seps {
		seps[i] = "---"
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = mdEscape(c)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
}

// writeMarkdown writes the report's tables as markdown; the plots are
// left to the HTML report.
func writeMarkdown(w io.Writer, d *Data) error {
	v := buildView(d, time.Now().Format("2006-01-02 15:04 MST"))
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "# %s\n\nDatabase `%s`, generated %s. The plots are in the HTML report (`mergetune report %s`).\n\n", v.Title, v.Path, v.Generated, v.Path)
	if len(v.Compare) > 0 {
		fmt.Fprintf(ew, "## Comparison of the studies\n\n")
		var rows [][]string
		for _, c := range v.Compare {
			rows = append(rows, []string{c.Name, c.Methods, strconv.Itoa(c.Tasks), c.Done, c.Best, c.Settings, c.HoldoutNorm, c.HoldMn})
		}
		mdTable(ew, []string{"study", "method", "tasks", "trials", "best objective", "best settings", "holdout normalized", "holdout mean"}, rows)
	}
	if len(v.Curve) > 0 {
		fmt.Fprintf(ew, "## Extend curve\n\nNormalized accuracy against the number of merged task models: the mean over the random subsets of task models at each size, with Student's t 95%% interval across subsets and the items' 95%% interval (the tasks' items as independent samples, each task's error read off its Wilson interval). Each subset's point is in the CSV report.\n\n")
		var rows [][]string
		for _, c := range v.Curve {
			rows = append(rows, []string{c.Method, c.Variant, c.Rule, c.Study, strconv.Itoa(c.Models), strconv.Itoa(c.Subsets), strconv.Itoa(c.Tasks),
				c.Factor, c.Mean, c.Normalized, c.SubsetCI, c.ItemCI, c.Cost})
		}
		mdTable(ew, []string{"method", "variant", "rule", "from study", "models", "subsets", "tasks", "λ factor", "mean", "normalized",
			"95% across subsets", "95% from items", "cost"}, rows)
		if len(v.Verdicts) > 0 {
			fmt.Fprintf(ew, "### Transfer verdict\n\n%s\n\n", v.VerdictNote)
			rows = nil
			for _, r := range v.Verdicts {
				rows = append(rows, []string{r.Method, r.Rule, strconv.Itoa(r.Models), r.Frozen + " (" + r.FrozenStudy + ")",
					r.Tuned + " (" + r.TunedStud + ")", r.Verdict, r.Why})
			}
			mdTable(ew, []string{"method", "rule", "models", "frozen (from study)", "re-tuned (study)", "verdict", "why"}, rows)
		}
	}
	if len(v.Claims) > 0 {
		fmt.Fprintf(ew, "## What the papers claim, and what the family shows\n\n%s\n\n", v.ClaimsNote)
		var rows [][]string
		for _, c := range v.Claims {
			rows = append(rows, []string{c.Paper, c.Statement, c.Measure, c.Value, c.Interval, strconv.Itoa(c.Units), "> " + c.Threshold, c.Verdict, c.Run})
		}
		mdTable(ew, []string{"paper", "claim", "measured", "family shows", "95% interval", "units", "claimed side", "verdict", "run"}, rows)
	}
	for _, m := range v.Matrices {
		fmt.Fprintf(ew, "## Baselines: %s\n\n", m.Name)
		var rows [][]string
		for _, r := range m.Rows {
			row := []string{r.Model}
			for _, c := range r.Cells {
				row = append(row, c.Text)
			}
			rows = append(rows, row)
		}
		mdTable(ew, append([]string{"model"}, m.Tasks...), rows)
	}
	for _, s := range v.Studies {
		fmt.Fprintf(ew, "## Study %s\n\n%s: %s.\n\n### Configuration\n\n", s.Name, s.Methods, s.CountsText)
		if s.ConfigErr != "" {
			fmt.Fprintf(ew, "%s\n\n", s.ConfigErr)
		}
		var rows [][]string
		for _, c := range s.Config {
			rows = append(rows, []string{c.Key, c.Value})
		}
		for _, c := range s.Space {
			rows = append(rows, []string{"range of " + c.Key, c.Value})
		}
		mdTable(ew, []string{"setting", "value"}, rows)
		fmt.Fprintf(ew, "### Best trials\n\n")
		if len(s.Top) == 0 {
			fmt.Fprintf(ew, "No trial has completed.\n\n")
		} else {
			fmt.Fprintf(ew, "%s\n\n", s.BestSummary)
			rows = nil
			for _, t := range s.Top {
				row := []string{strconv.Itoa(t.Number), t.Objective, t.Params, t.Normalized, t.Mean}
				for _, c := range t.Scores {
					row = append(row, c.Text)
				}
				rows = append(rows, row)
			}
			head := []string{"trial", "objective", "settings", "normalized", "mean"}
			for _, t := range s.Tasks {
				head = append(head, taskLabel(t))
			}
			mdTable(ew, head, rows)
			fmt.Fprintf(ew, "### Holdout\n\n%s\n\n", s.HoldoutNote)
			if len(s.Holdout) > 0 {
				rows = nil
				for _, h := range s.Holdout {
					rows = append(rows, []string{h.Key, h.Value})
				}
				mdTable(ew, []string{"task", "accuracy [95% interval]"}, rows)
			}
		}
		if len(s.Paired) > 0 {
			fmt.Fprintf(ew, "### Paired comparison: best trial against base and task models\n\n%s\n\n", s.PairedNote)
			rows = nil
			for _, p := range s.Paired {
				rows = append(rows, []string{p.Split, p.Task, p.Model, p.N, p.AccBest, p.AccModel, p.Diff, p.Discordant, p.P})
			}
			mdTable(ew, pairedHead, rows)
		}
		if len(s.Stages) > 0 {
			fmt.Fprintf(ew, "### Where the time goes\n\n%s\n\n", s.StagesNote)
			rows = nil
			for _, st := range s.Stages {
				rows = append(rows, []string{st.Name, st.Median, st.Share, st.Last})
			}
			mdTable(ew, stageHead, rows)
		}
		if len(s.Confirm) > 0 {
			fmt.Fprintf(ew, "### Confirmed before freezing\n\n%s\n\n", s.ConfirmNote)
			mdTable(ew, confirmHead, s.Confirm)
		}
		fmt.Fprintf(ew, "### Failed and pruned trials\n\n")
		if len(s.Failures) == 0 {
			fmt.Fprintf(ew, "None: every trial completed.\n\n")
		} else {
			rows = nil
			for _, f := range s.Failures {
				rows = append(rows, []string{strconv.Itoa(f.Number), f.State, f.Cause})
			}
			mdTable(ew, []string{"trial", "state", "cause"}, rows)
		}
	}
	if ew.err != nil {
		return fmt.Errorf("report: write markdown: %w", ew.err)
	}
	return nil
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, nil
}

// writeCSV writes one row per trial of every study: the record, every
// searched parameter, every task's accuracy and interval, and on the best
// trial's row its paired comparisons (cmp:<model>:<split>:<task>:<field>).
// writeCSV writes the trials of every study as one CSV table, or, for a
// database without studies, the extension curve (WriteFile writes a
// database's curve beside its trials, to CurveCSVPath).
func writeCSV(w io.Writer, d *Data) error {
	if len(d.Studies) == 0 && len(d.Curve) > 0 {
		return writeCurveCSV(w, d.Curve)
	}
	params, tasks := map[string]bool{}, map[string]bool{}
	for _, s := range d.Studies {
		for _, t := range s.Trials {
			for p := range t.Params {
				params[p] = true
			}
			for _, sc := range append(append([]results.TaskScore{}, t.Tune...), t.Holdout...) {
				tasks[sc.Split+":"+sc.Task] = true
			}
		}
	}
	cmps := map[string]bool{}
	for _, s := range d.Studies {
		for _, p := range s.Paired {
			cmps[pairedKey(p)] = true
		}
	}
	pn, tn, cn := sortedSet(params), sortedSet(tasks), sortedSet(cmps)
	head := []string{"study", "trial", "state", "method", "objective", "normalized", "mean", "best", "merge_s", "eval_s", "failure"}
	for _, p := range pn {
		head = append(head, "param:"+p)
	}
	for _, t := range tn {
		head = append(head, "acc:"+t, "ci_lo:"+t, "ci_hi:"+t)
	}
	for _, c := range cn {
		for _, f := range pairedCSVFields {
			head = append(head, c+":"+f)
		}
	}
	sn := stageNames(d)
	for _, n := range sn {
		head = append(head, "stage:"+n)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(head); err != nil {
		return fmt.Errorf("report: write csv: %w", err)
	}
	for _, s := range d.Studies {
		for _, t := range s.Trials {
			obj := ""
			if t.Objective != nil {
				obj = strconv.FormatFloat(*t.Objective, 'f', 6, 64)
			}
			best := strconv.FormatBool(s.Best != nil && s.Best.Number == t.Number)
			norm, mean := "", ""
			if len(t.Tune) > 0 {
				mean = strconv.FormatFloat(t.TuneScore.Mean, 'f', 6, 64)
				if t.TuneScore.NormErr == "" {
					norm = strconv.FormatFloat(t.TuneScore.Normalized, 'f', 6, 64)
				}
			}
			row := []string{s.Name, strconv.Itoa(t.Number), string(t.State), t.Method, obj, norm, mean, best,
				strconv.FormatFloat(t.MergeTime.Seconds(), 'f', 3, 64), strconv.FormatFloat(t.EvalTime.Seconds(), 'f', 3, 64), t.Cause()}
			for _, p := range pn {
				v, ok := t.Params[p]
				if !ok {
					row = append(row, "")
					continue
				}
				row = append(row, fmt.Sprint(v))
			}
			scores := map[string]results.TaskScore{}
			for _, sc := range append(append([]results.TaskScore{}, t.Tune...), t.Holdout...) {
				scores[sc.Split+":"+sc.Task] = sc
			}
			for _, k := range tn {
				sc, ok := scores[k]
				if !ok {
					row = append(row, "", "", "")
					continue
				}
				row = append(row, strconv.FormatFloat(sc.Accuracy, 'f', 4, 64), strconv.FormatFloat(sc.CILo, 'f', 4, 64), strconv.FormatFloat(sc.CIHi, 'f', 4, 64))
			}
			// The paired comparisons are the best trial's.
			paired := map[string]Paired{}
			if s.Best != nil && s.Best.Number == t.Number {
				for _, p := range s.Paired {
					paired[pairedKey(p)] = p
				}
			}
			for _, k := range cn {
				if p, ok := paired[k]; ok {
					row = append(row, pairedCSV(p)...)
				} else {
					row = append(row, make([]string, len(pairedCSVFields))...)
				}
			}
			for _, n := range sn {
				v := ""
				if d, ok := t.Stages.Get(n); ok {
					v = strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
				}
				row = append(row, v)
			}
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("report: write csv: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report: write csv: %w", err)
	}
	return nil
}

// curveCSVFields are the columns of the CSV report's curve table.
var curveCSVFields = []string{"curve_method", "variant", "rule", "study", "models", "subset", "subsets", "members", "tasks",
	"mean", "normalized", "subset_lo", "subset_hi", "item_lo", "item_hi", "merges", "items", "merge_s", "eval_s", "factor"}

// writeCurveCSV writes the extension curve as a CSV table, every point:
// each subset's (subset 1…) and each size's aggregate (subset 0, its
// subset_lo/hi the 95% interval across subsets); item_lo/hi are the
// items' 95% interval.
func writeCurveCSV(w io.Writer, pts []results.CurvePoint) error {
	cw := csv.NewWriter(w)
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 6, 64) }
	cw.Write(curveCSVFields)
	for _, p := range pts {
		cw.Write([]string{p.Method, p.Variant, p.Rule, p.Study, strconv.Itoa(p.Models), strconv.Itoa(p.Subset), strconv.Itoa(p.Subsets),
			p.Members, strconv.Itoa(p.Tasks), f(p.Mean), f(p.Normalized), f(p.SubsetLo), f(p.SubsetHi), f(p.ItemLo), f(p.ItemHi),
			strconv.Itoa(p.Merges), strconv.Itoa(p.Items), strconv.FormatFloat(p.MergeTime.Seconds(), 'f', 3, 64),
			strconv.FormatFloat(p.EvalTime.Seconds(), 'f', 3, 64), f(p.Factor)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report: write csv curve: %w", err)
	}
	return nil
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
