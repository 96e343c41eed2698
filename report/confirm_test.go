package report

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/search"
	"github.com/mergetune/mergetune/search/study"
)

// TestConfirmations: a study frozen with a confirmation shows, from the
// database alone, each re-scored trial's tune objective, confirmed score
// and gap, and which one was frozen.
func TestConfirmations(t *testing.T) {
	ctx := context.Background()
	fam, err := filepath.Abs("../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`name: c
base_model: %[1]s/base
models:
  - {model: %[1]s/swapcase, tasks: [swapcase]}
  - {model: %[1]s/rot1, tasks: [rot1]}
method: task_arithmetic
parameters: {weight: 1}
space:
  lambda: {type: float, low: 0.1, high: 1.5}
tasks: [toy:swapcase@tune, toy:rot1@tune]
limit: 4
trials: 3
objective: normalized
sampler: {type: random, seed: 1}
storage: c.db
`, fam)), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := study.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := search.Run(ctx, s, search.Options{}); err != nil {
		t.Fatal(err)
	}
	r, err := search.FreezeWith(ctx, s, search.ReadOptions{Confirm: &study.Confirm{Top: 2, Items: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Confirmations) != 2 {
		t.Fatalf("%d confirmations, want 2", len(r.Confirmations))
	}
	d, err := Load(ctx, s.Storage)
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
	if !strings.Contains(html.String(), `id="study-c-confirm"`) || !strings.Contains(md.String(), "### Confirmed before freezing") {
		t.Fatalf("no confirmation section:\n%s", md.String())
	}
	for _, c := range r.Confirmations {
		frozen := ""
		if c.Chosen {
			frozen = "yes"
		}
		row := fmt.Sprintf("| %d | %d | %.4f | %.4f | %+.4f | 20 | %s |", c.Trial, c.TuneRank, c.Tune, c.Confirm, c.Gap(), frozen)
		if !strings.Contains(md.String(), row) {
			t.Errorf("markdown lacks %q:\n%s", row, md.String())
		}
		if !strings.Contains(html.String(), fmt.Sprintf("<td class=\"num\">%.4f</td>", c.Confirm)) {
			t.Errorf("html lacks trial %d's confirmed score %.4f", c.Trial, c.Confirm)
		}
	}
}
