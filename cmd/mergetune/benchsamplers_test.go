package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/report"
	"github.com/mergetune/mergetune/search/optim"
)

// TestBenchSamplers runs the sampler comparison at a tiny size (3
// samplers × 2 seeds × 3 trials, 2 tasks × 6 items, the best 2 confirmed
// on 20 items) and checks the table (a row per sampler over its seeds,
// intervals around their means, gap = best − confirmed), the studies and
// their confirmations in the database, and that the seeds drew different
// trials.
func TestBenchSamplers(t *testing.T) {
	fam, err := filepath.Abs("../../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	samplers := []string{"tpe", "cmaes", "random"}
	f := benchSamplersFlags{out: dir, family: fam, samplers: strings.Join(samplers, ","), method: "breadcrumbs", seeds: 2, trials: 3,
		tasks: 2, items: 6, confirmTop: 2, confirmItems: 20, workers: 1, format: "md", quiet: true}
	var out bytes.Buffer
	tb, err := runBenchSamplers(context.Background(), &out, f)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())

	if len(tb.rows) != len(samplers) {
		t.Fatalf("%d rows, want one per sampler (%d)", len(tb.rows), len(samplers))
	}
	if tb.confirmItems != 20 || !slices.Equal(tb.checkpoints, []int{1, 2}) {
		t.Errorf("confirmed on %d items per task, checkpoints %v; want 20 and [1 2]", tb.confirmItems, tb.checkpoints)
	}
	for i, r := range tb.rows {
		if r.sampler != samplers[i] || r.seeds != f.seeds {
			t.Errorf("row %d: sampler %s over %d seeds, want %s over %d", i, r.sampler, r.seeds, samplers[i], f.seeds)
		}
		for _, c := range []struct {
			name string
			v    meanCI
		}{{"best", r.best}, {"confirmed", r.confirmed}, {"gap", r.gap}, {"frozen", r.frozen}} {
			if !(c.v.lo <= c.v.mean && c.v.mean <= c.v.hi) {
				t.Errorf("%s %s: interval %v does not hold its mean", r.sampler, c.name, c.v)
			}
		}
		if d := r.best.mean - r.confirmed.mean; math.Abs(r.gap.mean-d) > 1e-12 {
			t.Errorf("%s: gap %v, want best − confirmed = %v", r.sampler, r.gap.mean, d)
		}
		// The frozen trial is the confirmation's best: never below the
		// best tune trial's confirmed score.
		if r.frozen.mean < r.confirmed.mean-1e-12 {
			t.Errorf("%s: frozen %v below the best trial's confirmed %v", r.sampler, r.frozen.mean, r.confirmed.mean)
		}
		// The best so far never falls, and ends at the best found.
		if len(r.at) != 2 || r.at[0] > r.at[1] || r.at[1] > r.best.mean+1e-12 {
			t.Errorf("%s: best after %v trials %v, best found %v", r.sampler, tb.checkpoints, r.at, r.best.mean)
		}
		want := fmt.Sprintf("| %s | %d | %s |", r.sampler, r.seeds, r.best)
		if !strings.Contains(out.String(), want) {
			t.Errorf("markdown output lacks %q", want)
		}
	}

	// Every run is a study in the database, with its trials and the
	// confirmation of its best 2, and the seeds drew different trials.
	d, err := report.Load(context.Background(), filepath.Join(dir, "mergetune.db"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Studies) != len(samplers)*f.seeds || len(tb.runs) != len(d.Studies) {
		t.Fatalf("%d studies in the database, %d runs; want %d", len(d.Studies), len(tb.runs), len(samplers)*f.seeds)
	}
	seqs := map[string]string{}
	for _, s := range d.Studies {
		if c := s.Counts(); c.Complete != f.trials {
			t.Errorf("study %s: %d complete trials, want %d", s.Name, c.Complete, f.trials)
		}
		if len(s.Confirmations) != f.confirmTop {
			t.Errorf("study %s: %d confirmations, want %d", s.Name, len(s.Confirmations), f.confirmTop)
		}
		for _, c := range s.Confirmations {
			if c.Items != f.tasks*f.confirmItems {
				t.Errorf("study %s: trial %d confirmed on %d items, want %d", s.Name, c.Trial, c.Items, f.tasks*f.confirmItems)
			}
		}
		var seq []string
		for _, tr := range s.Trials {
			seq = append(seq, fmt.Sprint(tr.Params)) // fmt sorts the keys
		}
		seqs[s.Name] = strings.Join(seq, "\n")
	}
	for _, r := range tb.runs {
		if _, ok := seqs[r.study]; !ok {
			t.Errorf("run %s (%s, seed %d) is not in the database", r.study, r.sampler, r.seed)
		}
	}
	for _, s := range samplers {
		a, b := seqs[benchStudyName("breadcrumbs", f.tasks, s, 1)], seqs[benchStudyName("breadcrumbs", f.tasks, s, 2)]
		if a == "" || a == b {
			t.Errorf("sampler %s: seeds 1 and 2 drew the same trials:\n%s", s, a)
		}
	}
}

// TestBenchSamplersBadFlags: bad flags are refused, naming the value, before
// anything runs; an unknown sampler lists the known ones.
func TestBenchSamplersBadFlags(t *testing.T) {
	good := benchSamplersFlags{samplers: "tpe", method: "breadcrumbs", seeds: 1, trials: 1, tasks: 1, items: 1, confirmTop: 1, workers: 1, format: "text"}
	for _, c := range []struct {
		name string
		edit func(*benchSamplersFlags)
		want []string
	}{
		{"unknown sampler", func(f *benchSamplersFlags) { f.samplers = "tpe,annealing" },
			append([]string{"--samplers", `"annealing"`}, optim.Samplers().Names()...)},
		{"no sampler", func(f *benchSamplersFlags) { f.samplers = " , " }, []string{"--samplers", "no sampler"}},
		{"unknown method", func(f *benchSamplersFlags) { f.method = "slerp" }, []string{"--method", `"slerp"`, "breadcrumbs", "ties"}},
		{"no seeds", func(f *benchSamplersFlags) { f.seeds = 0 }, []string{"--seeds 0"}},
		{"too many tasks", func(f *benchSamplersFlags) { f.tasks = len(demoTasks()) + 1 }, []string{fmt.Sprintf("--tasks %d", len(demoTasks())+1)}},
		{"format", func(f *benchSamplersFlags) { f.format = "html" }, []string{`--format "html"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := good
			f.out = filepath.Join(t.TempDir(), "out")
			c.edit(&f)
			_, err := runBenchSamplers(context.Background(), &bytes.Buffer{}, f)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, err := os.Stat(f.out); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("refused flags created %s (%v)", f.out, err)
			}
		})
	}
}
