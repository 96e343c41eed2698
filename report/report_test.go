package report

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search"
)

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{0, 1, "0 0.2 0.4 0.6 0.8 1"},
		{0.63, 0.77, "0.65 0.675 0.7 0.725 0.75"},
		{2, 16, "2.5 5 7.5 10 12.5 15"}, {0, 30, "0 5 10 15 20 25 30"},
	} {
		var got []string
		for _, v := range niceTicks(c.lo, c.hi, 6) {
			got = append(got, fmtTick(v))
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("niceTicks(%g, %g) = %s, want %s", c.lo, c.hi, g, c.want)
		}
	}
}

func TestCurveRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	db, err := results.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := Load(ctx, path); err == nil || !strings.Contains(err.Error(), "holds no study") {
		t.Fatalf("Load of an empty database: %v", err)
	}
	pts := search.CurveRecords("ties-4", "ties", []search.CurvePoint{
		{Models: 2, Method: "recipe", Tasks: 2, Mean: 1, Normalized: 1, MergeTime: time.Second},
		{Models: 4, Method: "recipe", Tasks: 4, Mean: 0.5, Normalized: 0.6},
		{Models: 4, Method: "task_arithmetic", Tasks: 4, Mean: 0.4, Normalized: 0.45},
	})
	pts = append(pts, results.CurvePoint{Method: "ties", Variant: results.VariantTuned, Study: "ties-4", Models: 4, Tasks: 4, Mean: 0.7, Normalized: 0.7})
	if err := db.PutCurve(ctx, pts); err != nil {
		t.Fatal(err)
	}
	pts[1].Normalized = 0.65 // saved again: replaced, not added
	if err := db.PutCurve(ctx, pts); err != nil {
		t.Fatal(err)
	}
	d, err := Load(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Curve) != 4 {
		t.Fatalf("%d curve points, want 4: %+v", len(d.Curve), d.Curve)
	}
	var found bool
	for _, p := range d.Curve {
		if p.Method == "ties" && p.Variant == results.VariantFrozen && p.Models == 4 {
			found = p.Normalized == 0.65
		}
		if p.Method == "task_arithmetic" && p.Study != "ties-4" {
			t.Errorf("comparison point %+v lost its study", p)
		}
	}
	if !found {
		t.Errorf("replaced point not read back: %+v", d.Curve)
	}
	var html bytes.Buffer
	if err := Write(&html, d, FormatHTML); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="extend"`, `id="plot-extend"`, `class="series line"`, "ties (tuned)"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("html lacks %q", want)
		}
	}
	if err := Write(&html, d, "pdf"); err == nil {
		t.Error("format pdf accepted")
	}

	// A second rule over 3 subsets: the page shows its aggregate with
	// both intervals and its cost; the CSV every point.
	more := []results.CurvePoint{
		{Method: "ties", Variant: results.VariantFrozen, Study: "ties-4", Models: 4, Rule: "mean", Subsets: 3, Tasks: 4, Mean: 0.6,
			Normalized: 0.6, SubsetLo: 0.5, SubsetHi: 0.7, ItemLo: 0.4, ItemHi: 0.8, Merges: 3, Items: 48, Factor: 0.625},
		{Method: "ties", Variant: results.VariantFrozen, Study: "ties-4", Models: 4, Rule: "mean", Subset: 2, Subsets: 3,
			Members: "a,b,c,d", Tasks: 4, Mean: 0.55, Normalized: 0.55, SubsetLo: 0.55, SubsetHi: 0.55, ItemLo: 0.3, ItemHi: 0.7, Merges: 1, Items: 16, Factor: 0.5},
	}
	if err := db.PutCurve(ctx, more); err != nil {
		t.Fatal(err)
	}
	if d, err = Load(ctx, path); err != nil {
		t.Fatal(err)
	}
	html.Reset()
	if err := Write(&html, d, FormatHTML); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ties (frozen, mean)", "ties (frozen, fixed)", "[0.5000, 0.7000]", "[0.4000, 0.8000]", "3 merges, 48 items"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("html lacks %q", want)
		}
	}
	if strings.Contains(html.String(), "[0.3000, 0.7000]") {
		t.Errorf("html shows a subset's own point; the page has the aggregates")
	}
	var md, csvOut bytes.Buffer
	if err := Write(&md, d, FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| ties | frozen | mean | ties-4 | 4 | 3 | 4 | 0.625 | 0.6000 | 0.6000 | [0.5000, 0.7000] | [0.4000, 0.8000] | 3 merges, 48 items |") {
		t.Errorf("markdown lacks the mean rule's aggregate:\n%s", md.String())
	}
	if err := Write(&csvOut, d, FormatCSV); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(csvOut.String(), "ties,frozen,mean,ties-4,4,2,3,\"a,b,c,d\",4,") || !strings.Contains(csvOut.String(), ",0.500000\n") {
		t.Errorf("csv lacks the subset's point:\n%s", csvOut.String())
	}
}

func TestBarsAndScatter(t *testing.T) {
	svg := barPlot{ID: "b", Series: []string{"merge", "base"}, Groups: []barGroup{
		{Name: "swapcase", Bars: []bar{{Label: "merge", Value: 0.8, Lo: 0.7, Hi: 0.9, Interval: true}, {Label: "base", Value: 0}}},
	}}.render()
	if strings.Count(svg, `class="bar"`) != 2 || !strings.Contains(svg, `class="ci"`) || !strings.Contains(svg, `data-kind="bars"`) {
		t.Errorf("bar plot: %s", svg)
	}
	svg = xyPlot{ID: "s", Series: []series{{Points: []point{{X: 1, Y: 0.5}, {X: 2, Y: 0.7}}, Markers: true}}}.render()
	if strings.Count(svg, `class="pt"`) != 2 || !strings.Contains(svg, `data-kind="scatter"`) {
		t.Errorf("scatter plot: %s", svg)
	}
	// A single point (no range) still renders inside the frame.
	svg = xyPlot{ID: "one", Series: []series{{Points: []point{{X: 3, Y: 0.5}}, Markers: true}}}.render()
	if strings.Contains(svg, "NaN") || strings.Count(svg, `class="pt"`) != 1 {
		t.Errorf("one-point plot: %s", svg)
	}
}

// TestCurveVerdicts: a database holding frozen and re-tuned points gets a
// transfer verdict per method, rule and size in HTML and Markdown, with
// both intervals; a size without a re-tuned point gets none.
func TestCurveVerdicts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	db, err := results.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pts := []results.CurvePoint{
		{Method: "ties", Variant: results.VariantTuned, Study: "ties-8", Models: 8, Tasks: 8, Normalized: 0.5, ItemLo: 0.45, ItemHi: 0.55},
		{Method: "ties", Variant: results.VariantFrozen, Study: "ties-4", Rule: "fixed", Models: 8, Tasks: 8, Normalized: 0.3, ItemLo: 0.25, ItemHi: 0.35},
		{Method: "ties", Variant: results.VariantFrozen, Study: "ties-4", Rule: "sqrt", Models: 8, Subsets: 3, Tasks: 8, Normalized: 0.42,
			SubsetLo: 0.3, SubsetHi: 0.6, ItemLo: 0.4, ItemHi: 0.44},
		{Method: "ties", Variant: results.VariantFrozen, Study: "ties-4", Rule: "fixed", Models: 16, Tasks: 16, Normalized: 0.2, ItemLo: 0.15, ItemHi: 0.25},
	}
	if err := db.PutCurve(ctx, pts); err != nil {
		t.Fatal(err)
	}
	d, err := Load(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var html, md bytes.Buffer
	if err := Write(&html, d, FormatHTML); err != nil {
		t.Fatal(err)
	}
	if err := Write(&md, d, FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="verdict"`, "0.3000 [0.2500, 0.3500] (ties-4)", "0.5000 [0.4500, 0.5500] (ties-8)",
		"transfer fails at 8", "keeps 60% of re-tuned (need 95%), intervals apart",
		"0.4200 [0.3000, 0.6000] (ties-4)", "transfer holds at 8", "keeps 84% of re-tuned (need 95%), intervals overlap"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("html lacks %q", want)
		}
	}
	for _, want := range []string{"### Transfer verdict",
		"| ties | fixed | 8 | 0.3000 [0.2500, 0.3500] (ties-4) | 0.5000 [0.4500, 0.5500] (ties-8) | transfer fails at 8 | keeps 60% of re-tuned (need 95%), intervals apart |",
		"| ties | sqrt | 8 | 0.4200 [0.3000, 0.6000] (ties-4) | 0.5000 [0.4500, 0.5500] (ties-8) | transfer holds at 8 |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	if strings.Contains(md.String(), "at 16") {
		t.Errorf("a verdict at 16, where nothing was re-tuned:\n%s", md.String())
	}
}
