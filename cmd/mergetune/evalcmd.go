package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search"
)

// evalFlags are the settings of `mergetune eval`.
type evalFlags struct {
	evaluatorFlags
	model, tasks, db, data, logSamples string
	limit                              int
	quiet, dryRun, compare             bool
}

// evalParallel is mergetune eval's default of requests in flight: above
// eval.DefaultParallel, since eval scores one model at a time on a server
// the user sized for it, where a study or extend share the server between
// workers and candidates.
const evalParallel = 4

func newEvalCmd() *cobra.Command {
	var f evalFlags
	cmd := &cobra.Command{
		Use:   "eval --model DIR --tasks FILE.yml | eval --compare DIR_A DIR_B --tasks FILE.yml",
		Short: "Score a model on a task set and record every item",
		Long: `Score a model directory (config.json, tokenizer, safetensors) on the tasks of a
task file, print each task's accuracy with its 95% Wilson score interval,
and record the scores and every item's outcome (prompt, target, answer,
verdict) in the results database. Answers are cached by the model's
content digest, so evaluating the same weights again costs nothing.

--log-samples FILE.jsonl also writes one JSON record per item (task, item,
prompt as sent, target, choices, response, extracted answer, verdict,
cached). --dry-run prints the rendered prompts and targets without a model.
--compare DIR_A DIR_B scores two models on the same items and prints both
accuracies, their difference with its 95% interval (Newcombe's paired
score interval) and McNemar's exact p-value.

An item longer than the model's context is truncated from the left with a
warning, or skipped and counted when its task says long_items: skip.

The backend is an Ollama server when --host (or --backend ollama) is given,
an OpenAI-compatible completions server (vLLM, llama.cpp's llama-server,
SGLang) when --base-url (or --backend openai) is, with --served-name the
name it serves --model under; else the built-in runner, which serves tiny
llama models in-process. Tasks scored by log-likelihood (scoring: acc,
acc_norm, acc_bytes) need the built-in runner or an OpenAI-compatible
server that echoes prompt log-probabilities (vLLM); on Ollama, Ollama's /v1
or llama-server they fail before their first item.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if f.compare {
				if len(args) != 2 {
					return fmt.Errorf("--compare takes two model directories, got %d arguments", len(args))
				}
				if f.model != "" {
					return fmt.Errorf("--compare takes the two models as arguments; drop --model %s", f.model)
				}
				return nil
			}
			return cobra.NoArgs(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case f.dryRun:
				return runDryRun(cmd.OutOrStdout(), f)
			case f.compare:
				return runCompare(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f, args[0], args[1])
			case f.model == "":
				return errors.New(`required flag(s) "model" not set`)
			}
			return runEval(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "model directory to evaluate (required)")
	fl.StringVar(&f.tasks, "tasks", "", "task files, task-set files or built-in tasks, comma-separated (required): x.yml, x.yml@tune (a part of a split file), gsm8k, arc_easy, toy:<task>; mergetune tasks lists the built-ins")
	fl.StringVar(&f.db, "db", "mergetune.db", "results database (SQLite)")
	fl.StringVar(&f.data, "data", "", "directory of your own copies of the public benchmark files for the built-in tasks gsm8k, arc_easy, … (default: the copies built into mergetune)")
	fl.IntVar(&f.limit, "limit", 0, "score at most this many items per task (0: all)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress bar")
	fl.StringVar(&f.logSamples, "log-samples", "", "also write one JSON record per item to this file (JSON lines; with --compare, model A's then B's)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print each item's rendered prompt and target; needs no model")
	fl.BoolVar(&f.compare, "compare", false, "score the two model directories given as arguments on the same items and compare them (paired)")
	addEvaluatorFlags(fl, &f.evaluatorFlags, evalParallel)
	cmd.MarkFlagRequired("tasks")
	return cmd
}

// runEval scores one model; warnings (items longer than the context) go to
// errOut.
func runEval(ctx context.Context, out, errOut io.Writer, f evalFlags) error {
	tasks, err := loadTasks(f.tasks, f.data)
	if err != nil {
		return err
	}
	s, err := openEvalSession(ctx, f, errOut)
	if err != nil {
		return err
	}
	defer s.close()
	e, err := s.evaluate(ctx, f.model, tasks)
	if err != nil {
		return err
	}
	if f.logSamples != "" {
		if err := eval.WriteSamplesFile(f.logSamples, eval.Samples(f.model, e.digest, e.res)); err != nil {
			return err
		}
	}
	printScores(out, e.res)
	fmt.Fprintf(out, "\nmodel %s (%s), run %d recorded in %s\n", f.model, e.digest, e.runID, f.db)
	if f.logSamples != "" {
		fmt.Fprintf(out, "item records written to %s\n", f.logSamples)
	}
	return nil
}

// runCompare scores models a and b on the same tasks and prints a paired
// comparison of each task.
func runCompare(ctx context.Context, out, errOut io.Writer, f evalFlags, a, b string) error {
	tasks, err := loadTasks(f.tasks, f.data)
	if err != nil {
		return err
	}
	s, err := openEvalSession(ctx, f, errOut)
	if err != nil {
		return err
	}
	defer s.close()
	ea, err := s.evaluate(ctx, a, tasks)
	if err != nil {
		return err
	}
	eb, err := s.evaluate(ctx, b, tasks)
	if err != nil {
		return err
	}
	if f.logSamples != "" {
		samples := append(eval.Samples(a, ea.digest, ea.res), eval.Samples(b, eb.digest, eb.res)...)
		if err := eval.WriteSamplesFile(f.logSamples, samples); err != nil {
			return err
		}
	}
	cmps := make([]eval.Comparison, len(tasks))
	for i := range tasks {
		if cmps[i], err = eval.Compare(ea.res[i], eb.res[i]); err != nil {
			return err
		}
	}
	printComparison(out, a, b, cmps)
	fmt.Fprintf(out, "\nA %s (%s), run %d; B %s (%s), run %d; recorded in %s\n", a, ea.digest, ea.runID, b, eb.digest, eb.runID, f.db)
	return nil
}

// runDryRun prints every item's rendered prompt and target, as they would
// be sent, without a model or a database.
func runDryRun(out io.Writer, f evalFlags) error {
	tasks, err := loadTasks(f.tasks, f.data)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	for _, t := range tasks {
		items := t.Items
		if f.limit > 0 && f.limit < len(items) {
			items = items[:f.limit]
		}
		for _, it := range items {
			fmt.Fprintf(w, "=== task %s (%s) item %s, target %q\n%s\n\n", t.Name, t.Split, it.ID, it.Target, it.Prompt)
		}
	}
	return w.Flush()
}

// evalSession is an open backend and results database.
type evalSession struct {
	f       evalFlags
	backend eval.Backend
	host    string
	db      *results.DB
	errOut  io.Writer // warnings
}

// openEvalSession opens the backend (probing an Ollama server) and the
// results database the flags name.
func openEvalSession(ctx context.Context, f evalFlags, errOut io.Writer) (*evalSession, error) {
	// Before any work: a server that does not answer fails in seconds.
	backend, host, err := f.open(ctx, backends.All(), importProgress(f.quiet))
	if err != nil {
		return nil, err
	}
	if dir := filepath.Dir(f.db); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	db, err := results.Open(ctx, f.db)
	if err != nil {
		return nil, err
	}
	return &evalSession{f: f, backend: backend, host: host, db: db, errOut: errOut}, nil
}

func (s *evalSession) close() { s.db.Close() }

// evaluated is one model's recorded evaluation.
type evaluated struct {
	res    []*eval.TaskResult
	digest string
	runID  int64
}

// evaluate scores the model in dir on tasks and records the run.
func (s *evalSession) evaluate(ctx context.Context, dir string, tasks []*datasets.Task) (evaluated, error) {
	f := s.f
	// As a study's baselines open their models: for Ollama, written as a
	// GGUF by the merge engine rather than by Ollama's converter.
	m, cleanup, err := search.OpenModel(ctx, dir, "", s.backend)
	if err != nil {
		return evaluated{}, fmt.Errorf("open %s: %w", dir, err)
	}
	defer cleanup()
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
			Parallel: f.parallel, Limit: f.limit, Cache: eval.DBCache{DB: s.db},
			Progress: func(d, _ int) {
				if bar != nil {
					bar.Describe("evaluating " + t.Name)
					bar.Set(base + d)
				}
			},
			Warn: func(msg string) {
				if bar != nil {
					bar.Clear()
				}
				fmt.Fprintln(s.errOut, "warning:", msg)
			},
		})
		if err != nil {
			return evaluated{}, err
		}
		done += len(r.Items)
		res = append(res, r)
	}
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
	runID, err := eval.Record(ctx, s.db, m, dir, s.host, res, nil)
	if err != nil {
		return evaluated{}, err
	}
	return evaluated{res: res, digest: m.Digest(), runID: runID}, nil
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

// loadTaskRef reads one entry of --tasks (datasets.Resolve).
func loadTaskRef(ref, dataDir string) ([]*datasets.Task, error) {
	ts, err := datasets.Resolve(ref, "", dataDir, 0)
	if err != nil {
		return nil, fmt.Errorf("--tasks %s: %w", ref, err)
	}
	return ts, nil
}

// printScores prints one row per task: accuracy with its interval, and the
// items truncated and skipped for their length.
func printScores(out io.Writer, res []*eval.TaskResult) {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "task\tsplit\titems\taccuracy\t95% CI\tinvalid\ttruncated\tskipped\tcached")
	for _, r := range res {
		cached := 0
		for _, it := range r.Items {
			if it.Cached {
				cached++
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%.3f\t[%.3f, %.3f]\t%d\t%d\t%d\t%d\n", r.Task, r.Split, r.N, r.Accuracy, r.CI95[0], r.CI95[1],
			r.Invalid, r.Truncated, r.Skipped, cached)
	}
	w.Flush()
}

// printComparison prints one row per task: both accuracies on the paired
// items, the difference A − B with its 95% interval, the discordant items
// and McNemar's exact p-value.
func printComparison(out io.Writer, a, b string, cmps []eval.Comparison) {
	fmt.Fprintf(out, "A: %s\nB: %s\n\n", a, b)
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "task\titems\tA\tB\tA − B\t95% CI\tonly A\tonly B\tp (McNemar)")
	for _, c := range cmps {
		fmt.Fprintf(w, "%s\t%d\t%.3f\t%.3f\t%+.3f\t[%+.3f, %+.3f]\t%d\t%d\t%.3g\n", c.Task, c.N, c.AccA, c.AccB, c.Diff,
			c.DiffCI95[0], c.DiffCI95[1], c.OnlyA, c.OnlyB, c.P)
	}
	w.Flush()
}
