package main

import (
	"fmt"
	"os"
	"path/filepath"
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
	limit                        int
	compare                      bool
}

func newExtendCmd() *cobra.Command {
	var f extendFlags
	cmd := &cobra.Command{
		Use:   "extend RECIPE.yml --models DIR,DIR,... --tasks TASK,TASK,...",
		Short: "Merge 2, 4, 8, … models with a frozen recipe and record the score curve",
		Long: `Merge the first 2, 4, 8, … of --models (and all of them) with a recipe from
"mergetune study freeze", evaluate each merge on the tasks of the models merged
so far, and print the curve of mean and normalized accuracy against the number
of merged models. --tasks lists one task per model, in the same order
(toy:<task>, or a task file). Every evaluation is recorded in the database.

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
			paths := search.ParseModelList(f.models)
			specs := search.ParseModelList(f.tasks)
			if len(paths) == 0 {
				return fmt.Errorf("--models: no models")
			}
			if len(specs) != len(paths) {
				return fmt.Errorf("--tasks: %d tasks for %d models; give one task per model", len(specs), len(paths))
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
				models = append(models, search.ExtendModel{Path: abs, Tasks: ts})
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
			})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "MODELS\tMETHOD\tTASKS\tMEAN\tNORMALIZED\tMERGE\tEVAL")
			for _, p := range curve {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%.4f\t%.4f\t%.2fs\t%.2fs\n", p.Models, p.Method, p.Tasks, p.Mean, p.Normalized, p.MergeTime.Seconds(), p.EvalTime.Seconds())
			}
			if err := tw.Flush(); err != nil {
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
	addEvaluatorFlags(fl, &f.evaluatorFlags, eval.DefaultParallel)
	cmd.MarkFlagRequired("models")
	cmd.MarkFlagRequired("tasks")
	return cmd
}
