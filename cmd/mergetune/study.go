package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/merge"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search"
	"github.com/mergetune/mergetune/search/study"
)

// newStudyCmd builds `mergetune study` and its subcommands.
func newStudyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "study",
		Short: "Search merge settings: run a study, follow it, take its best trial",
		Long: `A study (a YAML file, see examples/studies/) names a base model, task models,
merge methods and a search space. "study run" proposes settings with goptuna,
merges, evaluates on the tune tasks and records everything in the study's
database (a SQLite file, or PostgreSQL for several machines); it can be
stopped (Ctrl-C, or even kill -9) and run again, and several processes, on
one machine or (PostgreSQL) many, may run one study at once: each trial's
parameters come from the study's seed and the trial's number, and a trial
that repeats an earlier one's parameters takes its result.

The study's definition (what its trials' values depend on: models, methods,
space, tasks, objective, evaluator, merge seed; not the budget, sampler or
pruner) is recorded with it. A file edited under the same name and storage
is refused by "study run" unless --new (run it as a new study NAME-2 beside
the old one; status, best and freeze then read that one) or --force (accept
the change). status, best and freeze only read the database.`,
	}
	cmd.AddCommand(newStudyRunCmd(), newStudyStatusCmd(), newStudyBestCmd(), newStudyFreezeCmd())
	return cmd
}

func newStudyRunCmd() *cobra.Command {
	var workers int
	var quiet, asNew, force, dryRun bool
	var progressEvery time.Duration
	cmd := &cobra.Command{
		Use:   "run STUDY.yml",
		Short: "Run (or resume) a study until its trial budget is spent",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := study.Load(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if dryRun {
				return writeStudyPlan(out, s)
			}
			live := !quiet && isTerminal(out)
			opt := search.Options{Workers: workers, Backends: backends.All()}
			switch {
			case asNew && force:
				return fmt.Errorf("--new and --force: give one (a new study beside the old one, or accept the change into it)")
			case asNew:
				opt.OnChange = search.ChangeNew
			case force:
				opt.OnChange = search.ChangeForce
			}
			switch {
			case live:
				opt.Progress = func(p search.Progress) { writeProgress(out, p) }
				opt.Log = func(format string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), format+"\n", a...) }
			case !quiet:
				// Not a terminal (a log file, CI, nohup): a line at the
				// end of a trial, at most every progressEvery, so that
				// a long study shows it is alive without flooding.
				th := &progressThrottle{every: progressEvery, now: time.Now}
				opt.Progress = func(p search.Progress) {
					if th.allow() || p.Done == p.Budget {
						writeProgress(out, p)
					}
				}
			}
			sum, err := search.Run(cmd.Context(), s, opt)
			if err != nil {
				return err
			}
			if sum.Status.Study != s.Name {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: its definition changed since study %s was run: ran it as study %s (--new)\n", s.File, s.Name, sum.Status.Study)
			}
			if err := sum.Status.Write(out); err != nil {
				return err
			}
			if len(sum.Holdout) > 0 && len(sum.RecipeHoldout) > 0 {
				fmt.Fprintf(out, "holdout mean accuracy: best trial %.4f, frozen recipe %.4f (over %d tasks)\n",
					search.MeanAccuracy(sum.Holdout), search.MeanAccuracy(sum.RecipeHoldout), len(sum.RecipeHoldout))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the study file (models, tasks, space, sampler, evaluator) and print its plan and first trial's merge YAML; merges, evaluates and records nothing")
	cmd.Flags().IntVar(&workers, "workers", 0, "workers in this process (0: the study's workers)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress lines")
	cmd.Flags().DurationVar(&progressEvery, "progress-every", 30*time.Second, "when stdout is not a terminal: a progress line when a trial ends, at most this often (0: every trial)")
	cmd.Flags().BoolVar(&asNew, "new", false, "when the study file's definition changed since its trials were recorded, run it as a new study NAME-2 (-3, …) beside the old one")
	cmd.Flags().BoolVar(&force, "force", false, "when the study file's definition changed, accept the change: the old trials stay in the study")
	return cmd
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressThrottle lets an event through when at least every has passed
// since the last one let through (the first always passes).
type progressThrottle struct {
	every time.Duration
	now   func() time.Time
	last  time.Time
	seen  bool
	mu    sync.Mutex
}

// allow reports whether to print now, and if so starts a new interval.
func (t *progressThrottle) allow() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.seen && now.Sub(t.last) < t.every {
		return false
	}
	t.seen, t.last = true, now
	return true
}

// writeProgress prints one line per finished trial.
func writeProgress(w io.Writer, p search.Progress) {
	obj := "-"
	if p.Trial.Objective != nil {
		obj = fmt.Sprintf("%.4f", *p.Trial.Objective)
	}
	best := "-"
	if p.Best != nil {
		best = fmt.Sprintf("%.4f (trial %d)", *p.Best.Objective, p.Best.Number)
	}
	line := fmt.Sprintf("trial %d/%d: #%d %s %s, best %s", p.Done, p.Budget, p.Trial.Number, p.Trial.State, obj, best)
	if p.ETA > 0 {
		line += fmt.Sprintf(", ETA %s", p.ETA.Round(time.Second))
	}
	if p.Trial.Failure != "" {
		line += ": " + p.Trial.Failure
	}
	fmt.Fprintln(w, line)
}

func newStudyStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status STUDY.yml",
		Short: "Show a study's trials, best so far, pruned and failed counts and ETA",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, st, err := loadStatus(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return st.Write(cmd.OutOrStdout())
		},
	}
}

func newStudyBestCmd() *cobra.Command {
	var force, replace bool
	var out, format, typ string
	cmd := &cobra.Command{
		Use:   "best STUDY.yml [--out OUT_DIR|OUT.gguf [--format safetensors|gguf] [--type T]]",
		Short: "Print the best trial's mergekit YAML, ready for mergetune merge, or export its model",
		Long: `Print the best trial's mergekit YAML, ready for mergetune merge. With
--out, merge the best trial again (with the study's seed, so the weights
are the trial's) and write the model to --out: a safetensors directory,
or with --format gguf (the default for a path ending in .gguf) one GGUF
file that Ollama serves, as mergetune merge writes them (--type: the
GGUF storage of the weight matrices, f32, f16, bf16 or q8_0).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, st, err := loadStatus(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if st.Changed != nil && !force {
				return st.Changed
			}
			if st.Best == nil {
				return fmt.Errorf("study %s: no complete trial yet", st.Study)
			}
			if out == "" {
				if format != "" || typ != "" {
					return fmt.Errorf("--format and --type need --out")
				}
				_, err = io.WriteString(cmd.OutOrStdout(), st.Best.MergeYAML)
				return err
			}
			if format == "" && strings.EqualFold(filepath.Ext(out), ".gguf") {
				format = merge.FormatGGUF
			}
			if _, err := os.Stat(out); err == nil && !replace {
				return fmt.Errorf("%s exists (use --replace to replace it)", out)
			}
			res, err := search.MergeTrial(cmd.Context(), s, *st.Best, out, merge.Options{
				Format: format, GGUFType: typ, Force: replace,
				Warn: func(msg string) { fmt.Fprintln(os.Stderr, "warning:", msg) },
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: trial %d (objective %.4f), %d tensors, %s, %.1fs\n",
				res.Dir, st.Best.Number, *st.Best.Objective, res.Tensors, humanBytes(res.Bytes), res.Elapsed.Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&force, "force", false, "use the recorded best trial even when the study file's definition changed since")
	f.StringVar(&out, "out", "", "write the best trial's merged model here instead of printing its YAML")
	f.StringVar(&format, "format", "", "model format with --out: safetensors or gguf (default gguf for a path ending in .gguf)")
	f.StringVar(&typ, "type", "", "GGUF storage of the weight matrices: f32, f16, bf16 or q8_0 (default: what Ollama's converter chooses)")
	f.BoolVar(&replace, "replace", false, "replace an existing --out")
	return cmd
}

func newStudyFreezeCmd() *cobra.Command {
	var out string
	var force bool
	var confirmItems, confirmTop int
	cmd := &cobra.Command{
		Use:   "freeze STUDY.yml --out RECIPE.yml",
		Short: "Freeze the best trial's settings into a recipe for more models",
		Long: `Write a recipe: the best trial's global settings, and for each per-model
parameter the value new models get (the tuned value when all models shared
it, else the mean over the tuned models). Use it with mergetune extend.

With --confirm N (or confirm: in the study file) the best --confirm-top
trials are first re-scored on N items per tune task (0: the whole tune
split), and the one with the best confirmed score is frozen; each one's
tune objective, confirmed score and gap are printed and recorded for the
report.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := study.Load(args[0])
			if err != nil {
				return err
			}
			ro := search.ReadOptions{Force: force}
			if cmd.Flags().Changed("confirm") || cmd.Flags().Changed("confirm-top") {
				c := study.Confirm{Top: confirmTop, Items: max(confirmItems, 0)}
				if s.Confirm != nil && !cmd.Flags().Changed("confirm-top") {
					c.Top = s.Confirm.Top
				}
				if s.Confirm != nil && !cmd.Flags().Changed("confirm") {
					c.Items = s.Confirm.Items
				}
				if c.Top < 1 || confirmItems < 0 {
					return fmt.Errorf("--confirm %d --confirm-top %d: want 0 (the whole tune split) or more items, and 1 or more trials", confirmItems, confirmTop)
				}
				ro.Confirm = &c
			}
			r, err := search.FreezeWith(cmd.Context(), s, ro)
			if err != nil {
				return err
			}
			if len(r.Confirmations) > 0 {
				writeConfirmations(cmd.OutOrStdout(), r.Confirmations)
			}
			data, err := r.Marshal()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return fmt.Errorf("--out %s: %w", out, err)
			}
			if err := os.WriteFile(out, data, 0o644); err != nil {
				return fmt.Errorf("--out %s: %w", out, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "froze trial %d of study %s (objective %.4f) into %s\n", r.Trial, r.Study, r.Objective, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "recipe file to write (required)")
	cmd.Flags().BoolVar(&force, "force", false, "freeze the recorded best trial even when the study file's definition changed since")
	cmd.Flags().IntVar(&confirmItems, "confirm", 0, "before freezing, re-score the best trials on N items per tune task (0: the whole tune split) and freeze the one that holds")
	cmd.Flags().IntVar(&confirmTop, "confirm-top", study.DefaultConfirmTop, "how many of the best trials --confirm re-scores")
	cmd.MarkFlagRequired("out")
	return cmd
}

// writeConfirmations prints the trials re-scored before freezing.
func writeConfirmations(w io.Writer, cs []results.Confirmation) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TRIAL\tTUNE RANK\tTUNE\tCONFIRMED\tGAP\tITEMS\tFROZEN")
	for _, c := range cs {
		frozen := ""
		if c.Chosen {
			frozen = "yes"
		}
		fmt.Fprintf(tw, "%d\t%d\t%.4f\t%.4f\t%+.4f\t%d\t%s\n", c.Trial, c.TuneRank, c.Tune, c.Confirm, c.Gap(), c.Items, frozen)
	}
	tw.Flush()
}

// loadStatus reads a study file and its trials' status.
func loadStatus(ctx context.Context, path string) (*study.Study, *search.Status, error) {
	s, err := study.Load(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := search.ReadStatus(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	return s, st, nil
}

// writeStudyPlan prints what running a study would do (study run
// --dry-run): its search, models, tasks, space and budget, and the first
// trial's merge configuration.
func writeStudyPlan(w io.Writer, s *study.Study) error {
	fmt.Fprintf(w, "study %s (%s): search %s, method %s, %d trials, sampler %s, pruner %s, evaluator %s, %d workers\n",
		s.Name, s.File, s.Search, strings.Join(s.Methods, ", "), s.Trials, s.Sampler, s.Pruner, s.Evaluator, s.Workers)
	fmt.Fprintf(w, "base model %s\n", s.BaseModel)
	for _, m := range s.Models {
		fmt.Fprintf(w, "model %s: %s (tasks %s)\n", m.Name, m.Path, strings.Join(m.Tasks, ", "))
	}
	for _, set := range []struct {
		what  string
		tasks []*datasets.Task
	}{{"tune", s.Tune}, {"holdout", s.Holdout}} {
		for _, t := range set.tasks {
			fmt.Fprintf(w, "%s task %s: %d items\n", set.what, t.Name, len(t.Items))
		}
	}
	fmt.Fprintf(w, "objective %s\n", s.Objective)
	for _, p := range s.Space {
		rng := fmt.Sprintf("[%g, %g]", p.Low, p.High)
		switch {
		case p.Type == "choice":
			rng = "{" + strings.Join(p.Choices, ", ") + "}"
		case p.Step > 0:
			rng += fmt.Sprintf(" step %g", p.Step)
		case p.Log:
			rng += " log"
		}
		start := ""
		if p.Start != nil {
			start = fmt.Sprintf(", start %g", *p.Start)
		}
		fmt.Fprintf(w, "space %s: %s %s, scope %s%s\n", p.Name, p.Type, rng, p.Scope, start)
	}
	if s.Search == study.SearchGreedySoup {
		fmt.Fprintf(w, "greedy soup: %d steps; the order (each model's own tune score, best first) is known once the baselines are scored\n", len(s.Models))
		return nil
	}
	a, err := s.FirstAssignment()
	if err != nil {
		return fmt.Errorf("%s: first trial: %w", s.File, err)
	}
	cfg, err := s.MergeConfig(a, s.Name+"-trial-0.yml", fmt.Sprintf("study %s, first trial (dry run)", s.Name))
	if err != nil {
		return fmt.Errorf("%s: first trial: %w", s.File, err)
	}
	fmt.Fprintf(w, "first trial:\n%s", cfg.Raw)
	return nil
}
