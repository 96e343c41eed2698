package search

import (
	"context"
	"encoding/csv"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/merge"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/study"
)

// ExtendModel is one model to merge with a frozen recipe, with the tasks
// it was tuned for.
type ExtendModel struct {
	Path  string
	Tasks []*datasets.Task
	// Select are the tasks the refit rule chooses its factor on (say,
	// the tune split of Tasks), so that the score it reports on Tasks is
	// not flattered by the choice; nil: it chooses on Tasks themselves,
	// and the reported score is the best of RefitTrials draws. Either
	// every model has Select or none has.
	Select []*datasets.Task
}

// ExtendOptions tune Extend.
type ExtendOptions struct {
	// DB records every evaluation (runs, scores, items) and caches
	// answers; required.
	DB *results.DB
	// WorkDir receives the merged models (deleted after evaluation).
	WorkDir string
	// Backend evaluates the merges (nil: the built-in runner; cmd opens
	// the one its evaluator flags name, see package eval/backends) and
	// Host names it in the records.
	Backend eval.Backend
	Host    string
	// Compare also merges task arithmetic (its start values, lambda
	// 0.3: compareLambda) and TIES (its start values: weight 1, density
	// 0.5, lambda 1 by default) at each size and subset.
	Compare bool
	// Parallel is the evaluation's concurrent requests (0:
	// eval.DefaultParallel).
	Parallel int
	// Seed seeds the random merge methods, the subsets (with the
	// recipe's study and trial) and the refit rule's draws.
	Seed uint64
	// Rules are the scale rules the recipe is merged by, side by side
	// (nil: the recipe's own, Recipe.Scale).
	Rules []ScaleRule
	// Subsets is the number of random subsets of the task models drawn
	// at each size (fewer when fewer exist: one at the full size); 0 or
	// 1 merges the first k models in the given order, as the nested
	// curve always did.
	Subsets int
	// RefitTrials is the refit rule's budget per size and subset (0:
	// DefaultRefitTrials).
	RefitTrials int
	// Sizes are the numbers of models merged, ascending (nil: Sizes of
	// the number of models); each must be 1 to the number of models.
	Sizes []int
	// Progress, when set, receives each curve point as it is measured
	// (each subset's, then the size's aggregates).
	Progress func(CurvePoint)
}

// CurvePoint is one merge of the extension curve (one subset of the task
// models), or the aggregate of a size's subsets (Subset 0).
type CurvePoint struct {
	Models  int    // models merged
	Method  string // "recipe", "task_arithmetic" or "ties"
	Rule    string // the scale rule ("fixed" for the comparison methods)
	Subset  int    // 1 to Subsets; 0: the aggregate over the size's subsets
	Subsets int    // subsets at this size
	// Members are the subset's task models (their directories' names);
	// none for an aggregate.
	Members []string
	// Factor is the scale the rule gave the recipe's λ/weights (refit:
	// the factor it chose); of an aggregate, the mean.
	Factor     float64
	Tasks      int     // tasks evaluated (those of the merged models)
	Mean       float64 // mean accuracy over the tasks
	Normalized float64 // normalized accuracy (eval.Scoring, unweighted): each task by its model's own accuracy
	// SubsetLo, SubsetHi: an aggregate's 95% interval of the mean over
	// subsets (eval.MeanInterval); a subset's own Normalized.
	SubsetLo, SubsetHi float64
	// ItemLo, ItemHi: the 95% interval from the items
	// (eval.Scoring.NormalizedInterval; of an aggregate, the mean of its
	// subsets' ends).
	ItemLo, ItemHi float64
	// Merges and Items are the evaluation's cost: merges made and items
	// evaluated, refit's search included (an aggregate: the sum over
	// subsets, as are the times).
	Merges, Items int
	MergeTime     time.Duration
	EvalTime      time.Duration
}

// Sizes are the numbers of models an extension merges: 2, 4, 8, … and n
// itself when it is not a power of two (1 when n is 1).
func Sizes(n int) []int {
	if n < 2 {
		return []int{n}
	}
	var out []int
	k := 2
	for ; k <= n; k *= 2 {
		out = append(out, k)
	}
	if out[len(out)-1] != n {
		out = append(out, n)
	}
	return out
}

// Extend follows the Model Breadcrumbs protocol: at each size k (Sizes)
// it draws opt.Subsets random subsets of k task models (the first k in
// order without subsets), merges each with the recipe under each scale
// rule (and, with Compare, with task arithmetic and TIES at their
// defaults), evaluates each merge on the tasks of its models, and returns
// every subset's point followed by the size's aggregates (mean over the
// subsets with the interval across them). Each task model is also
// evaluated on its own tasks, for the normalized score.
func Extend(ctx context.Context, r *Recipe, models []ExtendModel, opt ExtendOptions) ([]CurvePoint, error) {
	if opt.DB == nil {
		return nil, fmt.Errorf("extend: no results database")
	}
	if len(models) == 0 {
		return nil, fmt.Errorf("extend: no models")
	}
	rules := opt.Rules
	if len(rules) == 0 {
		rule, err := LookupScaleRule(r.Scale)
		if err != nil {
			return nil, fmt.Errorf("extend: recipe %s: scale: %w", r.Study, err)
		}
		rules = []ScaleRule{rule}
	}
	tuned := len(r.Tuned)
	for _, rule := range rules {
		if rule.Name != DefaultScaleRule && tuned == 0 {
			return nil, fmt.Errorf("extend: rule %s: recipe %s lists no tuned models, so the number it was tuned on is unknown", rule.Name, r.Study)
		}
	}
	if opt.RefitTrials < 1 {
		opt.RefitTrials = DefaultRefitTrials
	}
	be := opt.Backend
	if be == nil {
		var err error
		if be, opt.Host, err = backends.All().Open(ctx, backends.Builtin, backends.Config{}); err != nil {
			return nil, fmt.Errorf("extend: %w", err)
		}
	}
	parallel := opt.Parallel
	if parallel < 1 {
		parallel = eval.DefaultParallel
	}
	evOpts := eval.Options{Parallel: parallel, Cache: eval.DBCache{DB: opt.DB}}
	selecting := len(models[0].Select) > 0
	for _, m := range models {
		if (len(m.Select) > 0) != selecting {
			return nil, fmt.Errorf("extend: %s: select tasks given for some models and not others", m.Path)
		}
	}
	// Select tasks serve refit alone: without it they are not evaluated.
	selecting = selecting && slices.ContainsFunc(rules, func(r ScaleRule) bool { return r.Refit })
	selectTasks := func(m ExtendModel) []*datasets.Task {
		if !selecting {
			return nil
		}
		return m.Select
	}
	// Each task model's own score on its tasks (and its select tasks):
	// the baselines of the normalized score.
	own := extendScoring{model: map[string]string{}}
	for _, m := range models {
		c, err := openCandidate(ctx, nil, m.Path, merge.Options{}, be)
		if err != nil {
			return nil, fmt.Errorf("extend: %s: %w", m.Path, err)
		}
		res, err := evalTasks(ctx, c, append(slices.Clone(m.Tasks), selectTasks(m)...), evOpts)
		if err == nil {
			_, err = c.record(ctx, opt.DB, opt.Host, res, nil)
		}
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("extend: %s: %w", m.Path, err)
		}
		for _, r := range res {
			own.model[r.Task] = m.Path
			own.baselines = append(own.baselines, results.Baseline{Model: m.Path, Task: r.Task, Accuracy: r.Accuracy})
		}
	}
	var variants []variant
	for _, rule := range rules {
		variants = append(variants, variant{name: "recipe", rule: rule})
	}
	if opt.Compare {
		fixed, _ := LookupScaleRule(DefaultScaleRule)
		variants = append(variants,
			variant{"task_arithmetic", fixed, func(n int) *study.Assignment {
				return study.Start("task_arithmetic", n, map[string]any{"lambda": compareLambda})
			}},
			variant{"ties", fixed, func(n int) *study.Assignment { return study.Start("ties", n, nil) }})
	}
	sizes := opt.Sizes
	if sizes == nil {
		sizes = Sizes(len(models))
	}
	for _, k := range sizes {
		if k < 1 || k > len(models) {
			return nil, fmt.Errorf("extend: size %d: want 1 to the %d models", k, len(models))
		}
	}
	seed := opt.Seed ^ subsetSeed(r)
	var curve []CurvePoint
	emit := func(p CurvePoint) {
		curve = append(curve, p)
		if opt.Progress != nil {
			opt.Progress(p)
		}
	}
	for _, k := range sizes {
		subsets := drawSubsets(len(models), k, opt.Subsets, seed)
		bySubset := make([][]CurvePoint, len(variants))
		for si, idx := range subsets {
			var paths, members []string
			var tasks, sel []*datasets.Task
			for _, i := range idx {
				paths = append(paths, models[i].Path)
				members = append(members, filepath.Base(models[i].Path))
				tasks = append(tasks, models[i].Tasks...)
				sel = append(sel, selectTasks(models[i])...)
			}
			for vi, v := range variants {
				job := extendJob{r: r, v: v, k: k, tuned: tuned, subset: si + 1, subsets: len(subsets), paths: paths, members: members,
					tasks: tasks, sel: sel, own: own, be: be, evOpts: evOpts, opt: opt,
					rng: rand.New(rand.NewPCG(seed, uint64(k)<<32|uint64(si)<<8|uint64(vi)))}
				p, err := job.run(ctx)
				if err != nil {
					return curve, err
				}
				bySubset[vi] = append(bySubset[vi], p)
				emit(p)
			}
		}
		for _, pts := range bySubset {
			emit(aggregate(pts))
		}
	}
	return curve, nil
}

// subsetSeed is the recipe's part of the subsets' seed: its study and
// trial, so two recipes draw their own subsets and one recipe the same
// ones on every run.
func subsetSeed(r *Recipe) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%d", r.Study, r.Trial)
	return h.Sum64()
}

// drawSubsets returns the subsets of k of n models (indices, ascending)
// to merge: the first k when want ≤ 1, else want distinct random subsets
// drawn with seed (all of them when there are no more than want).
func drawSubsets(n, k, want int, seed uint64) [][]int {
	if want <= 1 {
		first := make([]int, k)
		for i := range first {
			first[i] = i
		}
		return [][]int{first}
	}
	return randomSubsets(n, k, want, seed)
}

// randomSubsets returns want distinct random subsets of k of n models
// (indices, ascending) drawn with seed, all of them when there are no
// more than want.
func randomSubsets(n, k, want int, seed uint64) [][]int {
	if c := choose(n, k, want); c < want {
		want = c
	}
	rng := rand.New(rand.NewPCG(seed, uint64(n)<<32|uint64(k)))
	seen := map[string]bool{}
	var out [][]int
	for len(out) < want {
		idx := rng.Perm(n)[:k]
		slices.Sort(idx)
		key := fmt.Sprint(idx)
		if !seen[key] {
			seen[key] = true
			out = append(out, idx)
		}
	}
	return out
}

// choose returns n choose k, or cap when it is larger.
func choose(n, k, cap int) int {
	c := 1
	for i := 1; i <= k; i++ {
		c = c * (n - k + i) / i
		if c > cap {
			return cap + 1
		}
	}
	return c
}

// aggregate is the point of a size's subsets for one variant: means over
// the subsets, the interval across them, costs summed.
func aggregate(pts []CurvePoint) CurvePoint {
	a := CurvePoint{Models: pts[0].Models, Method: pts[0].Method, Rule: pts[0].Rule, Subsets: len(pts), Tasks: pts[0].Tasks}
	norms := make([]float64, len(pts))
	n := float64(len(pts))
	for i, p := range pts {
		norms[i] = p.Normalized
		a.Mean += p.Mean / n
		a.Factor += p.Factor / n
		a.ItemLo += p.ItemLo / n
		a.ItemHi += p.ItemHi / n
		a.Merges += p.Merges
		a.Items += p.Items
		a.MergeTime += p.MergeTime
		a.EvalTime += p.EvalTime
	}
	a.Normalized, a.SubsetLo, a.SubsetHi = eval.MeanInterval(norms)
	return a
}

// extendScoring holds each task's model (by task name) and the task
// models' scores on their own tasks.
type extendScoring struct {
	model     map[string]string
	baselines []results.Baseline
}

// scoring is the rule extend scores a merge by: unweighted, normalized by
// each task's own model.
func (e extendScoring) scoring() eval.Scoring {
	return eval.Scoring{Normalize: true, TaskModel: func(task string) string { return e.model[task] },
		Baseline: eval.BaselineList(e.baselines)}
}

// variant is one merge recipe of the extension curve: the frozen recipe
// under a scale rule (a nil), or a comparison method at its defaults.
type variant struct {
	name string
	rule ScaleRule
	a    func(n int) *study.Assignment
}

// compareLambda is task arithmetic's lambda in the comparison: 0.3,
// FusionBench's default for merging many task models, where the method's
// own default (1) adds every task vector in full.
const compareLambda = 0.3

// extendJob is one point of the curve: a variant on one subset.
type extendJob struct {
	r               *Recipe
	v               variant
	k, tuned        int
	subset, subsets int
	paths, members  []string
	tasks           []*datasets.Task
	sel             []*datasets.Task // refit chooses on these (nil: on tasks)
	own             extendScoring
	be              eval.Backend
	evOpts          eval.Options
	opt             ExtendOptions
	rng             *rand.Rand
}

// run measures the point: one merge for a fixed factor; for refit, each
// candidate factor (refitFactors), keeping the best normalized score on
// the select tasks, then the chosen factor merged again and scored on the
// point's tasks (without select tasks, the best score on the point's
// tasks themselves).
func (j extendJob) run(ctx context.Context) (CurvePoint, error) {
	p := CurvePoint{Models: j.k, Method: j.v.name, Rule: j.v.rule.Name, Subset: j.subset, Subsets: j.subsets,
		Members: j.members, Tasks: len(j.tasks)}
	var factors []float64
	switch {
	case j.v.a != nil:
		factors = []float64{1}
	case j.v.rule.Refit:
		factors = refitFactors(j.tuned, j.k, j.opt.RefitTrials, j.rng)
	default:
		factors = []float64{j.v.rule.Factor(j.tuned, j.k)}
	}
	// With several factors and select tasks, the choice is made on them
	// and the chosen factor merged again for the point's tasks.
	chooseOnSel := len(factors) > 1 && len(j.sel) > 0
	choose := j.tasks
	if chooseOnSel {
		choose = j.sel
	}
	fail := func(err error) (CurvePoint, error) {
		return p, fmt.Errorf("extend %s (%s), %d models, subset %d: %w", j.v.name, j.v.rule.Name, j.k, j.subset, err)
	}
	add := func(m measured) {
		p.Merges++
		p.Items += m.items
		p.MergeTime += m.mergeTime
		p.EvalTime += m.evalTime
	}
	best, bestF := -1.0, 0.0
	var bestM measured
	for i, f := range factors {
		m, err := j.one(ctx, f, i, choose)
		if err != nil {
			return fail(err)
		}
		add(m)
		if m.norm > best {
			best, bestF, bestM = m.norm, f, m
		}
	}
	if chooseOnSel {
		m, err := j.one(ctx, bestF, len(factors), j.tasks)
		if err != nil {
			return fail(err)
		}
		add(m)
		bestM = m
	}
	p.Factor, p.Mean, p.Normalized, p.ItemLo, p.ItemHi = bestF, bestM.mean, bestM.norm, bestM.lo, bestM.hi
	p.SubsetLo, p.SubsetHi = p.Normalized, p.Normalized
	return p, nil
}

// measured is one merge's scores and cost.
type measured struct {
	mean, norm, lo, hi  float64
	items               int
	mergeTime, evalTime time.Duration
}

// one merges the subset with the variant at factor f, evaluates it on
// tasks (the subset's, or its select tasks) and records the evaluation.
func (j extendJob) one(ctx context.Context, f float64, try int, tasks []*datasets.Task) (measured, error) {
	var m measured
	var a *study.Assignment
	if j.v.a != nil {
		a = j.v.a(j.k)
	} else {
		var err error
		if a, err = j.r.ScaledAssignment(j.k, f); err != nil {
			return m, err
		}
	}
	d, err := a.Document(j.r.BaseModel, j.paths, j.r.Dtype)
	if err != nil {
		return m, err
	}
	tag := fmt.Sprintf("%s-%s-%d-%d-%d", j.v.name, j.v.rule.Name, j.k, j.subset, try)
	cfg, err := d.Config("extend-"+tag+".yml", fmt.Sprintf("extend: %s (%s, factor %.4g), %d models, subset %d", j.v.name, j.v.rule.Name, f, j.k, j.subset))
	if err != nil {
		return m, fmt.Errorf("config: %w", err)
	}
	dir := filepath.Join(j.opt.WorkDir, "extend-"+tag)
	defer os.RemoveAll(dir)
	c, err := openCandidate(ctx, cfg, dir, merge.Options{Seed: j.opt.Seed, Force: true}, j.be)
	if err != nil {
		return m, err
	}
	defer c.Close()
	m.mergeTime = c.mergeTime
	t0 := time.Now()
	res, err := evalTasks(ctx, c, tasks, j.evOpts)
	if err != nil {
		return m, err
	}
	m.evalTime = time.Since(t0)
	sc := j.own.scoring()
	accs := eval.Accuracies(res)
	m.mean = sc.Mean(accs)
	if m.norm, err = sc.Normalized(ctx, accs); err != nil {
		return m, err
	}
	// The items' interval (the tasks' items as independent samples).
	if m.lo, m.hi, err = sc.NormalizedInterval(ctx, accs); err != nil {
		return m, err
	}
	for _, r := range res {
		m.items += r.N
	}
	if _, err := c.record(ctx, j.opt.DB, j.opt.Host, res, nil); err != nil {
		return m, err
	}
	return m, nil
}

// CurveRecords converts Extend's curve of a recipe from study s (method
// m) into frozen curve points for the records (results.PutCurve). Points
// of Extend's comparison variants keep their own method name.
func CurveRecords(s, m string, pts []CurvePoint) []results.CurvePoint {
	out := make([]results.CurvePoint, 0, len(pts))
	for _, p := range pts {
		method := m
		if p.Method != "recipe" {
			method = p.Method
		}
		out = append(out, results.CurvePoint{Method: method, Variant: results.VariantFrozen, Study: s, Models: p.Models,
			Rule: p.Rule, Subset: p.Subset, Subsets: p.Subsets, Members: strings.Join(p.Members, ","), Tasks: p.Tasks,
			Mean: p.Mean, Normalized: p.Normalized, SubsetLo: p.SubsetLo, SubsetHi: p.SubsetHi, ItemLo: p.ItemLo, ItemHi: p.ItemHi,
			Merges: p.Merges, Items: p.Items, MergeTime: p.MergeTime, EvalTime: p.EvalTime, Factor: p.Factor})
	}
	return out
}

// WriteCurveCSV writes the curve as CSV: models, method, rule, subset (0:
// the aggregate), subsets, members, factor, tasks, mean, normalized, the
// interval across subsets and the items' interval, merges, items,
// merge_s, eval_s.
func WriteCurveCSV(w io.Writer, curve []CurvePoint) error {
	cw := csv.NewWriter(w)
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 4, 64) }
	cw.Write([]string{"models", "method", "rule", "subset", "subsets", "members", "factor", "tasks", "mean", "normalized",
		"subset_lo", "subset_hi", "item_lo", "item_hi", "merges", "items", "merge_s", "eval_s"})
	for _, p := range curve {
		cw.Write([]string{strconv.Itoa(p.Models), p.Method, p.Rule, strconv.Itoa(p.Subset), strconv.Itoa(p.Subsets),
			strings.Join(p.Members, " "), f(p.Factor), strconv.Itoa(p.Tasks), f(p.Mean), f(p.Normalized),
			f(p.SubsetLo), f(p.SubsetHi), f(p.ItemLo), f(p.ItemHi), strconv.Itoa(p.Merges), strconv.Itoa(p.Items),
			strconv.FormatFloat(p.MergeTime.Seconds(), 'f', 3, 64), strconv.FormatFloat(p.EvalTime.Seconds(), 'f', 3, 64)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("extend: write curve: %w", err)
	}
	return nil
}

// ParseModelList splits a comma-separated list, dropping blanks.
func ParseModelList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
