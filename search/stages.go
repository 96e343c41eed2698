package search

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/results"
)

// stages returns where a trial's time went: the merge (when c was merged
// here), the backend's import stages (eval.StageReporter) or else Open's
// whole time as "load", and the evaluation.
func (c *candidate) stages(evalTime time.Duration) results.Stages {
	var out results.Stages
	if c.mergeTime > 0 {
		out = append(out, results.Stage{Name: "merge", Time: c.mergeTime})
	}
	if r, ok := c.Model.(eval.StageReporter); ok {
		out = append(out, r.Stages()...)
	} else {
		out = append(out, results.Stage{Name: "load", Time: c.openTime})
	}
	return append(out, results.Stage{Name: "evaluate", Time: evalTime})
}

// formatStages writes stages as "merge 1.2s, load 80ms, evaluate 3.4s
// (total 4.7s)".
func formatStages(stages results.Stages) string {
	var b strings.Builder
	for i, st := range stages {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", st.Name, roundDuration(st.Time))
	}
	fmt.Fprintf(&b, " (total %s)", roundDuration(stages.Total()))
	return b.String()
}

// roundDuration rounds d to 3 significant digits' worth for display.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// writeStages writes where the finished trials' time went: each stage's
// median over them, and the last finished trial's breakdown.
func writeStages(w io.Writer, recs []results.TrialRecord) {
	med, n := results.MedianStages(recs)
	if n == 0 {
		return
	}
	fmt.Fprintf(w, "time per trial, median of %d finished: %s\n", n, formatStages(med))
	last, _ := results.LastStages(recs)
	fmt.Fprintf(w, "last finished trial %d: %s\n", last.Number, formatStages(last.Stages))
}
