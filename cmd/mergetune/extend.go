package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search"
	"github.com/mergetune/mergetune/search/study"
)

// extendFlags are the settings of `mergetune extend`.
type extendFlags struct {
	evaluatorFlags
	models, tasks, db, out, work string
	refitTasks                   string
	limit                        int
	compare                      bool
	subsets, refitTrials         int
	seed                         uint64
	rules                        string
}

func newExtendCmd() *cobra.Command {
	var f extendFlags
	cmd := &cobra.Command{
		Use:   "extend RECIPE.yml --models DIR,DIR,... --tasks TASK,TASK,...",
		Short: "Merge 2, 4, 8, … models with a frozen recipe and record the score curve",
		Long: `Merge 2, 4, 8, … of --models (and all of them) with a recipe from
"mergetune study freeze", evaluate each merge on the tasks of the models merged,
and print and record the curve of mean and normalized accuracy against the
number of merged models. --tasks lists one task per model, in the same order
(toy:<task>, or a task file).

The protocol is the Model Breadcrumbs paper's: with --subsets K, each size
merges K random subsets of the task models (seeded by the recipe's study and
trial and --seed: the same subsets on every run; one subset at the full size),
and the curve gives each subset's point and their mean with a 95% interval
across subsets (Student's t); every point also has the items' 95% interval
(its tasks' items taken as independent samples). --subsets 1 (the
default) merges the first k models in the given order.

--rules puts scale rules side by side (default: the recipe's own, "scale:";
fixed when it has none): fixed (the tuned λ/weights), mean (scaled by k/N, k
the models tuned on), sqrt (by √(k/N)), refit (re-tune only the scale at each
size and subset, --refit-trials merges, seeded). refit picks its factor on
--refit-tasks (one per model, say each task's tune split: toy:<task>@tune),
then merges that factor again and scores it on --tasks; without them it picks
on the items it is scored on, so its score is optimistic). Each rule's cost (merges, items
evaluated, seconds) is printed. Every point (size × rule × subset, and the
aggregates) is stored in the database's extension curve, which "mergetune
report" shows; every evaluation is recorded too.

The models are evaluated as by "mergetune eval", with the same evaluator
flags: the built-in runner by default, an Ollama server with --host (or
--backend ollama), an OpenAI-compatible server with --base-url and
--served-name (or --backend openai).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := search.LoadRecipe(args[0])
			if err != nil {
				return err
			}
			var rules []search.ScaleRule
			if f.rules != "" {
				if rules, err = search.ParseScaleRules(f.rules); err != nil {
					return fmt.Errorf("--rules: %w", err)
				}
			}
			if f.subsets < 0 || f.refitTrials < 0 {
				return fmt.Errorf("--subsets %d, --refit-trials %d: want ≥ 0", f.subsets, f.refitTrials)
			}
			paths := search.ParseModelList(f.models)
			specs := search.ParseModelList(f.tasks)
			if len(paths) == 0 {
				return fmt.Errorf("--models: no models")
			}
			if len(specs) != len(paths) {
				return fmt.Errorf("--tasks: %d tasks for %d models; give one task per model", len(specs), len(paths))
			}
			sel := search.ParseModelList(f.refitTasks)
			if len(sel) != 0 && len(sel) != len(paths) {
				return fmt.Errorf("--refit-tasks: %d tasks for %d models; give one task per model", len(sel), len(paths))
			}
			var models []search.ExtendModel
			for i, p := range paths {
				ts, err := study.LoadTasks(specs[i], ".", f.limit)
				if err != nil {
					return fmt.Errorf("--tasks %s: %w", specs[i], err)
				}
				abs, err := filepath.Abs(p)
				if err != nil {
					return fmt.Errorf("--models %s: %w", p, err)
				}
				m := search.ExtendModel{Path: abs, Tasks: ts}
				if len(sel) != 0 {
					if m.Select, err = study.LoadTasks(sel[i], ".", f.limit); err != nil {
						return fmt.Errorf("--refit-tasks %s: %w", sel[i], err)
					}
				}
				models = append(models, m)
			}
			// Before any work: a server that does not answer fails in
			// seconds.
			backend, host, err := f.open(cmd.Context(), backends.All(), nil)
			if err != nil {
				return err
			}
			dbPath := f.db
			if dbPath == "" {
				// the recipe's study storage; a PostgreSQL DSN is stored
				// without its password, so it needs --db to be reused
				dbPath = r.Storage
				if dbPath == "" || study.IsPostgres(dbPath) {
					dbPath = "mergetune.db"
				}
			}
			db, err := results.Open(cmd.Context(), dbPath)
			if err != nil {
				return fmt.Errorf("--db %s: %w", dbPath, err)
			}
			defer db.Close()
			work := f.work
			if work == "" {
				if work, err = os.MkdirTemp("", "mergetune-extend-"); err != nil {
					return err
				}
				defer os.RemoveAll(work)
			}
			curve, err := search.Extend(cmd.Context(), r, models, search.ExtendOptions{
				DB: db, WorkDir: work, Compare: f.compare, Parallel: f.parallel, Backend: backend, Host: host,
				Rules: rules, Subsets: f.subsets, Seed: f.seed, RefitTrials: f.refitTrials,
			})
			if err != nil {
				return err
			}
			name := r.Study
			if name == "" {
				name = filepath.Base(args[0])
			}
			if err := db.PutCurve(cmd.Context(), search.CurveRecords(name, r.Method, curve)); err != nil {
				return fmt.Errorf("--db %s: %w", dbPath, err)
			}
			if err := printCurve(cmd.OutOrStdout(), curve); err != nil {
				return err
			}
			if f.out != "" {
				fh, err := os.Create(f.out)
				if err != nil {
					return fmt.Errorf("--out %s: %w", f.out, err)
				}
				if err := search.WriteCurveCSV(fh, curve); err != nil {
					fh.Close()
					return fmt.Errorf("--out %s: %w", f.out, err)
				}
				if err := fh.Close(); err != nil {
					return fmt.Errorf("--out %s: %w", f.out, err)
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.models, "models", "", "comma-separated model directories, in merge order (required)")
	fl.StringVar(&f.tasks, "tasks", "", "comma-separated tasks, one per model (required)")
	fl.StringVar(&f.db, "db", "", "results database: a SQLite path or a postgres:// DSN (default: the recipe's SQLite study storage, else mergetune.db)")
	fl.StringVar(&f.out, "out", "", "also write the curve as CSV to this file")
	fl.StringVar(&f.work, "work", "", "directory for the merged models (default: a temporary one)")
	fl.IntVar(&f.limit, "limit", 0, "score at most this many items per task (0: all)")
	fl.BoolVar(&f.compare, "compare", false, "also merge task arithmetic (lambda 0.3) and TIES (density 0.5) at each size")
	fl.IntVar(&f.subsets, "subsets", 1, "random subsets of the task models per size (1: the first k models, in order)")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the subsets, refit's draws and random merge methods (with the recipe's study and trial)")
	fl.StringVar(&f.rules, "rules", "", "comma-separated scale rules side by side: "+strings.Join(search.ScaleRuleNames(), ", ")+" (default: the recipe's scale, else fixed)")
	fl.IntVar(&f.refitTrials, "refit-trials", search.DefaultRefitTrials, "the refit rule's merges per size and subset")
	fl.StringVar(&f.refitTasks, "refit-tasks", "", "comma-separated tasks, one per model, the refit rule chooses its factor on, e.g. each task's tune split (default: the --tasks themselves, which flatters the chosen factor)")
	addEvaluatorFlags(fl, &f.evaluatorFlags, eval.DefaultParallel)
	cmd.MarkFlagRequired("models")
	cmd.MarkFlagRequired("tasks")
	return cmd
}

// printCurve prints the curve's aggregates (each subset's points too with
// more than one subset) and each rule's evaluation cost.
func printCurve(w io.Writer, curve []search.CurvePoint) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODELS\tMETHOD\tRULE\tSUBSET\tFACTOR\tTASKS\tMEAN\tNORMALIZED\t95% SUBSETS\t95% ITEMS\tMERGES\tITEMS\tMERGE\tEVAL")
	type cost struct {
		merges, items int
		secs          float64
	}
	costs := map[string]*cost{}
	var order []string
	for _, p := range curve {
		if p.Subset != 0 && p.Subsets < 2 {
			continue
		}
		sub := strconv.Itoa(p.Subset)
		if p.Subset == 0 {
			sub = fmt.Sprintf("mean of %d", p.Subsets)
			key := p.Method + " " + p.Rule
			if costs[key] == nil {
				costs[key] = &cost{}
				order = append(order, key)
			}
			c := costs[key]
			c.merges, c.items, c.secs = c.merges+p.Merges, c.items+p.Items, c.secs+(p.MergeTime+p.EvalTime).Seconds()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.3g\t%d\t%.4f\t%.4f\t[%.4f, %.4f]\t[%.4f, %.4f]\t%d\t%d\t%.2fs\t%.2fs\n", p.Models, p.Method,
			p.Rule, sub, p.Factor, p.Tasks, p.Mean, p.Normalized, p.SubsetLo, p.SubsetHi, p.ItemLo, p.ItemHi, p.Merges, p.Items,
			p.MergeTime.Seconds(), p.EvalTime.Seconds())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nevaluation cost by rule (all sizes and subsets):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "METHOD RULE\tMERGES\tITEMS\tSECONDS")
	for _, k := range order {
		c := costs[k]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\n", k, c.merges, c.items, c.secs)
	}
	return tw.Flush()
}
