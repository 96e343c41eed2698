package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/datasets/toy"
	"github.com/mergetune/mergetune/datasets/toy/family"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/report"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search"
	"github.com/mergetune/mergetune/search/optim"
	"github.com/mergetune/mergetune/search/study"
)

// DemoBaselines is the name the demo records its matrix of baselines
// (the base model and every fine-tune on every task) under in
// mt_baselines; it is not a study.
const DemoBaselines = "demo-baselines"

// demoOrder are the tasks the demo takes first; the family's other tasks
// follow, in its default extension order. The first demoSizes().Tune of
// them are tuned on.
var demoOrder = [...]string{"swapcase", "rot1", "succ", "rotleft"}

// demoTasks are the family's tasks in the demo's order: demoOrder first,
// then the others in the family's default extension order (toy.Unopposed:
// the second task of each opposed pair left out).
func demoTasks() []string {
	tasks := slices.Clone(demoOrder[:])
	for _, t := range toy.Unopposed() {
		if !slices.Contains(tasks, t.Name) {
			tasks = append(tasks, t.Name)
		}
	}
	return tasks
}

// familyStudy is a study of one merge method on tasks of the tiny family:
// each task's fine-tune as a task model, tuned on the task's tune split
// (limit items), objective normalized accuracy.
type familyStudy struct {
	name, family string
	method       demoMethod
	tasks        []string
	holdout      bool // score the winner on each task's test split
	limit        int
	trials       int
	workers      int
	keep         int            // keep_best
	sampler      map[string]any // sampler: {type, seed}
	evaluator    any
	confirm      *study.FileConfirm
	storage      string
	workDir      string
}

// write writes the study file to path (a temporary sibling renamed into
// place), header first.
func (sp familyStudy) write(path, header string) error {
	keep := sp.keep
	f := study.File{
		Name: sp.name, BaseModel: filepath.Join(sp.family, family.Base), Parameters: sp.method.fixed,
		Dtype: "bfloat16", Limit: sp.limit, Trials: sp.trials, Workers: sp.workers,
		Storage: sp.storage, WorkDir: sp.workDir, KeepBest: &keep, Confirm: sp.confirm,
	}
	for _, n := range []struct {
		node *yaml.Node
		v    any
	}{
		{&f.Method, sp.method.name}, {&f.Space, sp.method.space}, {&f.Objective, study.ObjectiveNormalized},
		{&f.Sampler, sp.sampler}, {&f.Evaluator, sp.evaluator},
	} {
		if err := n.node.Encode(n.v); err != nil {
			return fmt.Errorf("study %s: %w", sp.name, err)
		}
	}
	for _, t := range sp.tasks {
		f.Models = append(f.Models, study.FileModel{Model: filepath.Join(sp.family, t), Tasks: []string{t}})
		f.Tasks = append(f.Tasks, "toy:"+t+"@tune")
		if sp.holdout {
			f.Holdout = append(f.Holdout, "toy:"+t)
		}
	}
	data, err := yaml.Marshal(f)
	if err != nil {
		return fmt.Errorf("study %s: %w", sp.name, err)
	}
	if err := writeFileAtomic(path, append([]byte(header), data...)); err != nil {
		return fmt.Errorf("study %s: %w", sp.name, err)
	}
	return nil
}

// writeFileAtomic writes data to a temporary sibling of path and renames
// it into place.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// demoSizing is how many task models the demo tunes on, and the larger
// sizes it extends the frozen settings to and (--full) re-tunes at.
type demoSizing struct {
	Tune   int
	Retune []int // ascending, each above Tune; the largest is the last size extended to
}

// demoSizes are the demo's default sizes (--tune, --extend): tune on 10
// task models, extend to 20 and 40, as "tune on ~10 tasks, reuse on many"
// asks.
func demoSizes() demoSizing { return demoSizing{Tune: 10, Retune: []int{20, 40}} }

// parseDemoSizing reads --tune and --extend.
func parseDemoSizing(tune int, extend string) (demoSizing, error) {
	z := demoSizing{Tune: tune}
	if tune < 1 {
		return z, fmt.Errorf("--tune %d: want at least 1 task", tune)
	}
	for _, f := range search.ParseModelList(extend) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= tune || (len(z.Retune) > 0 && n <= z.Retune[len(z.Retune)-1]) {
			return z, fmt.Errorf("--extend %q: value %q: want ascending numbers of tasks above --tune %d", extend, f, tune)
		}
		z.Retune = append(z.Retune, n)
	}
	if len(z.Retune) == 0 {
		return z, fmt.Errorf("--extend %q: want at least one number of tasks above --tune %d", extend, tune)
	}
	return z, nil
}

// largest is the most task models the demo merges.
func (z demoSizing) largest() int { return max(z.Tune, slices.Max(z.Retune)) }

// curve are the sizes the frozen settings are merged at: 2 and half the
// tuned size when below it (the curve's start), the tuned size and every
// extended size.
func (z demoSizing) curve() []int {
	out := []int{z.Tune}
	for _, n := range []int{2, z.Tune / 2} {
		if n >= 2 && n < z.Tune {
			out = append(out, n)
		}
	}
	out = append(out, z.Retune...)
	slices.Sort(out)
	return slices.Compact(out)
}

// String renders the sizes for help and progress lines: "10 → 20, 40".
func (z demoSizing) String() string {
	return fmt.Sprintf("%d → %s", z.Tune, joinInts(z.Retune, ", "))
}

// joinInts renders ns separated by sep: "20 and 40", "2, 5, 10".
func joinInts(ns []int, sep string) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, sep)
}

// demoFlags are the settings of `mergetune demo`.
type demoFlags struct {
	out, host, family string
	trials, limit     int
	workers           int
	full, quiet       bool
	tune              int    // task models tuned on (--tune)
	extend, rules     string // --extend sizes, --rules scale rules
}

func newDemoCmd() *cobra.Command {
	var f demoFlags
	z := demoSizes()
	retune := joinInts(z.Retune, " and ")
	cmd := &cobra.Command{
		Use:   "demo [--out DIR] [--host URL] [--trials N] [--tune K --extend N,M] [--rules R,...] [--full]",
		Short: "Run the whole story on the tiny model family and write a report",
		Long: fmt.Sprintf(`Run mergetune end to end on the tiny model family (a base model and
fine-tunes, one per toy task) built into the binary from datasets/toy/family;
it is extracted once into the user's cache directory (mergetune/family-HASH),
or into --out where there is none, and --family DIR runs on another copy:

  1. evaluate the baselines: the base model and every fine-tune on every task;
  2. tune Model Breadcrumbs (density, gamma, lambda, one shared weight) on %d
     tasks with TPE, objective normalized accuracy, then TIES (density,
     lambda) and task arithmetic (lambda) with the same trial budget;
  3. freeze each method's best settings and extend them to %s task
     models under each scale rule (--rules: fixed keeps the tuned λ, mean
     scales it by k/N, sqrt by √(k/N), refit re-tunes only that scale on
     the tasks' tune split); with --full, also re-tune each method at %s
     tasks with the same budget, to measure frozen against re-tuned
     settings;
  4. score every winner on the holdout tasks, judge at each size with a
     re-tuned optimum whether transfer holds for each rule (the frozen
     settings keep at least %.0f%% of it, or their 95%% intervals overlap),
     write report.html and print where it is.

--tune K and --extend N,M change the sizes (the family has 48 tasks; its
default extension order, the second task of each opposed pair left out,
has 44).

Everything is written to --out (study files, recipes, mergetune.db, the
report); running it again resumes where it stopped. The built-in runner
evaluates by default; --host evaluates through an Ollama server instead.`, z.Tune, retune, retune, 100*eval.TransferKeep),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.out, "out", "mergetune-demo", "directory for the study files, database, recipes and report")
	fl.StringVar(&f.host, "host", "", "evaluate through this Ollama server (default: the built-in runner)")
	fl.StringVar(&f.family, "family", "", "run on the tiny model family in this directory (default: the one built into the binary)")
	fl.IntVar(&f.trials, "trials", 30, "trial budget of each study")
	fl.IntVar(&f.limit, "limit", 40, "items scored per task")
	fl.IntVar(&f.workers, "workers", 2, "trials run at once")
	fl.BoolVar(&f.full, "full", false, "also re-tune every method at the --extend sizes ("+retune+" tasks) with the same budget")
	fl.IntVar(&f.tune, "tune", z.Tune, "task models the studies tune on")
	fl.StringVar(&f.extend, "extend", joinInts(z.Retune, ","), "comma-separated numbers of task models, ascending, the frozen settings are extended to (and --full re-tunes at)")
	fl.StringVar(&f.rules, "rules", strings.Join(search.ScaleRuleNames(), ","), "comma-separated scale rules the frozen settings are extended by, side by side")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only where the report is")
	return cmd
}

// demoMethod is one merge method the demo tunes: its search space and
// fixed parameters.
type demoMethod struct {
	name  string
	space map[string]map[string]any
	fixed map[string]any
}

// demoMethods are the methods compared, at equal budget.
func demoMethods() []demoMethod {
	lambda := map[string]any{"type": "float", "low": 0.05, "high": 1.5}
	return []demoMethod{
		{name: "breadcrumbs", space: map[string]map[string]any{
			"lambda":  lambda,
			"weight":  {"type": "float", "low": 0.3, "high": 1.0, "scope": "shared"},
			"density": {"type": "float", "low": 0.5, "high": 1.0, "scope": "shared"},
			"gamma":   {"type": "float", "low": 0.001, "high": 0.05, "log": true, "scope": "shared"},
		}},
		{name: "ties", space: map[string]map[string]any{
			"lambda":  lambda,
			"density": {"type": "float", "low": 0.1, "high": 1.0, "scope": "shared"},
		}, fixed: map[string]any{"weight": 1.0}},
		{name: "task_arithmetic", space: map[string]map[string]any{
			"lambda": lambda,
		}, fixed: map[string]any{"weight": 1.0}},
	}
}

// demo is one run of the demo.
type demo struct {
	f        demoFlags
	w        io.Writer
	live     bool // per-trial progress (a terminal)
	dir      string
	family   string
	dbPath   string
	sizes    demoSizing         // --tune, --extend
	rules    []search.ScaleRule // --rules
	tasks    []string           // the tasks merged, the tuned ones first
	be       eval.Backend
	backends backends.Table // the evaluators, opened by name
	host     string
	start    time.Time
	winners  []demoWinner
}

// demoWinner is a study's best trial, for the closing summary.
type demoWinner struct {
	study, method string
	tasks         int
	trial         int
	objective     float64
	settings      string
	holdoutMean   float64
	holdoutNorm   float64
	// holdoutLo, holdoutHi: the items' 95% interval of holdoutNorm.
	holdoutLo, holdoutHi float64
}

func runDemo(ctx context.Context, w io.Writer, f demoFlags) error {
	if f.trials < 1 {
		return fmt.Errorf("--trials %d: want at least 1", f.trials)
	}
	if f.limit < 1 {
		return fmt.Errorf("--limit %d: want at least 1", f.limit)
	}
	if f.workers < 1 {
		return fmt.Errorf("--workers %d: want at least 1", f.workers)
	}
	sizes, err := parseDemoSizing(f.tune, f.extend)
	if err != nil {
		return err
	}
	rules, err := search.ParseScaleRules(f.rules)
	if err != nil {
		return fmt.Errorf("--rules %q: %w", f.rules, err)
	}
	if len(rules) == 0 {
		return fmt.Errorf("--rules %q: want at least one scale rule (%s)", f.rules, strings.Join(search.ScaleRuleNames(), ", "))
	}
	if n := len(demoTasks()); sizes.largest() > n {
		return fmt.Errorf("--extend %q: the family's extension order has %d tasks, the demo would merge %d", f.extend, n, sizes.largest())
	}
	dir, err := filepath.Abs(f.out)
	if err != nil {
		return fmt.Errorf("--out %s: %w", f.out, err)
	}
	for _, sub := range []string{"studies", "recipes", "work"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("--out %s: %w", f.out, err)
		}
	}
	fam, err := demoFamily(ctx, f.family, dir)
	if err != nil {
		return err
	}
	d := &demo{f: f, w: w, live: !f.quiet && isTerminal(w), dir: dir, family: fam,
		dbPath: filepath.Join(dir, "mergetune.db"), start: time.Now(), backends: backends.All(), sizes: sizes, rules: rules}
	d.tasks = demoTasks()[:sizes.largest()] // the baselines cover the tasks the demo merges
	for _, t := range d.tasks {
		if _, err := os.Stat(filepath.Join(fam, t, "config.json")); err != nil {
			return fmt.Errorf("demo: family %s has no fine-tune for task %s: %w", fam, t, err)
		}
	}
	name, cfg := backends.Builtin, backends.Config{}
	if f.host != "" {
		name, cfg = backends.Ollama, backends.Config{Host: f.host, Parallel: eval.DefaultParallel, NamePrefix: "mergetune-demo"}
	}
	if d.be, d.host, err = d.backends.Open(ctx, name, cfg); err != nil {
		return fmt.Errorf("--host %s: %w", f.host, err)
	}
	evaluator := "the built-in runner"
	if f.host != "" {
		evaluator = "Ollama at " + d.host
	}
	d.phase("mergetune demo: tiny family in %s, tasks %s, %d trials per study, %d items per task, %s; writing to %s",
		fam, sizes, f.trials, f.limit, evaluator, dir)

	db, err := results.Open(ctx, d.dbPath)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer db.Close()

	if err := d.baselines(ctx, db); err != nil {
		return err
	}
	var curve []results.CurvePoint
	recipes := map[string]*search.Recipe{}
	for _, m := range demoMethods() {
		s, _, err := d.study(ctx, m, d.sizes.Tune)
		if err != nil {
			return err
		}
		curve = append(curve, d.tunedPoint(s))
		r, err := search.Freeze(ctx, s)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		data, err := r.Marshal()
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		rpath := filepath.Join(dir, "recipes", m.name+".yml")
		if err := os.WriteFile(rpath, data, 0o644); err != nil {
			return fmt.Errorf("demo: write recipe: %w", err)
		}
		recipes[m.name] = r
	}
	for _, m := range demoMethods() {
		pts, err := d.extend(ctx, db, m.name, recipes[m.name])
		if err != nil {
			return err
		}
		curve = append(curve, pts...)
		if err := db.PutCurve(ctx, curve); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	if f.full {
		for _, k := range d.sizes.Retune {
			for _, m := range demoMethods() {
				s, _, err := d.study(ctx, m, k)
				if err != nil {
					return err
				}
				curve = append(curve, d.tunedPoint(s))
				if err := db.PutCurve(ctx, curve); err != nil {
					return fmt.Errorf("demo: %w", err)
				}
			}
		}
	}
	if err := db.PutCurve(ctx, curve); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	d.summary(curve)
	out := filepath.Join(dir, "report.html")
	d.phase("writing the report")
	if _, err := report.WriteFile(ctx, d.dbPath, out, report.FormatHTML); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if !f.quiet {
		fmt.Fprintf(w, "demo done in %s\n", time.Since(d.start).Round(time.Second))
	}
	fmt.Fprintf(w, "report: %s\n", out)
	return nil
}

// phase prints a phase line (unless --quiet).
func (d *demo) phase(format string, args ...any) {
	if d.f.quiet {
		return
	}
	fmt.Fprintf(d.w, "==> "+format+"\n", args...)
}

// progress prints a progress line on a terminal only.
func (d *demo) progress(format string, args ...any) {
	if d.live {
		fmt.Fprintf(d.w, "    "+format+"\n", args...)
	}
}

// demoFamily returns the tiny family's directory: --family DIR when
// given, else the family embedded in the binary (datasets/toy/family as it
// was when the binary was built), extracted once into the user's cache
// directory (mergetune/family-<content hash>) and reused from there, or
// into the demo's out directory where there is no usable cache directory.
// The merge engine and the runner memory-map the models, so they must be
// files on disk.
func demoFamily(ctx context.Context, flag, out string) (string, error) {
	if flag != "" {
		abs, err := filepath.Abs(flag)
		if err != nil {
			return "", fmt.Errorf("--family %s: %w", flag, err)
		}
		if _, err := os.Stat(filepath.Join(abs, family.Base, "config.json")); err != nil {
			return "", fmt.Errorf("--family %s: not the tiny model family (no %s/config.json): %w", flag, family.Base, err)
		}
		return abs, nil
	}
	var errs []error
	if cache, err := os.UserCacheDir(); err == nil {
		dir, err := family.Extract(ctx, filepath.Join(cache, "mergetune"))
		if err == nil {
			return dir, nil
		}
		errs = append(errs, err)
	}
	dir, err := family.Extract(ctx, out)
	if err != nil {
		return "", fmt.Errorf("demo: %w", errors.Join(append(errs, err)...))
	}
	return dir, nil
}

// baselines evaluates the base model and every fine-tune on every task
// (the test split) and records them as the DemoBaselines set.
func (d *demo) baselines(ctx context.Context, db *results.DB) error {
	models := append([]string{search.BaseName}, d.tasks...)
	d.phase("baselines: the base model and %d fine-tunes on %d tasks", len(d.tasks), len(d.tasks))
	t0 := time.Now()
	var tasks []*datasets.Task
	for _, t := range d.tasks {
		ts, err := study.LoadTasks("toy:"+t, "", d.f.limit)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		tasks = append(tasks, ts...)
	}
	matrix := search.BaselineMatrix{DB: db, Set: DemoBaselines, Tasks: tasks, Backend: d.be, Host: d.host,
		Options: eval.Options{Parallel: eval.DefaultParallel, Cache: eval.DBCache{DB: db}},
		Done: func(i int, m study.Model, res []*eval.TaskResult) {
			own := ""
			for _, r := range res {
				if r.Task == "toy:"+m.Name {
					own = fmt.Sprintf(", own task %.3f", r.Accuracy)
				}
			}
			d.progress("%d/%d %s%s", i+1, len(models), m.Name, own)
		}}
	for _, name := range models {
		matrix.Models = append(matrix.Models, study.Model{Name: name, Path: filepath.Join(d.family, name)})
	}
	if err := search.Baselines(ctx, matrix); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	d.phase("baselines done in %s", time.Since(t0).Round(100*time.Millisecond))
	return nil
}

// study writes, runs (or resumes) and summarises the study of method m on
// the first k tasks.
func (d *demo) study(ctx context.Context, m demoMethod, k int) (*study.Study, *search.Summary, error) {
	name := fmt.Sprintf("%s-%d", m.name, k)
	evaluator := map[string]any{"type": backends.Builtin}
	if d.f.host != "" {
		evaluator = map[string]any{"type": backends.Ollama, "hosts": []string{d.f.host}, "parallel": eval.DefaultParallel}
	}
	spec := familyStudy{name: name, family: d.family, method: m, tasks: d.tasks[:k], holdout: true, limit: d.f.limit,
		trials: d.f.trials, workers: d.f.workers, keep: 1, sampler: map[string]any{"type": optim.DefaultSampler, "seed": 1},
		evaluator: evaluator, storage: d.dbPath, workDir: filepath.Join(d.dir, "work", name)}
	hdr := fmt.Sprintf("# Written by mergetune demo: %s on %d tasks of the tiny family.\n# Run it again with: mergetune study run %s\n", m.name, k, name+".yml")
	path := filepath.Join(d.dir, "studies", name+".yml")
	if err := spec.write(path, hdr); err != nil {
		return nil, nil, fmt.Errorf("demo: %w", err)
	}
	s, err := study.Load(path)
	if err != nil {
		return nil, nil, fmt.Errorf("demo: %w", err)
	}
	d.phase("study %s: TPE over %s on %d tasks, %d trials", name, strings.Join(spaceNames(m), ", "), k, d.f.trials)
	t0 := time.Now()
	opt := search.Options{Backends: d.backends}
	if d.live {
		opt.Progress = func(p search.Progress) {
			best := "-"
			if p.Best != nil {
				best = fmt.Sprintf("%.4f (trial %d)", *p.Best.Objective, p.Best.Number)
			}
			line := fmt.Sprintf("%s trial %d/%d: #%d %s %s, best %s", name, p.Done, p.Budget, p.Trial.Number, p.Trial.State, fmtObjective(p.Trial.Objective), best)
			if p.ETA > 0 {
				line += fmt.Sprintf(", ETA %s", p.ETA.Round(time.Second))
			}
			d.progress("%s", line)
		}
		opt.Log = func(format string, a ...any) { d.progress(format, a...) }
	}
	sum, err := search.Run(ctx, s, opt)
	if err != nil {
		return nil, nil, fmt.Errorf("demo: study %s: %w", name, err)
	}
	st := sum.Status
	if st.Best == nil {
		var causes []string
		for _, t := range st.Trials {
			if t.Failure != "" {
				causes = append(causes, fmt.Sprintf("trial %d: %s", t.Number, t.Failure))
			}
		}
		return nil, nil, fmt.Errorf("demo: study %s: no trial completed (%d failed: %s)", name, st.Failed, strings.Join(causes, "; "))
	}
	r, err := search.FreezeYAML(st.Best.MergeYAML)
	if err != nil {
		return nil, nil, fmt.Errorf("demo: study %s: %w", name, err)
	}
	win := demoWinner{study: name, method: m.name, tasks: k, trial: st.Best.Number, objective: *st.Best.Objective, settings: recipeSettings(r)}
	if win.holdoutNorm, win.holdoutMean, win.holdoutLo, win.holdoutHi, err = holdoutScores(ctx, s, st); err != nil {
		return nil, nil, err
	}
	d.winners = append(d.winners, win)
	d.phase("study %s done in %s: best trial %d, objective %.4f (%s); holdout normalized %.4f, mean %.4f",
		name, time.Since(t0).Round(100*time.Millisecond), win.trial, win.objective, win.settings, win.holdoutNorm, win.holdoutMean)
	return s, sum, nil
}

func fmtObjective(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.4f", *v)
}

// spaceNames lists a method's searched parameters, sorted.
func spaceNames(m demoMethod) []string {
	var out []string
	for n := range m.space {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// recipeSettings renders a recipe's parameters as name=value, sorted.
func recipeSettings(r *search.Recipe) string {
	all := map[string]any{}
	for k, v := range r.Parameters {
		all[k] = v
	}
	for k, v := range r.ModelParameters {
		all[k] = v
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := all[k]
		if f, ok := v.(float64); ok {
			parts[i] = fmt.Sprintf("%s=%.4g", k, f)
		} else {
			parts[i] = fmt.Sprintf("%s=%v", k, v)
		}
	}
	return strings.Join(parts, " ")
}

// holdoutScores are a study's best trial's holdout scores, by the study's
// scoring rule (search.Scoring): normalized by the task models' own
// baselines with the items' 95% interval, and the mean.
func holdoutScores(ctx context.Context, s *study.Study, st *search.Status) (norm, mean, lo, hi float64, err error) {
	if len(st.Holdout) == 0 {
		return 0, 0, 0, 0, nil
	}
	sc := search.Scoring(s, eval.BaselineList(st.Baselines))
	accs := eval.ScoreAccuracies(st.Holdout)
	if norm, err = sc.Normalized(ctx, accs); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("demo: study %s: holdout: %w", s.Name, err)
	}
	if lo, hi, err = sc.NormalizedInterval(ctx, accs); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("demo: study %s: holdout: %w", s.Name, err)
	}
	return norm, sc.Mean(accs), lo, hi, nil
}

// tunedPoint is a study winner's point on the curve: its holdout scores
// (see holdoutScores).
func (d *demo) tunedPoint(s *study.Study) results.CurvePoint {
	p := results.CurvePoint{Method: s.Methods[0], Variant: results.VariantTuned, Study: s.Name, Models: len(s.Models),
		Tasks: len(s.Holdout)}
	for _, w := range d.winners {
		if w.study == s.Name {
			p.Mean, p.Normalized, p.ItemLo, p.ItemHi = w.holdoutMean, w.holdoutNorm, w.holdoutLo, w.holdoutHi
			p.SubsetLo, p.SubsetHi = w.holdoutNorm, w.holdoutNorm
		}
	}
	return p
}

// extend merges the first task models with a frozen recipe at each of
// the demo's curve sizes, under each scale rule; refit chooses its scale
// on the tasks' tune split and is scored, like every rule, on the test
// split.
func (d *demo) extend(ctx context.Context, db *results.DB, method string, r *search.Recipe) ([]results.CurvePoint, error) {
	z := d.sizes
	var names []string
	for _, rule := range d.rules {
		names = append(names, rule.Name)
	}
	d.phase("extend %s: the frozen settings of study %s (%s) on %s task models, rules %s", method, r.Study, recipeSettings(r),
		joinInts(z.curve(), " "), strings.Join(names, ", "))
	var models []search.ExtendModel
	for _, t := range d.tasks[:z.largest()] {
		ts, err := study.LoadTasks("toy:"+t, "", d.f.limit)
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		sel, err := study.LoadTasks("toy:"+t+"@tune", "", d.f.limit)
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		models = append(models, search.ExtendModel{Path: filepath.Join(d.family, t), Tasks: ts, Select: sel})
	}
	work := filepath.Join(d.dir, "work", "extend-"+method)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	t0 := time.Now()
	curve, err := search.Extend(ctx, r, models, search.ExtendOptions{DB: db, WorkDir: work, Backend: d.be, Host: d.host, Parallel: eval.DefaultParallel,
		Sizes: z.curve(), Rules: d.rules, Progress: func(p search.CurvePoint) {
			if p.Subset != 0 {
				return // the demo merges one subset: its aggregate says it
			}
			d.progress("%s (%s) on %d models: normalized %.4f, mean %.4f (factor %.3g, %d merges %.1fs, eval %.1fs)", method, p.Rule,
				p.Models, p.Normalized, p.Mean, p.Factor, p.Merges, p.MergeTime.Seconds(), p.EvalTime.Seconds())
		}})
	if err != nil {
		return nil, fmt.Errorf("demo: extend %s: %w", method, err)
	}
	var parts []string
	for _, rule := range names {
		var pts []string
		for _, p := range curve {
			if p.Subset == 0 && p.Rule == rule {
				pts = append(pts, fmt.Sprintf("%d: %.3f", p.Models, p.Normalized))
			}
		}
		parts = append(parts, rule+" "+strings.Join(pts, ", "))
	}
	d.phase("extend %s done in %s: normalized %s", method, time.Since(t0).Round(100*time.Millisecond), strings.Join(parts, "; "))
	return search.CurveRecords(r.Study, method, curve), nil
}

// summary prints the winners and the curve.
func (d *demo) summary(curve []results.CurvePoint) {
	if d.f.quiet {
		return
	}
	d.phase("winners (objective on the tune items; holdout on the test items)")
	tw := tabwriter.NewWriter(d.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    STUDY\tTASKS\tTRIAL\tOBJECTIVE\tHOLDOUT NORM\tHOLDOUT MEAN\tSETTINGS")
	for _, w := range d.winners {
		fmt.Fprintf(tw, "    %s\t%d\t%d\t%.4f\t%.4f\t%.4f\t%s\n", w.study, w.tasks, w.trial, w.objective, w.holdoutNorm, w.holdoutMean, w.settings)
	}
	tw.Flush()
	d.phase("extend curve (normalized accuracy by number of merged task models)")
	tw = tabwriter.NewWriter(d.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    METHOD\tVARIANT\tRULE\tMODELS\tNORMALIZED\tMEAN\tFACTOR\tMERGES")
	sorted := slices.Clone(curve)
	slices.SortStableFunc(sorted, func(a, b results.CurvePoint) int {
		if c := strings.Compare(a.Method, b.Method); c != 0 {
			return c
		}
		if c := strings.Compare(a.Variant, b.Variant); c != 0 {
			return c
		}
		if c := strings.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		return a.Models - b.Models
	})
	for _, p := range sorted {
		if p.Subset != 0 {
			continue // one subset per size: the aggregate is the same point
		}
		rule, factor := p.Rule, fmt.Sprintf("%.3g", p.Factor)
		if p.Variant == results.VariantTuned {
			rule, factor = "-", "-"
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%d\t%.4f\t%.4f\t%s\t%d\n", p.Method, p.Variant, rule, p.Models, p.Normalized, p.Mean, factor, p.Merges)
	}
	tw.Flush()
	writeVerdicts(d.w, "    ", curve)
	if !d.f.full {
		d.phase("the verdicts at %s tasks need the optimum re-tuned there: run again with --full (it resumes; about twice the time)",
			joinInts(d.sizes.Retune, " and "))
	}
}

// writeVerdicts prints the transfer verdict of each method's frozen
// settings at each size it was also re-tuned at (eval.CurveVerdicts),
// with both scores' 95% intervals; nothing when no size has both.
func writeVerdicts(w io.Writer, indent string, curve []results.CurvePoint) {
	vs := eval.CurveVerdicts(curve)
	if len(vs) == 0 {
		return
	}
	fmt.Fprintf(w, "==> transfer verdict: frozen against re-tuned normalized accuracy, 95%% intervals; transfer holds when the frozen settings keep %.0f%% of the re-tuned optimum or the intervals overlap\n", 100*eval.TransferKeep)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%sMETHOD\tRULE\tMODELS\tFROZEN\tRE-TUNED\tVERDICT\tWHY\n", indent)
	for _, v := range vs {
		fmt.Fprintf(tw, "%s%s\t%s\t%d\t%s\t%s\ttransfer %s at %d\t%s\n", indent, v.Method, v.Rule, v.Models, v.Frozen, v.Tuned, v.Word(), v.Models, v.Why())
	}
	tw.Flush()
}
