package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/results"
)

// reproduceClaims are the claims `mergetune reproduce` checks, by ID, and
// the range the value lies in: differences of (normalized) accuracies in
// [-2, 2] (a merge may beat its fine-tune, never by more than the
// fine-tune's own accuracy), DARE's retention in [0, 2], breadcrumbs'
// transfer ratio (frozen ÷ re-tuned) positive.
var reproduceClaims = map[string][2]float64{
	"dare-keep":            {0, 2},
	"dare-rescale":         {-2, 2},
	"ties-beats-ta":        {-2, 2},
	"ties-margin-grows":    {-2, 2},
	"ties-trim":            {-2, 2},
	"ties-elect":           {-2, 2},
	"breadcrumbs-beats-ta": {-2, 2},
	"breadcrumbs-transfer": {0, 10},
	"della-beats-dare":     {-2, 2},
	"soup-uniform":         {-1, 1},
	"soup-greedy":          {-1, 1},
	"stock-vs-soup":        {-1, 1},
	"slerp-beats-linear":   {-1, 1},
}

// TestReproduceQuick runs `mergetune reproduce --quick` on the checkout's
// family and checks every claim's row: present once, its value in range
// and inside its interval, the verdict the one rule gives, its plot
// recorded with points; the printed table and the report show each.
func TestReproduceQuick(t *testing.T) {
	checkout, err := filepath.Abs(filepath.Join("..", "..", "datasets", "toy", "family"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := mustRunCLI(t, "reproduce", "--quick", "--out", dir, "--family", checkout)
	db, err := results.OpenReadOnly(context.Background(), filepath.Join(dir, "mergetune.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	claims, plots, err := db.Claims(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	points := map[string]int{}
	for _, p := range plots {
		points[p.Name] = len(p.Points)
	}
	seen := map[string]bool{}
	for _, c := range claims {
		rng, ok := reproduceClaims[c.ID]
		if !ok || seen[c.ID] {
			t.Errorf("claim %s: unknown or repeated", c.ID)
			continue
		}
		seen[c.ID] = true
		for _, v := range []float64{c.Value, c.Lo, c.Hi} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("claim %s: non-finite %v", c.ID, v)
			}
		}
		if c.Value < rng[0] || c.Value > rng[1] {
			t.Errorf("claim %s: value %v outside [%v, %v]", c.ID, c.Value, rng[0], rng[1])
		}
		if c.Lo > c.Value || c.Value > c.Hi {
			t.Errorf("claim %s: interval [%v, %v] does not hold its value %v", c.ID, c.Lo, c.Hi, c.Value)
		}
		if c.Units < 1 {
			t.Errorf("claim %s: %d units", c.ID, c.Units)
		}
		if want := eval.ClaimVerdict(eval.Estimate{Value: c.Value, Lo: c.Lo, Hi: c.Hi}, c.Threshold); c.Verdict != want {
			t.Errorf("claim %s: verdict %q, the rule gives %q", c.ID, c.Verdict, want)
		}
		if c.Run != "quick" || c.Paper == "" || c.Statement == "" || c.Measure == "" {
			t.Errorf("claim %s: run %q, paper %q, statement %q, measure %q", c.ID, c.Run, c.Paper, c.Statement, c.Measure)
		}
		if points[c.Plot] == 0 {
			t.Errorf("claim %s: plot %q has no points", c.ID, c.Plot)
		}
		if !strings.Contains(out, c.Statement) {
			t.Errorf("the printed table lacks claim %s (%q):\n%s", c.ID, c.Statement, out)
		}
	}
	for id := range reproduceClaims {
		if !seen[id] {
			t.Errorf("claim %s not recorded", id)
		}
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "What the papers claim, and what the family shows") {
		t.Error("the report has no claims table")
	}
	for _, p := range plots {
		if !strings.Contains(string(html), `id="plot-claim-`+p.Name+`"`) {
			t.Errorf("the report has no plot %s", p.Name)
		}
	}
}
