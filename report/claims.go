package report

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/mergetune/mergetune/results"
)

// claimsNote explains the claims table.
const claimsNote = "Each merging paper's headline claim checked on the tiny family by mergetune reproduce: the quantity measured " +
	"(a difference of normalized or plain accuracy, or a retention), its mean over the units (task subsets, tasks, seeds) " +
	"and Student's t 95% interval across them. A claim holds when the whole interval lies above the claimed side's " +
	"threshold, does not hold when it lies below, and is inconclusive when the interval contains the threshold."

// claimRow is one paper claim of the "What the papers claim" table.
type claimRow struct {
	Paper, Statement, Measure string
	Value, Interval           string
	Units                     int
	Threshold                 string
	Verdict                   string
	Run                       string
}

// claimPlotView is one experiment's plot with the papers it illustrates.
type claimPlotView struct {
	Title string
	SVG   template.HTML
}

// claimsView renders the recorded claims (`mergetune reproduce`) as table
// rows and each experiment's plot, in the order the claims name them.
func claimsView(claims []results.Claim, plots []results.ClaimPlot) ([]claimRow, []claimPlotView) {
	var rows []claimRow
	var order []string
	seen := map[string]bool{}
	for _, c := range claims {
		rows = append(rows, claimRow{Paper: c.Paper, Statement: c.Statement, Measure: c.Measure,
			Value: fmt.Sprintf("%+.4f", c.Value), Interval: fmt.Sprintf("[%+.4f, %+.4f]", c.Lo, c.Hi), Units: c.Units,
			Threshold: fmt.Sprintf("%g", c.Threshold), Verdict: c.Verdict, Run: c.Run})
		if !seen[c.Plot] {
			seen[c.Plot] = true
			order = append(order, c.Plot)
		}
	}
	byName := map[string]results.ClaimPlot{}
	for _, p := range plots {
		byName[p.Name] = p
	}
	var views []claimPlotView
	for _, name := range order {
		p, ok := byName[name]
		if !ok || len(p.Points) == 0 {
			continue
		}
		views = append(views, claimPlotView{Title: p.Title, SVG: template.HTML(claimPlot(p))})
	}
	return rows, views
}

// claimPlot draws one experiment: grouped bars with their intervals, or
// one line per series (per-unit series faint under the means).
func claimPlot(p results.ClaimPlot) string {
	id := "plot-claim-" + slug(p.Name)
	if p.Bars {
		bp := barPlot{ID: id, Title: p.Title, YLabel: p.YLabel, Width: 1000, Height: 340}
		groups := map[string]int{}
		seen := map[string]bool{}
		for _, pt := range p.Points {
			if !seen[pt.Series] {
				seen[pt.Series] = true
				bp.Series = append(bp.Series, pt.Series)
			}
			gi, ok := groups[pt.Label]
			if !ok {
				gi = len(bp.Groups)
				groups[pt.Label] = gi
				bp.Groups = append(bp.Groups, barGroup{Name: pt.Label})
			}
			bp.Groups[gi].Bars = append(bp.Groups[gi].Bars, bar{Label: pt.Series, Value: pt.Y, Lo: pt.Lo, Hi: pt.Hi, Interval: pt.Lo < pt.Hi})
		}
		return bp.render()
	}
	var ss []series
	index := map[string]int{}
	mains := 0
	for _, pt := range p.Points {
		i, ok := index[pt.Series]
		if !ok {
			i = len(ss)
			index[pt.Series] = i
			s := series{Name: pt.Series, Line: true, Markers: !pt.Detail, Faint: pt.Detail}
			if pt.Detail {
				// Per-unit series: thin, faint, out of the legend, in
				// the colour of their mean.
				s.NoLegend = true
				s.Colour = colour(detailColour(ss, pt.Series))
			} else {
				s.Colour = colour(mains)
				mains++
			}
			ss = append(ss, s)
		}
		tip := fmt.Sprintf("%s at %g: %.4f", pt.Series, pt.X, pt.Y)
		if pt.Lo < pt.Hi {
			tip += fmt.Sprintf(" [%.4f, %.4f]", pt.Lo, pt.Hi)
		}
		ss[i].Points = append(ss[i].Points, point{X: pt.X, Y: pt.Y, Tip: tip})
	}
	xp := xyPlot{ID: id, Title: p.Title, XLabel: p.XLabel, YLabel: p.YLabel, Series: ss, Width: 1000, Height: 340,
		YFixed: true, YMin: 0, YMax: 1}
	return xp.render()
}

// detailColour gives a per-unit series the colour of the main series its
// name ends with ("rot1 (rescaled)" takes "rescaled"'s), else the first.
func detailColour(ss []series, name string) int {
	mi := 0
	for _, s := range ss {
		if s.NoLegend {
			continue
		}
		if strings.HasSuffix(name, "("+s.Name+")") {
			return mi
		}
		mi++
	}
	return 0
}
