package report

import (
	"fmt"
	"time"

	"github.com/mergetune/mergetune/results"
)

// stageRow is one stage of the "where the time goes" table: its median
// over the study's finished trials, its share of the median trial's
// total, and the last finished trial's time.
type stageRow struct {
	Name, Median, Share, Last string
}

// stageHead is the head of the "where the time goes" table.
var stageHead = []string{"stage", "median", "share", "last trial"}

// stageRows returns where the study's trials' time goes, and a note that
// says over how many trials; no rows when none recorded its stages.
func stageRows(s *Study) ([]stageRow, string) {
	recs := make([]results.TrialRecord, len(s.Trials))
	for i, t := range s.Trials {
		recs[i] = t.TrialRecord
	}
	med, n := results.MedianStages(recs)
	if n == 0 {
		return nil, ""
	}
	last, _ := results.LastStages(recs)
	total := med.Total()
	var rows []stageRow
	for _, st := range med {
		row := stageRow{Name: st.Name, Median: fmtSeconds(st.Time), Share: "-", Last: "-"}
		if total > 0 {
			row.Share = fmt.Sprintf("%.0f%%", 100*float64(st.Time)/float64(total))
		}
		if d, ok := last.Stages.Get(st.Name); ok {
			row.Last = fmtSeconds(d)
		}
		rows = append(rows, row)
	}
	rows = append(rows, stageRow{Name: "total", Median: fmtSeconds(total), Share: "100%", Last: fmtSeconds(last.Stages.Total())})
	return rows, fmt.Sprintf("Each stage's median over the %d finished trials that recorded their stages, its share of the medians' sum, and the last finished trial (%d).", n, last.Number)
}

// fmtSeconds writes d in seconds with three decimals.
func fmtSeconds(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

// stageNames returns the stage names of every study's trials, for the
// CSV report's stage:NAME columns.
func stageNames(d *Data) []string {
	var recs []results.TrialRecord
	for _, s := range d.Studies {
		for _, t := range s.Trials {
			recs = append(recs, t.TrialRecord)
		}
	}
	return results.StageNames(recs)
}
