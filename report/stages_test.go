package report

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/mergetune/mergetune/results"
)

// TestStages shows where a study's trials' time goes: a table of each
// stage's median and the last trial's time in HTML and Markdown, and a
// stage:NAME column per stage in the CSV.
func TestStages(t *testing.T) {
	s := time.Second
	obj := 0.5
	trial := func(n int, state results.TrialState, fin int64, st results.Stages) Trial {
		return Trial{TrialRecord: results.TrialRecord{Study: "st", Number: n, State: state, Method: "linear",
			Objective: &obj, FinishedAt: time.Unix(fin, 0), Stages: st}}
	}
	study := &Study{Name: "st", Trials: []Trial{
		trial(0, results.TrialComplete, 10, results.Stages{{Name: "merge", Time: 2 * s}, {Name: "load", Time: 1 * s}, {Name: "evaluate", Time: 5 * s}}),
		trial(1, results.TrialComplete, 30, results.Stages{{Name: "merge", Time: 4 * s}, {Name: "load", Time: 3 * s}, {Name: "evaluate", Time: 7 * s}}),
		trial(2, results.TrialComplete, 20, results.Stages{{Name: "merge", Time: 6 * s}, {Name: "load", Time: 2 * s}, {Name: "evaluate", Time: 9 * s}}),
		trial(3, results.TrialFailed, 40, nil),
	}}
	d := &Data{Path: "r.db", Studies: []*Study{study}}
	var html, md, csvOut bytes.Buffer
	for _, c := range []struct {
		format string
		buf    *bytes.Buffer
	}{{FormatHTML, &html}, {FormatMarkdown, &md}, {FormatCSV, &csvOut}} {
		if err := Write(c.buf, d, c.format); err != nil {
			t.Fatalf("%s: %v", c.format, err)
		}
	}
	for _, want := range []string{"Where the time goes", "median over the 3 finished trials", "last finished trial (1)",
		"<td>merge</td><td class=\"num\">4.000s</td><td class=\"num\">31%</td><td class=\"num\">4.000s</td>",
		"<td>total</td><td class=\"num\">13.000s</td><td class=\"num\">100%</td><td class=\"num\">14.000s</td>"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, want := range []string{"### Where the time goes", "| load | 2.000s | 15% | 3.000s |", "| evaluate | 7.000s | 54% | 7.000s |", "| total | 13.000s | 100% | 14.000s |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	rows, err := csv.NewReader(&csvOut).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, c := range []struct {
		row         int
		stage, want string
	}{{1, "merge", "2.000"}, {2, "load", "3.000"}, {3, "evaluate", "9.000"}, {4, "merge", ""}} {
		i, ok := col["stage:"+c.stage]
		if !ok {
			t.Fatalf("CSV has no stage:%s column: %v", c.stage, rows[0])
		}
		if got := rows[c.row][i]; got != c.want {
			t.Errorf("CSV row %d stage:%s = %q, want %q", c.row, c.stage, got, c.want)
		}
	}
}
