package report

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/results"
)

// TestClaimsReport renders recorded claims from the database alone: the
// HTML report's table and one plot per experiment (line plot with the
// per-unit series faint and out of the legend, bar plot with intervals),
// and the markdown table.
func TestClaimsReport(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	db, err := results.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	claims := []results.Claim{
		{ID: "dare-keep", Order: 1, Paper: "DARE (arXiv 2311.03099)", Statement: "keeps accuracy", Measure: "retention",
			Value: 0.98, Lo: 0.96, Hi: 1, Threshold: 0.95, Units: 32, Verdict: results.VerdictHolds, Plot: "dare", Run: "full"},
		{ID: "soup-uniform", Order: 2, Paper: "Model Soups (arXiv 2203.05482)", Statement: "soup beats best", Measure: "difference",
			Value: -0.01, Lo: -0.05, Hi: 0.03, Units: 4, Verdict: results.VerdictInconclusive, Plot: "soups", Run: "full"},
	}
	plots := []results.ClaimPlot{
		{Name: "dare", Title: "DARE curve", XLabel: "p", YLabel: "normalized", Points: []results.ClaimPoint{
			{Series: "rescaled", X: 0.5, Y: 1, Lo: 1, Hi: 1}, {Series: "rescaled", X: 0.9, Y: 0.98, Lo: 0.96, Hi: 1},
			{Series: "rot1 (rescaled)", Detail: true, X: 0.5, Y: 1}, {Series: "rot1 (rescaled)", Detail: true, X: 0.9, Y: 0.97}}},
		{Name: "soups", Title: "Soups", YLabel: "accuracy", Bars: true, Points: []results.ClaimPoint{
			{Series: "best single", Label: "rot1", Y: 0.9, Lo: 0.8, Hi: 0.95}, {Series: "uniform soup", Label: "rot1", Y: 0.89, Lo: 0.8, Hi: 0.94}}},
	}
	if err := db.PutClaims(ctx, claims, plots); err != nil {
		t.Fatal(err)
	}
	d, err := Load(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var h bytes.Buffer
	if err := Write(&h, d, FormatHTML); err != nil {
		t.Fatal(err)
	}
	page := h.String()
	for _, want := range []string{"What the papers claim, and what the family shows", "keeps accuracy", "[&#43;0.9600, &#43;1.0000]",
		"inconclusive", `id="plot-claim-dare" data-kind="line"`, `id="plot-claim-soups" data-kind="bars"`, "<title>rot1 (rescaled)</title>"} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	if strings.Contains(page, `>rot1 (rescaled)</text>`) {
		t.Error("a per-unit series is in the legend")
	}
	if strings.Count(page, `<svg xmlns`) != 2 {
		t.Errorf("HTML report has %d plots, want 2", strings.Count(page, `<svg xmlns`))
	}
	var m bytes.Buffer
	if err := Write(&m, d, FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## What the papers claim, and what the family shows",
		"| DARE (arXiv 2311.03099) | keeps accuracy | retention | +0.9800 | [+0.9600, +1.0000] | 32 | > 0.95 | holds | full |"} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("markdown report lacks %q:\n%s", want, m.String())
		}
	}
}
