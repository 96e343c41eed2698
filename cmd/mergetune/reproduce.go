package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mergetune/mergetune/report"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search"
)

// reproduceFlags are the settings of `mergetune reproduce`.
type reproduceFlags struct {
	out, family string
	quick       bool
	seed        uint64
	quiet       bool
}

func newReproduceCmd() *cobra.Command {
	var f reproduceFlags
	cmd := &cobra.Command{
		Use:   "reproduce [--out DIR] [--quick]",
		Short: "Check the merging papers' headline claims on the tiny model family",
		Long: `Run one experiment per merging paper on the tiny model family (the one the
demo uses, with its same-task fine-tunes from several seeds) and print a
table: each claim, what the family shows (the claimed difference or
retention), its 95% interval over task subsets and seeds, and the verdict:
holds when the whole interval lies on the claimed side of the threshold,
does not hold when it lies on the other side, inconclusive otherwise.

  DARE        dropping p = 0.9 of a fine-tune's delta with rescale keeps its
              accuracy (curve over p, with and without rescale)
  TIES        beats task arithmetic, by more as more tasks are merged; the
              ablation: trim only, sign election only, both
  Breadcrumbs beats task arithmetic at an equal tuning budget
  DELLA       magnitude-ranked drop beats DARE's uniform drop at equal density
  Soups       uniform and greedy soups beat the best single fine-tune;
              Model Stock of 2 fine-tunes beats the uniform soup of all
  SLERP       beats linear interpolation between two fine-tunes, over t

Everything is recorded in DIR/mergetune.db (the claims in mt_claims) and
DIR/report.html shows the table with a plot per paper. --quick runs a
smaller protocol (4 tasks, fewer items, one seed) in a few minutes at most.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReproduce(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.out, "out", "mergetune-reproduce", "directory for the database, the merges' work files and the report")
	fl.StringVar(&f.family, "family", "", "run on the tiny model family in this directory (default: the one built into the binary)")
	fl.BoolVar(&f.quick, "quick", false, "the small protocol: 4 tasks, fewer items and subsets, one seed")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the random merges, subsets and searches")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only the table")
	return cmd
}

func runReproduce(ctx context.Context, w io.Writer, f reproduceFlags) error {
	dir, err := filepath.Abs(f.out)
	if err != nil {
		return fmt.Errorf("--out %s: %w", f.out, err)
	}
	work := filepath.Join(dir, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return fmt.Errorf("--out %s: %w", f.out, err)
	}
	fam, err := demoFamily(ctx, f.family, dir)
	if err != nil {
		return err
	}
	dbPath := filepath.Join(dir, "mergetune.db")
	db, err := results.Open(ctx, dbPath)
	if err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	defer db.Close()
	start := time.Now()
	sc := search.ReproduceScales(f.quick)
	opt := search.ReproduceOptions{Family: fam, DB: db, DBPath: dbPath, WorkDir: work, Quick: f.quick, Seed: f.seed}
	if !f.quiet {
		fmt.Fprintf(w, "==> mergetune reproduce (%s): tiny family in %s, %d tasks, %d test items per task; writing to %s\n",
			sc.Name, fam, sc.Tasks, sc.Limit, dir)
		opt.Log = func(format string, a ...any) {
			fmt.Fprintf(w, "    %s %s\n", time.Since(start).Round(time.Second), fmt.Sprintf(format, a...))
		}
	}
	claims, _, err := search.Reproduce(ctx, opt)
	if err != nil {
		return err
	}
	writeClaims(w, claims)
	out := filepath.Join(dir, "report.html")
	if _, err := report.WriteFile(ctx, dbPath, out, report.FormatHTML); err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	if !f.quiet {
		fmt.Fprintf(w, "reproduce (%s) done in %s\nreport: %s\n", sc.Name, time.Since(start).Round(time.Second), out)
	}
	return nil
}

// writeClaims prints the claims table.
func writeClaims(w io.Writer, claims []results.Claim) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PAPER\tCLAIM\tFAMILY SHOWS\t95% INTERVAL\tUNITS\tTHRESHOLD\tVERDICT")
	for _, c := range claims {
		fmt.Fprintf(tw, "%s\t%s\t%+.4f\t[%+.4f, %+.4f]\t%d\t%g\t%s\n", c.Paper, c.Statement, c.Value, c.Lo, c.Hi, c.Units, c.Threshold, c.Verdict)
	}
	tw.Flush()
}
