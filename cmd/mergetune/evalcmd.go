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

	"github.com/spf13/cobra"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/ollama"
	"github.com/mergetune/mergetune/eval/runner"
	"github.com/mergetune/mergetune/results"
)

// evalFlags are the settings of `mergetune eval`.
type evalFlags struct {
	model, tasks, host, backend, db, quantize, data, timeouts string
	parallel, limit, numCtx                                   int
	quiet                                                     bool
}

func newEvalCmd() *cobra.Command {
	var f evalFlags
	cmd := &cobra.Command{
		Use:   "eval --model DIR --tasks FILE.yml",
		Short: "Score a model on a task set and record every item",
		Long: `Score a model directory (config.json, tokenizer, safetensors) on the tasks of a
task file, print each task's accuracy with its 95% bootstrap interval, and
record the scores and every item's outcome in the results database. Answers
are cached by the model's content digest, so evaluating the same weights
again costs nothing.

The backend is an Ollama server when --host (or --backend ollama) is given,
else the built-in runner, which serves tiny llama models in-process.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEval(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "model directory to evaluate (required)")
	fl.StringVar(&f.tasks, "tasks", "", "task files, task-set files or built-in tasks, comma-separated (required): x.yml, x.yml@tune (a part of a split file), gsm8k, arc_easy, toy:<task>; mergetune tasks lists the built-ins")
	fl.StringVar(&f.host, "host", "", "Ollama server address (default: OLLAMA_HOST when --backend ollama)")
	fl.StringVar(&f.backend, "backend", "auto", "auto (ollama when --host is set, else builtin), builtin or ollama")
	fl.StringVar(&f.db, "db", "mergetune.db", "results database (SQLite)")
	fl.StringVar(&f.data, "data", "", "directory of your own copies of the public benchmark files for the built-in tasks gsm8k, arc_easy, … (default: the copies built into mergetune)")
	fl.StringVar(&f.timeouts, "timeouts", "", "Ollama: time limits, e.g. probe=5s,request=1m,token=500ms,import=10m (health probe; per request: request + token × tokens asked; upload/create/load); unset keys keep these defaults, none means no limit")
	fl.StringVar(&f.quantize, "quantize", "", "Ollama: quantize on import (q8_0, q4_K_M)")
	fl.IntVar(&f.parallel, "parallel", 4, "requests in flight at once (match the server's OLLAMA_NUM_PARALLEL)")
	fl.IntVar(&f.limit, "limit", 0, "score at most this many items per task (0: all)")
	fl.IntVar(&f.numCtx, "num-ctx", 0, "Ollama: context size of every request (0: the backend default)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress bar")
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("tasks")
	return cmd
}

// openBackend picks the evaluation backend the flags ask for.
func openBackend(f evalFlags) (eval.Backend, string, error) {
	timeouts, err := ollama.ParseTimeouts(f.timeouts)
	if err != nil {
		return nil, "", fmt.Errorf("--timeouts: %w", err)
	}
	kind := f.backend
	if kind == "auto" {
		kind = "builtin"
		if f.host != "" {
			kind = "ollama"
		}
	}
	switch kind {
	case "builtin":
		return runner.New(runner.Options{}), "builtin", nil
	case "ollama":
		opt := ollama.Options{Host: f.host, Parallel: f.parallel, Quantize: f.quantize, NumCtx: f.numCtx, Timeouts: timeouts}
		if bar := newBar(f.quiet, "importing"); bar != nil {
			opt.Progress = func(p ollama.ImportProgress) {
				bar.Describe("importing: " + p.Stage)
				if p.Total > 0 {
					bar.ChangeMax64(p.Total)
					bar.Set64(p.Done)
				}
				if p.Stage == "load" {
					bar.Finish()
					fmt.Fprintln(os.Stderr)
				}
			}
		}
		b, err := ollama.New(opt)
		if err != nil {
			return nil, "", err
		}
		return b, b.Host(), nil
	}
	return nil, "", fmt.Errorf("--backend: unknown backend %q (want auto, builtin or ollama)", f.backend)
}

func runEval(ctx context.Context, out io.Writer, f evalFlags) error {
	tasks, err := loadTasks(f.tasks, f.data)
	if err != nil {
		return err
	}
	backend, host, err := openBackend(f)
	if err != nil {
		return err
	}
	if ob, ok := backend.(*ollama.Backend); ok {
		// Before any work: a host that does not answer fails in seconds.
		if _, err := ob.Probe(ctx); err != nil {
			return err
		}
	}
	if dir := filepath.Dir(f.db); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	db, err := results.Open(ctx, f.db)
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := backend.Open(ctx, f.model)
	if err != nil {
		return fmt.Errorf("open %s: %w", f.model, err)
	}
	defer m.Close()
	total := 0
	for _, t := range tasks {
		n := len(t.Items)
		if f.limit > 0 {
			n = min(n, f.limit)
		}
		total += n
	}
	bar := newBar(f.quiet, "evaluating")
	if bar != nil {
		bar.ChangeMax(total)
	}
	var res []*eval.TaskResult
	done := 0
	for _, t := range tasks {
		base := done
		r, err := eval.Evaluate(ctx, m, t, eval.Options{
			Parallel: f.parallel, Limit: f.limit, Cache: eval.DBCache{DB: db},
			Progress: func(d, _ int) {
				if bar != nil {
					bar.Describe("evaluating " + t.Name)
					bar.Set(base + d)
				}
			},
		})
		if err != nil {
			return err
		}
		done += r.N
		res = append(res, r)
	}
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
	runID, err := eval.Record(ctx, db, m, f.model, host, res, nil)
	if err != nil {
		return err
	}
	printScores(out, res)
	fmt.Fprintf(out, "\nmodel %s (%s), run %d recorded in %s\n", f.model, m.Digest(), runID, f.db)
	return nil
}

// loadTasks reads the --tasks list: comma-separated task files, task-set
// files (x.yml@tune for a part of a split file) or built-in task names,
// read from dataDir when it is given. Task names must be unique across the
// list.
func loadTasks(spec, dataDir string) ([]*datasets.Task, error) {
	var tasks []*datasets.Task
	from := map[string]string{}
	for _, ref := range strings.Split(spec, ",") {
		ref = strings.TrimSpace(ref)
		if ref == "" {
			return nil, fmt.Errorf("--tasks %q: an empty entry", spec)
		}
		ts, err := loadTaskRef(ref, dataDir)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if prev, dup := from[t.Name]; dup {
				return nil, fmt.Errorf("--tasks: task %s is listed twice (%s and %s)", t.Name, prev, ref)
			}
			from[t.Name] = ref
			tasks = append(tasks, t)
		}
	}
	return tasks, nil
}

// loadTaskRef reads one entry of --tasks.
func loadTaskRef(ref, dataDir string) ([]*datasets.Task, error) {
	if path, _ := datasets.CutPart(ref); fileExists(path) {
		return datasets.LoadAll(ref)
	}
	if strings.HasPrefix(ref, "toy:") || slices.Contains(datasets.BuiltinNames(), ref) {
		t, err := datasets.Builtin(ref, dataDir, 0)
		if err != nil {
			return nil, fmt.Errorf("--tasks %s: %w", ref, err)
		}
		return []*datasets.Task{t}, nil
	}
	return nil, fmt.Errorf("--tasks %s: no such task file, and no built-in task of that name (built-ins: %s, toy:<task>[@tune]; mergetune tasks lists them with an example each)", ref, strings.Join(datasets.BuiltinNames(), ", "))
}

// fileExists reports whether path names something on disk.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// printScores prints one row per task: accuracy with its interval.
func printScores(out io.Writer, res []*eval.TaskResult) {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "task\tsplit\titems\taccuracy\t95% CI\tinvalid\tcached")
	for _, r := range res {
		cached := 0
		for _, it := range r.Items {
			if it.Cached {
				cached++
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%.3f\t[%.3f, %.3f]\t%d\t%d\n", r.Task, r.Split, r.N, r.Accuracy, r.CI95[0], r.CI95[1], r.Invalid, cached)
	}
	w.Flush()
}
