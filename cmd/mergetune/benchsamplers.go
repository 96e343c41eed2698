package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search"
	"github.com/mergetune/mergetune/search/optim"
	"github.com/mergetune/mergetune/search/study"
)

// benchSamplersFlags are the flags of bench samplers.
type benchSamplersFlags struct {
	out, family  string
	samplers     string
	method       string
	seeds        int
	trials       int
	tasks        int
	items        int
	confirmTop   int
	confirmItems int
	workers      int
	format       string
	quiet        bool
}

// defaultBenchSamplers are the samplers bench samplers compares by
// default.
const defaultBenchSamplers = "tpe,cmaes,random"

func newBenchSamplersCmd() *cobra.Command {
	var f benchSamplersFlags
	cmd := &cobra.Command{
		Use:   "samplers [--samplers tpe,cmaes,random] [--seeds N] [--trials N] [--tasks K] [--items N]",
		Short: "Compare samplers over seeds on the tiny model family, tune score beside confirmed score",
		Long: `Run the same study on the tiny model family (the demo's: --method tuned
on the first --tasks tasks, --items tune items per task, objective
normalized accuracy, --trials trials, the built-in runner) once per
sampler and seed (sampler: {type: S, seed: 1..--seeds}), then confirm each
run's --confirm-top best trials on --confirm items per task (0: the whole
tune split), as study freeze --confirm does, and print one row per
sampler, over the seeds (mean and Student-t 95% interval):

  best       the best tune objective the run found
  confirmed  that trial's score on the confirmation items
  gap        best − confirmed: how much the tune items flattered it
             (the winner's curse)
  frozen     the confirmed score of the trial the confirmation chose
  best@N     the best tune objective after N trials (a third and two
             thirds of the budget)
  s/run      wall seconds of a run's search (confirmation apart; a
             resumed run counts only what it ran this time)

Every run is a study in DIR/mergetune.db (named samplers-METHOD-kK-S-seedN,
its file in DIR/studies), so mergetune report DIR/mergetune.db shows them
with their confirmations; running it again resumes. The table is also
written to DIR/samplers.md (--format md prints it as markdown).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := runBenchSamplers(cmd.Context(), cmd.OutOrStdout(), f)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.out, "out", "mergetune-bench-samplers", "directory for the study files, the database and the table")
	fl.StringVar(&f.family, "family", "", "run on the tiny model family in this directory (default: the one built into the binary)")
	fl.StringVar(&f.samplers, "samplers", defaultBenchSamplers, "comma-separated samplers to compare")
	fl.StringVar(&f.method, "method", "breadcrumbs", "merge method tuned, with the demo's search space: "+strings.Join(benchSamplerMethods(), ", "))
	fl.IntVar(&f.seeds, "seeds", 3, "seeds per sampler (1..N)")
	fl.IntVar(&f.trials, "trials", 30, "trial budget of each run")
	fl.IntVar(&f.tasks, "tasks", 4, "tasks tuned on (the demo's first K)")
	fl.IntVar(&f.items, "items", 40, "tune items per task")
	fl.IntVar(&f.confirmTop, "confirm-top", study.DefaultConfirmTop, "how many of each run's best trials are confirmed")
	fl.IntVar(&f.confirmItems, "confirm", 0, "confirmation items per task (0: the whole tune split)")
	fl.IntVar(&f.workers, "workers", 1, "trials run at once in each run")
	fl.StringVar(&f.format, "format", "text", "table format: text or md")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only the table")
	return cmd
}

// benchSamplerMethods are the methods bench samplers can tune: the
// demo's.
func benchSamplerMethods() []string {
	var out []string
	for _, m := range demoMethods() {
		out = append(out, m.name)
	}
	return out
}

// samplerRun is one run of the comparison: one sampler, one seed.
type samplerRun struct {
	sampler string
	seed    int
	study   string
	// confirmations of the run's best trials, by tune rank (the first is
	// the best trial).
	confirmations []results.Confirmation
	// at is the best tune objective after each of the checkpoints'
	// trial counts.
	at []float64
	// wall is the search's wall time, confirm the confirmation's.
	wall, confirm time.Duration
}

// best is the best tune objective of the run.
func (r samplerRun) best() results.Confirmation { return r.confirmations[0] }

// frozen is the confirmation the run would freeze.
func (r samplerRun) frozen() results.Confirmation {
	for _, c := range r.confirmations {
		if c.Chosen {
			return c
		}
	}
	return r.confirmations[0]
}

// meanCI is a mean across seeds with its 95% interval (eval.MeanInterval).
type meanCI struct{ mean, lo, hi float64 }

func newMeanCI(xs []float64) meanCI {
	m, lo, hi := eval.MeanInterval(xs)
	return meanCI{m, lo, hi}
}

func (c meanCI) String() string { return fmt.Sprintf("%.3f [%.3f, %.3f]", c.mean, c.lo, c.hi) }

// samplerRow is one sampler's row of the table, over its seeds.
type samplerRow struct {
	sampler                      string
	seeds                        int
	best, confirmed, gap, frozen meanCI
	at                           []float64     // mean best after each checkpoint
	wall                         time.Duration // mean search wall time per run
}

// samplerTable is the comparison's result.
type samplerTable struct {
	method       string
	tasks, items int
	trials       int
	seeds        int
	confirmTop   int
	confirmItems int // items per task the confirmation evaluated
	checkpoints  []int
	rows         []samplerRow
	runs         []samplerRun
	wall         time.Duration
}

// benchCheckpoints are the trial counts best@N is reported at: a third
// and two thirds of the budget.
func benchCheckpoints(trials int) []int {
	var out []int
	for _, i := range []int{1, 2} {
		if c := trials * i / 3; c >= 1 && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// parseBenchSamplers splits and checks --samplers against the samplers
// a study may name (optim.Samplers).
func parseBenchSamplers(s string) ([]string, error) {
	table := optim.Samplers()
	return parseNames("--samplers", "sampler", s, func(n string) error {
		_, err := table.Lookup(n)
		return err
	})
}

func runBenchSamplers(ctx context.Context, w io.Writer, f benchSamplersFlags) (*samplerTable, error) {
	samplers, err := parseBenchSamplers(f.samplers)
	if err != nil {
		return nil, err
	}
	var method *demoMethod
	for _, m := range demoMethods() {
		if m.name == f.method {
			method = &m
		}
	}
	if method == nil {
		return nil, fmt.Errorf("--method %q: unknown (known: %s)", f.method, strings.Join(benchSamplerMethods(), ", "))
	}
	tasks := demoTasks()
	for _, c := range []struct {
		flag     string
		v, least int
	}{{"--seeds", f.seeds, 1}, {"--trials", f.trials, 1}, {"--tasks", f.tasks, 1}, {"--items", f.items, 1},
		{"--confirm-top", f.confirmTop, 1}, {"--confirm", f.confirmItems, 0}, {"--workers", f.workers, 1}} {
		if c.v < c.least {
			return nil, fmt.Errorf("%s %d: want at least %d", c.flag, c.v, c.least)
		}
	}
	if f.tasks > len(tasks) {
		return nil, fmt.Errorf("--tasks %d: the family has %d tasks", f.tasks, len(tasks))
	}
	if f.format != "text" && f.format != "md" {
		return nil, fmt.Errorf("--format %q: want text or md", f.format)
	}
	dir, err := filepath.Abs(f.out)
	if err != nil {
		return nil, fmt.Errorf("--out %s: %w", f.out, err)
	}
	for _, sub := range []string{"studies", "work"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("--out %s: %w", f.out, err)
		}
	}
	fam, err := demoFamily(ctx, f.family, dir)
	if err != nil {
		return nil, err
	}
	logf := func(format string, a ...any) {
		if !f.quiet {
			fmt.Fprintf(w, "==> "+format+"\n", a...)
		}
	}
	tb := &samplerTable{method: method.name, tasks: f.tasks, items: f.items, trials: f.trials, seeds: f.seeds,
		confirmTop: f.confirmTop, checkpoints: benchCheckpoints(f.trials)}
	logf("bench samplers: %s on %d tasks × %d items, %d trials, samplers %s × %d seeds; confirming the best %d on %s; writing to %s",
		method.name, f.tasks, f.items, f.trials, strings.Join(samplers, ", "), f.seeds, f.confirmTop, confirmWhat(f.confirmItems), dir)
	start := time.Now()
	table := backends.All()
	// Seeds outermost: the samplers take turns, so none is favoured by
	// what the others left in the evaluation cache or the machine's load.
	for seed := 1; seed <= f.seeds; seed++ {
		for _, sampler := range samplers {
			r, err := benchSamplerRun(ctx, f, fam, dir, *method, tasks[:f.tasks], sampler, seed, tb.checkpoints, table)
			if err != nil {
				return nil, err
			}
			b, fr := r.best(), r.frozen()
			logf("%s: best %.4f (trial %d), confirmed %.4f, gap %+.4f; frozen trial %d confirmed %.4f; search %s, confirmation %s",
				r.study, b.Tune, b.Trial, b.Confirm, b.Gap(), fr.Trial, fr.Confirm, r.wall.Round(100*time.Millisecond), r.confirm.Round(100*time.Millisecond))
			tb.runs = append(tb.runs, r)
		}
	}
	tb.wall = time.Since(start)
	tb.confirmItems = tb.runs[0].best().Items / f.tasks
	tb.rows = samplerRows(samplers, tb.runs, len(tb.checkpoints))
	var md strings.Builder
	tb.writeMarkdown(&md)
	if err := writeFileAtomic(filepath.Join(dir, "samplers.md"), []byte(md.String())); err != nil {
		return nil, fmt.Errorf("bench samplers: %w", err)
	}
	if f.format == "md" {
		fmt.Fprint(w, md.String())
	} else {
		tb.writeText(w)
	}
	logf("bench samplers done in %s; the studies: mergetune report %s", tb.wall.Round(time.Second), filepath.Join(dir, "mergetune.db"))
	return tb, nil
}

// confirmWhat says how many items per task a confirmation evaluates.
func confirmWhat(items int) string {
	if items == 0 {
		return "the whole tune split"
	}
	return fmt.Sprintf("%d items per task", items)
}

// benchStudyName is the name of the study of one sampler and seed.
func benchStudyName(method string, tasks int, sampler string, seed int) string {
	return fmt.Sprintf("samplers-%s-k%d-%s-seed%d", method, tasks, sampler, seed)
}

// benchSamplerRun writes, runs (or resumes) and confirms the study of
// one sampler and seed.
func benchSamplerRun(ctx context.Context, f benchSamplersFlags, fam, dir string, m demoMethod, tasks []string, sampler string,
	seed int, checkpoints []int, table backends.Table) (samplerRun, error) {
	name := benchStudyName(m.name, len(tasks), sampler, seed)
	top, items := f.confirmTop, f.confirmItems
	spec := familyStudy{name: name, family: fam, method: m, tasks: tasks, limit: f.items, trials: f.trials, workers: f.workers,
		sampler: map[string]any{"type": sampler, "seed": seed}, evaluator: map[string]any{"type": backends.Builtin},
		confirm: &study.FileConfirm{Top: &top, Items: &items}, storage: filepath.Join(dir, "mergetune.db"),
		workDir: filepath.Join(dir, "work", name)}
	hdr := fmt.Sprintf("# Written by mergetune bench samplers: %s on %d tasks of the tiny family, sampler %s, seed %d.\n"+
		"# Run it again with: mergetune study run %s; confirm with: mergetune study freeze %s --out RECIPE.yml\n",
		m.name, len(tasks), sampler, seed, name+".yml", name+".yml")
	path := filepath.Join(dir, "studies", name+".yml")
	if err := spec.write(path, hdr); err != nil {
		return samplerRun{}, fmt.Errorf("bench samplers: %w", err)
	}
	s, err := study.Load(path)
	if err != nil {
		return samplerRun{}, fmt.Errorf("bench samplers: %w", err)
	}
	r := samplerRun{sampler: sampler, seed: seed, study: name}
	t0 := time.Now()
	sum, err := search.Run(ctx, s, search.Options{Backends: table})
	if err != nil {
		return r, fmt.Errorf("bench samplers: study %s: %w", name, err)
	}
	r.wall = time.Since(t0)
	if sum.Status.Best == nil {
		return r, fmt.Errorf("bench samplers: study %s: no trial completed (%d failed)", name, sum.Status.Failed)
	}
	t0 = time.Now()
	if r.confirmations, err = search.Confirm(ctx, s, search.ConfirmOptions{Confirm: *s.Confirm, Backends: table}); err != nil {
		return r, fmt.Errorf("bench samplers: %w", err)
	}
	r.confirm = time.Since(t0)
	db, err := results.Open(ctx, s.Storage)
	if err != nil {
		return r, fmt.Errorf("bench samplers: %w", err)
	}
	defer db.Close()
	recs, err := db.Trials(ctx, name)
	if err != nil {
		return r, fmt.Errorf("bench samplers: study %s: %w", name, err)
	}
	r.at = bestAfter(recs, checkpoints)
	return r, nil
}

// bestAfter is the best complete trial's objective among the first n
// trials (by number), for each n of counts; NaN-free: 0 when none is
// complete yet.
func bestAfter(recs []results.TrialRecord, counts []int) []float64 {
	out := make([]float64, len(counts))
	for i, n := range counts {
		for _, r := range recs {
			if r.Number < n && r.State == results.TrialComplete && r.Objective != nil && *r.Objective > out[i] {
				out[i] = *r.Objective
			}
		}
	}
	return out
}

// samplerRows aggregates the runs into one row per sampler, in the
// samplers' order: means and 95% intervals across the seeds.
func samplerRows(samplers []string, runs []samplerRun, checkpoints int) []samplerRow {
	var rows []samplerRow
	for _, name := range samplers {
		var best, confirmed, gap, frozen []float64
		row := samplerRow{sampler: name, at: make([]float64, checkpoints)}
		for _, r := range runs {
			if r.sampler != name {
				continue
			}
			b := r.best()
			best, confirmed, gap = append(best, b.Tune), append(confirmed, b.Confirm), append(gap, b.Gap())
			frozen = append(frozen, r.frozen().Confirm)
			for i, v := range r.at {
				row.at[i] += v
			}
			row.wall += r.wall
			row.seeds++
		}
		if row.seeds == 0 {
			continue
		}
		for i := range row.at {
			row.at[i] /= float64(row.seeds)
		}
		row.wall /= time.Duration(row.seeds)
		row.best, row.confirmed, row.gap, row.frozen = newMeanCI(best), newMeanCI(confirmed), newMeanCI(gap), newMeanCI(frozen)
		rows = append(rows, row)
	}
	return rows
}

// header is the table's column names.
func (tb *samplerTable) header() []string {
	h := []string{"sampler", "seeds", "best (tune)", "confirmed", "gap", "frozen"}
	for _, c := range tb.checkpoints {
		h = append(h, fmt.Sprintf("best@%d", c))
	}
	return append(h, "s/run")
}

// cells is a row's cells, in header order.
func (tb *samplerTable) cells(r samplerRow) []string {
	c := []string{r.sampler, fmt.Sprint(r.seeds), r.best.String(), r.confirmed.String(),
		fmt.Sprintf("%+.3f [%+.3f, %+.3f]", r.gap.mean, r.gap.lo, r.gap.hi), r.frozen.String()}
	for _, v := range r.at {
		c = append(c, fmt.Sprintf("%.3f", v))
	}
	return append(c, fmt.Sprintf("%.1f", r.wall.Seconds()))
}

// caption says what was run, in a line.
func (tb *samplerTable) caption() string {
	return fmt.Sprintf("%s on %d tasks × %d tune items, %d trials, %d seeds per sampler; the best %d trials of each run confirmed on %d items per task; "+
		"mean [95%% interval across seeds]; %s in all", tb.method, tb.tasks, tb.items, tb.trials, tb.seeds, tb.confirmTop, tb.confirmItems,
		tb.wall.Round(time.Second))
}

// writeText prints the table aligned.
func (tb *samplerTable) writeText(w io.Writer) {
	fmt.Fprintln(w, tb.caption())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(tb.header(), "\t")))
	for _, r := range tb.rows {
		fmt.Fprintln(tw, strings.Join(tb.cells(r), "\t"))
	}
	tw.Flush()
}

// writeMarkdown writes the table as markdown, the caption above it.
func (tb *samplerTable) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "%s.\n\n", tb.caption())
	h := tb.header()
	fmt.Fprintf(w, "| %s |\n|---|%s\n", strings.Join(h, " | "), strings.Repeat("---:|", len(h)-1))
	for _, r := range tb.rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(tb.cells(r), " | "))
	}
}
