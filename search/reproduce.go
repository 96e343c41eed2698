package search

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/datasets/toy"
	toyfamily "github.com/mergetune/mergetune/datasets/toy/family"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/merge"
	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/merge/methods"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/study"
)

// ReproduceSet is the name the reproduction records its baselines (each
// fine-tune on its own task's tune and test splits) under in mt_baselines.
const ReproduceSet = "reproduce-baselines"

// ReproduceOptions tune Reproduce.
type ReproduceOptions struct {
	// Family is the tiny model family's directory: base/, one fine-tune
	// per toy task, seeds/<task>-seed<N>/ (datasets/toy/family).
	Family string
	// DB records every evaluation, the baselines and the claims; DBPath
	// is its file (the soup studies open it by path).
	DB     *results.DB
	DBPath string
	// WorkDir receives the merges (each deleted after its evaluation) and
	// the soup studies' files.
	WorkDir string
	// Quick runs the small protocol (ReproduceScale's quick column).
	Quick bool
	// Seed seeds the random merges (DARE, DELLA), the subsets and the
	// random searches.
	Seed uint64
	// Backend evaluates (nil: the built-in runner); Host names it.
	Backend eval.Backend
	Host    string
	// Log, when set, receives one line per step of each experiment.
	Log func(format string, args ...any)
}

// ReproduceScale is the size of the reproduction's protocol: how many
// tasks, items, seeds, subsets and tuning trials each experiment uses.
type ReproduceScale struct {
	Name      string // "full" or "quick"
	Tasks     int    // the first Tasks of the family's tasks (toy.Names order)
	Limit     int    // test items per task
	TuneLimit int    // tune items per task (tuning and greedy soups)
	Seeds     int    // merge seeds of the random methods
	Subsets   int    // random task subsets per size
	Sizes     []int  // numbers of merged tasks (TIES)
	Grid      int    // λ values each TIES variant is tuned over
	Budget    int    // random-search trials per method (Breadcrumbs vs task arithmetic)
	DropRates []float64
	SoupTasks int // seeded tasks used by the soup and SLERP experiments (0: all)
	SlerpT    []float64
	Pairs     int // seed pairs per task for SLERP
}

// ReproduceScales returns the full protocol, or with quick the small one
// (the README gives the CPU time each took).
func ReproduceScales(quick bool) ReproduceScale {
	if quick {
		return ReproduceScale{Name: "quick", Tasks: 4, Limit: 30, TuneLimit: 20, Seeds: 1, Subsets: 2, Sizes: []int{2, 4},
			Grid: 2, Budget: 3, DropRates: []float64{0.5, 0.9, 0.99}, SoupTasks: 2, SlerpT: []float64{0.25, 0.5, 0.75}, Pairs: 1}
	}
	return ReproduceScale{Name: "full", Tasks: 16, Limit: 50, TuneLimit: 20, Seeds: 2, Subsets: 4, Sizes: []int{2, 4, 8},
		Grid: 3, Budget: 6, DropRates: []float64{0.5, 0.9, 0.97, 0.99}, SlerpT: []float64{0.1, 0.3, 0.5, 0.7, 0.9}, Pairs: 2}
}

// reproducer is one run of Reproduce.
type reproducer struct {
	opt    ReproduceOptions
	sc     ReproduceScale
	be     eval.Backend
	evOpts eval.Options
	tasks  []string                         // the fine-tuned tasks used
	test   map[string]*datasets.Task        // by task name: the test split
	tune   map[string]*datasets.Task        // the tune split
	seeds  map[string][]toyfamily.SeedModel // the same-task fine-tunes
	claims []results.Claim
	plots  []results.ClaimPlot
	merges int
}

// Reproduce checks the merging papers' headline claims on the tiny
// family, one experiment per paper (DARE, TIES, Model Breadcrumbs,
// DELLA, Model Soups with Model Stock, SLERP), records each claim with
// its value, 95% interval and verdict (eval.ClaimVerdict) and each
// experiment's plot in opt.DB, and returns them. Every merge goes
// through the engine from a config.Document (the candidate path) and is
// scored by eval.Scoring, normalized by each task's own fine-tune.
func Reproduce(ctx context.Context, opt ReproduceOptions) ([]results.Claim, []results.ClaimPlot, error) {
	if opt.DB == nil {
		return nil, nil, fmt.Errorf("reproduce: no results database")
	}
	r := &reproducer{opt: opt, sc: ReproduceScales(opt.Quick), test: map[string]*datasets.Task{},
		tune: map[string]*datasets.Task{}}
	if r.opt.Log == nil {
		r.opt.Log = func(string, ...any) {}
	}
	r.be = opt.Backend
	if r.be == nil {
		var err error
		if r.be, r.opt.Host, err = backends.All().Open(ctx, backends.Builtin, backends.Config{}); err != nil {
			return nil, nil, fmt.Errorf("reproduce: %w", err)
		}
	}
	r.evOpts = eval.Options{Parallel: eval.DefaultParallel, Cache: eval.DBCache{DB: opt.DB}}
	var err error
	if r.seeds, err = toyfamily.Seeds(os.DirFS(opt.Family)); err != nil {
		return nil, nil, fmt.Errorf("reproduce: %w", err)
	}
	if err := r.loadTasks(); err != nil {
		return nil, nil, err
	}
	if err := r.baselines(ctx); err != nil {
		return nil, nil, err
	}
	for _, e := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"DARE", r.dare}, {"TIES", r.ties}, {"Model Breadcrumbs", r.breadcrumbs}, {"DELLA", r.della},
		{"Model Soups and Model Stock", r.soups}, {"SLERP", r.slerp},
	} {
		t0 := time.Now()
		before := r.merges
		if err := e.run(ctx); err != nil {
			return nil, nil, fmt.Errorf("reproduce: %s: %w", e.name, err)
		}
		r.opt.Log("%s done in %s (%d merges)", e.name, time.Since(t0).Round(100*time.Millisecond), r.merges-before)
	}
	for i := range r.claims {
		r.claims[i].Order = i + 1
		r.claims[i].Run = r.sc.Name
	}
	if err := opt.DB.PutClaims(ctx, r.claims, r.plots); err != nil {
		return nil, nil, fmt.Errorf("reproduce: %w", err)
	}
	return r.claims, r.plots, nil
}

// loadTasks loads the test and tune splits of the tasks used.
func (r *reproducer) loadTasks() error {
	names := toy.Names()
	if r.sc.Tasks < len(names) {
		names = names[:r.sc.Tasks]
	}
	r.tasks = names
	all := slices.Clone(names)
	for t := range r.seeds {
		if !slices.Contains(all, t) {
			all = append(all, t)
		}
	}
	for _, t := range all {
		test, err := study.LoadTasks("toy:"+t, "", r.sc.Limit)
		if err != nil {
			return fmt.Errorf("reproduce: %w", err)
		}
		tune, err := study.LoadTasks("toy:"+t+"@tune", "", r.sc.TuneLimit)
		if err != nil {
			return fmt.Errorf("reproduce: %w", err)
		}
		r.test[t], r.tune[t] = test[0], tune[0]
	}
	return nil
}

// model is a family model's directory.
func (r *reproducer) model(rel string) string { return filepath.Join(r.opt.Family, rel) }

// baselines scores each fine-tune on its own task's test and tune splits
// (search.Baselines, recorded as ReproduceSet): what the normalized
// accuracy divides by.
func (r *reproducer) baselines(ctx context.Context) error {
	for t := range r.test {
		if _, err := os.Stat(filepath.Join(r.model(t), "config.json")); err != nil {
			return fmt.Errorf("reproduce: family %s has no fine-tune for task %s: %w", r.opt.Family, t, err)
		}
		err := Baselines(ctx, BaselineMatrix{DB: r.opt.DB, Set: ReproduceSet, Backend: r.be, Host: r.opt.Host,
			Models: []study.Model{{Name: t, Path: r.model(t)}}, Tasks: []*datasets.Task{r.test[t], r.tune[t]},
			Options: r.evOpts})
		if err != nil {
			return fmt.Errorf("reproduce: %w", err)
		}
	}
	r.opt.Log("baselines: %d fine-tunes on their own tasks", len(r.test))
	return nil
}

// scoring is the reproduction's scoring rule: unweighted, normalized by
// each task's own fine-tune on the same split.
func (r *reproducer) scoring() eval.Scoring {
	return eval.Scoring{Normalize: true, Baseline: eval.BaselineDB(r.opt.DB, ReproduceSet),
		TaskModel: func(task string) string { return strings.TrimPrefix(datasets.TaskKey(task), "toy:") }}
}

// scored is one merge's evaluation.
type scored struct {
	norm, mean float64
	res        []*eval.TaskResult
}

// score merges d (seeded with seed), evaluates the merge on tasks,
// records the evaluation and returns its scores: the candidate path every
// merge of the search takes.
func (r *reproducer) score(ctx context.Context, d *config.Document, seed uint64, tasks []*datasets.Task, what string) (scored, error) {
	var s scored
	r.merges++
	cfg, err := d.Config(fmt.Sprintf("reproduce-%d.yml", r.merges), "reproduce: "+what)
	if err != nil {
		return s, fmt.Errorf("%s: config: %w", what, err)
	}
	dir := filepath.Join(r.opt.WorkDir, fmt.Sprintf("merge-%d", r.merges))
	defer os.RemoveAll(dir)
	c, err := openCandidate(ctx, cfg, dir, merge.Options{Seed: seed, Force: true}, r.be)
	if err != nil {
		return s, fmt.Errorf("%s: %w", what, err)
	}
	defer c.Close()
	if s.res, err = evalTasks(ctx, c, tasks, r.evOpts); err != nil {
		return s, fmt.Errorf("%s: %w", what, err)
	}
	if _, err := c.record(ctx, r.opt.DB, r.opt.Host, s.res, nil); err != nil {
		return s, fmt.Errorf("%s: %w", what, err)
	}
	sc := r.scoring()
	accs := eval.Accuracies(s.res)
	s.mean = sc.Mean(accs)
	if s.norm, err = sc.Normalized(ctx, accs); err != nil {
		return s, fmt.Errorf("%s: %w", what, err)
	}
	return s, nil
}

// scoreAssignment merges the task fine-tunes of names with a and scores
// the merge on tasks.
func (r *reproducer) scoreAssignment(ctx context.Context, a *study.Assignment, names []string, seed uint64, tasks []*datasets.Task, what string) (scored, error) {
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = r.model(n)
	}
	d, err := a.Document(r.model(toyfamily.Base), paths, "bfloat16")
	if err != nil {
		return scored{}, fmt.Errorf("%s: %w", what, err)
	}
	return r.score(ctx, d, seed, tasks, what)
}

// splits returns the test (or tune) splits of the named tasks.
func (r *reproducer) splits(names []string, tune bool) []*datasets.Task {
	out := make([]*datasets.Task, len(names))
	for i, n := range names {
		if tune {
			out[i] = r.tune[n]
		} else {
			out[i] = r.test[n]
		}
	}
	return out
}

// claim appends a claim judged by eval.ClaimVerdict on the estimate of
// units.
func (r *reproducer) claim(c results.Claim, units []float64) {
	e := eval.MeanEstimate(units)
	c.Value, c.Lo, c.Hi, c.Units = e.Value, e.Lo, e.Hi, len(units)
	c.Verdict = eval.ClaimVerdict(e, c.Threshold)
	r.claims = append(r.claims, c)
}

// curve collects a line plot's per-unit values by series and x, and
// renders each series' mean with its interval across units.
type curve struct {
	order []string
	xs    map[string][]float64
	ys    map[string]map[float64][]float64
}

func newCurve() *curve {
	return &curve{xs: map[string][]float64{}, ys: map[string]map[float64][]float64{}}
}

func (c *curve) add(series string, x, y float64) {
	if _, ok := c.ys[series]; !ok {
		c.order = append(c.order, series)
		c.ys[series] = map[float64][]float64{}
	}
	if _, ok := c.ys[series][x]; !ok {
		c.xs[series] = append(c.xs[series], x)
	}
	c.ys[series][x] = append(c.ys[series][x], y)
}

// points are the series' means (detail marks per-unit series).
func (c *curve) points(detail bool) []results.ClaimPoint {
	var out []results.ClaimPoint
	for _, s := range c.order {
		for _, x := range c.xs[s] {
			e := eval.MeanEstimate(c.ys[s][x])
			out = append(out, results.ClaimPoint{Series: s, Detail: detail, X: x, Y: e.Value, Lo: e.Lo, Hi: e.Hi})
		}
	}
	return out
}

// bars are the series' means as bars grouped by x, each group labelled
// label(x).
func (c *curve) bars(label func(x float64) string) []results.ClaimPoint {
	pts := c.points(false)
	for i := range pts {
		pts[i].Label = label(pts[i].X)
	}
	return pts
}

// seedOf is the merge seed of unit i.
func (r *reproducer) seedOf(i int) uint64 { return r.opt.Seed + uint64(i) }

// dropMerge is one fine-tune alone through a drop method (dare_linear or
// della_linear) at density, λ 1, weight 1.
func dropMerge(method string, density float64, rescale bool) *study.Assignment {
	a := study.Start(method, 1, map[string]any{"lambda": 1.0, "rescale": rescale})
	a.Models[0]["weight"] = 1.0
	a.Models[0]["density"] = density
	if method == "della_linear" {
		a.Models[0]["epsilon"] = density / 2
	}
	return a
}

// dare: each fine-tune alone, a share p of its delta dropped, with and
// without DARE's rescale, for each merge seed.
func (r *reproducer) dare(ctx context.Context) error {
	main, detail := newCurve(), newCurve()
	var at90, rescaleGain []float64
	for si := 0; si < r.sc.Seeds; si++ {
		for _, t := range r.tasks {
			for _, p := range r.sc.DropRates {
				var pair [2]float64
				for ri, rescale := range []bool{true, false} {
					what := fmt.Sprintf("dare_linear %s p=%g rescale=%v seed %d", t, p, rescale, si)
					s, err := r.scoreAssignment(ctx, dropMerge("dare_linear", 1-p, rescale), []string{t}, r.seedOf(si),
						r.splits([]string{t}, false), what)
					if err != nil {
						return err
					}
					name := "rescaled"
					if !rescale {
						name = "not rescaled"
					}
					main.add(name, p, s.norm)
					detail.add(t+" ("+name+")", p, s.norm)
					pair[ri] = s.norm
				}
				if p == 0.9 {
					at90 = append(at90, pair[0])
					rescaleGain = append(rescaleGain, pair[0]-pair[1])
				}
			}
			r.opt.Log("DARE: %s, seed %d", t, si)
		}
	}
	const plot = "dare"
	r.claim(results.Claim{ID: "dare-keep", Paper: "DARE (arXiv 2311.03099)", Plot: plot, Threshold: 0.95,
		Statement: "Dropping p = 0.9 of a fine-tune's delta and rescaling the rest keeps its accuracy",
		Measure:   "normalized accuracy at p = 0.9, rescaled (per task and merge seed); holds above 0.95"}, at90)
	r.claim(results.Claim{ID: "dare-rescale", Paper: "DARE (arXiv 2311.03099)", Plot: plot, Threshold: 0,
		Statement: "The rescale by 1/(1 − p) is what keeps it",
		Measure:   "rescaled − not rescaled, normalized accuracy at p = 0.9"}, rescaleGain)
	r.plots = append(r.plots, results.ClaimPlot{Name: plot, Title: "DARE: one fine-tune with a share p of its delta dropped",
		XLabel: "drop rate p", YLabel: "normalized accuracy", Points: append(main.points(false), detail.points(true)...)})
	return nil
}

// tiesVariant is one arm of the TIES ablation: a method with fixed
// settings, tuned over λ.
type tiesVariant struct {
	name   string
	method string
	global map[string]any
	model  map[string]any
	// lambdas is the λ grid (full); sum-type merges take smaller λ than
	// TIES's disjoint mean.
	lambdas []float64
}

// tiesVariants are task arithmetic, trim only (magnitude top 20% per
// task vector, summed: breadcrumbs with gamma 0), elect only (TIES's sign
// election and disjoint mean without trimming: density 1) and TIES
// (both, density 0.2 as in the paper).
func tiesVariants() []tiesVariant {
	sum := []float64{0.3, 0.5, 0.8, 1.0}
	mean := []float64{0.6, 1.0, 1.4, 1.8}
	return []tiesVariant{
		{name: "task arithmetic", method: "task_arithmetic", model: map[string]any{"weight": 1.0}, lambdas: sum},
		{name: "trim only", method: "breadcrumbs", model: map[string]any{"weight": 1.0, "density": 0.2, "gamma": 0.0}, lambdas: sum},
		{name: "elect only", method: "ties", model: map[string]any{"weight": 1.0, "density": 1.0}, lambdas: mean},
		{name: "TIES", method: "ties", model: map[string]any{"weight": 1.0, "density": 0.2}, lambdas: mean},
	}
}

// grid returns n of the λ values, spread over the list.
func grid(ls []float64, n int) []float64 {
	if n >= len(ls) {
		return ls
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = ls[i*(len(ls)-1)/max(n-1, 1)]
	}
	return out
}

// assignment builds an assignment of the method for n models with the
// given global and per-model settings.
func assignment(method string, n int, global, model map[string]any) *study.Assignment {
	a := study.Start(method, n, global)
	for i := range a.Models {
		for k, v := range model {
			a.Models[i][k] = v
		}
	}
	return a
}

// tuneThenTest picks, among candidate assignments, the best on the
// tune split of names and returns its test score and the index chosen.
func (r *reproducer) tuneThenTest(ctx context.Context, cands []*study.Assignment, names []string, seed uint64, what string) (scored, int, error) {
	best, bi := -1.0, 0
	for i, a := range cands {
		s, err := r.scoreAssignment(ctx, a, names, seed, r.splits(names, true), fmt.Sprintf("%s, candidate %d (tune)", what, i))
		if err != nil {
			return scored{}, 0, err
		}
		if s.norm > best {
			best, bi = s.norm, i
		}
	}
	s, err := r.scoreAssignment(ctx, cands[bi], names, seed, r.splits(names, false), what+" (test)")
	return s, bi, err
}

// ties: TIES against task arithmetic (and the ablation's arms) at each
// size, on random subsets of the tasks, each arm's λ tuned on the tune
// split over a grid of the same size.
func (r *reproducer) ties(ctx context.Context) error {
	vs := tiesVariants()
	c := newCurve()
	margins := map[int][]float64{} // TIES − task arithmetic by size, by subset
	var trimGain, electGain, all []float64
	for _, k := range r.sc.Sizes {
		if k > len(r.tasks) {
			continue
		}
		for si, idx := range drawSubsets(len(r.tasks), k, r.sc.Subsets, r.opt.Seed^uint64(k)) {
			names := r.names(idx)
			got := map[string]float64{}
			for _, v := range vs {
				var cands []*study.Assignment
				for _, l := range grid(v.lambdas, r.sc.Grid) {
					g := map[string]any{"lambda": l}
					for key, val := range v.global {
						g[key] = val
					}
					cands = append(cands, assignment(v.method, k, g, v.model))
				}
				s, _, err := r.tuneThenTest(ctx, cands, names, r.opt.Seed, fmt.Sprintf("TIES ablation: %s on %s", v.name, strings.Join(names, ",")))
				if err != nil {
					return err
				}
				got[v.name] = s.norm
				c.add(v.name, float64(k), s.norm)
			}
			m := got["TIES"] - got["task arithmetic"]
			margins[k] = append(margins[k], m)
			all = append(all, m)
			trimGain = append(trimGain, got["TIES"]-got["elect only"])
			electGain = append(electGain, got["TIES"]-got["trim only"])
			r.opt.Log("TIES: %d tasks, subset %d: TIES %.3f, task arithmetic %.3f", k, si+1, got["TIES"], got["task arithmetic"])
		}
	}
	// The margin's growth: the largest size's margins minus the
	// smallest's, subset by subset (independent draws, so any pairing
	// has the difference's mean and variance).
	sizes := slices.Sorted(maps.Keys(margins))
	if len(sizes) == 0 {
		return fmt.Errorf("no size of %v fits the %d tasks", r.sc.Sizes, len(r.tasks))
	}
	var growth []float64
	if len(sizes) > 1 {
		lo, hi := margins[sizes[0]], margins[sizes[len(sizes)-1]]
		for i := 0; i < min(len(lo), len(hi)); i++ {
			growth = append(growth, hi[i]-lo[i])
		}
	}
	const plot = "ties"
	const paper = "TIES (arXiv 2306.01708)"
	r.claim(results.Claim{ID: "ties-beats-ta", Paper: paper, Plot: plot, Threshold: 0,
		Statement: "TIES beats task arithmetic",
		Measure:   "TIES − task arithmetic, normalized accuracy (each λ tuned on the tune split), over sizes and subsets"}, all)
	r.claim(results.Claim{ID: "ties-margin-grows", Paper: paper, Plot: plot, Threshold: 0,
		Statement: "Its margin grows with the number of merged tasks",
		Measure:   fmt.Sprintf("margin at %d tasks − margin at %d tasks", sizes[len(sizes)-1], sizes[0])}, growth)
	r.claim(results.Claim{ID: "ties-trim", Paper: paper, Plot: plot, Threshold: 0,
		Statement: "Trimming helps (ablation)",
		Measure:   "TIES − elect only (no trim), normalized accuracy"}, trimGain)
	r.claim(results.Claim{ID: "ties-elect", Paper: paper, Plot: plot, Threshold: 0,
		Statement: "Sign election helps (ablation)",
		Measure:   "TIES − trim only (no election), normalized accuracy"}, electGain)
	r.plots = append(r.plots, results.ClaimPlot{Name: plot, Title: "TIES ablation: normalized accuracy against the number of merged tasks (λ tuned per arm)",
		XLabel: "task models merged", YLabel: "normalized accuracy", Points: c.points(false)})
	return nil
}

// breadcrumbs: Model Breadcrumbs against task arithmetic at an equal
// tuning budget (random search on the tune split, the winner scored on
// test), on random subsets of 4 tasks (2 with --quick).
func (r *reproducer) breadcrumbs(ctx context.Context) error {
	k := min(4, len(r.tasks))
	if r.opt.Quick {
		k = 2
	}
	big := min(2*k, len(r.tasks))
	c := newCurve()
	var gain, keep []float64
	rng := rand.New(rand.NewPCG(r.opt.Seed, 0xb7ead))
	// Random settings from the methods' registered search ranges
	// (ParamDef.Search), as a study of each method searches them.
	settings := func(n int) (bc, ta []*study.Assignment, err error) {
		for range r.sc.Budget {
			v := map[string]float64{}
			for _, p := range [][2]string{{"breadcrumbs", "lambda"}, {"breadcrumbs", "density"}, {"breadcrumbs", "gamma"}, {"task_arithmetic", "lambda"}} {
				if v[p[0]+"."+p[1]], err = suggestedDraw(p[0], p[1], rng); err != nil {
					return nil, nil, fmt.Errorf("breadcrumbs: %w", err)
				}
			}
			bc = append(bc, assignment("breadcrumbs", n, map[string]any{"lambda": v["breadcrumbs.lambda"]},
				map[string]any{"weight": 1.0, "density": v["breadcrumbs.density"], "gamma": v["breadcrumbs.gamma"]}))
			ta = append(ta, assignment("task_arithmetic", n, map[string]any{"lambda": v["task_arithmetic.lambda"]}, map[string]any{"weight": 1.0}))
		}
		return bc, ta, nil
	}
	bigSubsets := drawSubsets(len(r.tasks), big, r.sc.Subsets, r.opt.Seed^0xbd)
	for si, idx := range drawSubsets(len(r.tasks), k, r.sc.Subsets, r.opt.Seed^0xbc) {
		names := r.names(idx)
		bc, ta, err := settings(k)
		if err != nil {
			return err
		}
		b, bi, err := r.tuneThenTest(ctx, bc, names, r.opt.Seed, "breadcrumbs on "+strings.Join(names, ","))
		if err != nil {
			return err
		}
		t, _, err := r.tuneThenTest(ctx, ta, names, r.opt.Seed, "task arithmetic on "+strings.Join(names, ","))
		if err != nil {
			return err
		}
		gain = append(gain, b.norm-t.norm)
		c.add(fmt.Sprintf("breadcrumbs, %d tasks", k), float64(si+1), b.norm)
		c.add(fmt.Sprintf("task arithmetic, %d tasks", k), float64(si+1), t.norm)
		// Transfer: the settings chosen at k tasks, frozen (the fixed
		// scale rule: as they are), on a subset of twice as many, against
		// breadcrumbs re-tuned there with the same budget.
		more := r.names(bigSubsets[si%len(bigSubsets)])
		chosen := bc[bi]
		frozen, err := r.scoreAssignment(ctx, assignment("breadcrumbs", big, chosen.Global, chosen.Models[0]), more, r.opt.Seed,
			r.splits(more, false), "breadcrumbs frozen at "+strings.Join(more, ","))
		if err != nil {
			return err
		}
		rebc, _, err := settings(big)
		if err != nil {
			return err
		}
		retuned, _, err := r.tuneThenTest(ctx, rebc, more, r.opt.Seed, "breadcrumbs re-tuned on "+strings.Join(more, ","))
		if err != nil {
			return err
		}
		if retuned.norm > 0 {
			keep = append(keep, frozen.norm/retuned.norm)
		}
		c.add(fmt.Sprintf("breadcrumbs, %d tasks, frozen from %d", big, k), float64(si+1), frozen.norm)
		c.add(fmt.Sprintf("breadcrumbs, %d tasks, re-tuned", big), float64(si+1), retuned.norm)
		r.opt.Log("Breadcrumbs: subset %d of %d tasks: breadcrumbs %.3f, task arithmetic %.3f; at %d tasks frozen %.3f, re-tuned %.3f",
			si+1, k, b.norm, t.norm, big, frozen.norm, retuned.norm)
	}
	const plot = "breadcrumbs"
	const paper = "Model Breadcrumbs (arXiv 2312.06795)"
	r.claim(results.Claim{ID: "breadcrumbs-beats-ta", Paper: paper, Plot: plot, Threshold: 0,
		Statement: "Breadcrumbs beats task arithmetic at an equal tuning budget",
		Measure: fmt.Sprintf("breadcrumbs − task arithmetic, normalized accuracy of each method's best of %d random settings (tune split), %d tasks",
			r.sc.Budget, k)}, gain)
	r.claim(results.Claim{ID: "breadcrumbs-transfer", Paper: paper, Plot: plot, Threshold: eval.TransferKeep,
		Statement: "Settings found for a few tasks transfer to more tasks",
		Measure: fmt.Sprintf("normalized accuracy at %d tasks with the settings chosen at %d ÷ breadcrumbs re-tuned at %d (same budget); holds above %g",
			big, k, big, eval.TransferKeep)}, keep)
	r.plots = append(r.plots, results.ClaimPlot{Name: plot,
		Title:  fmt.Sprintf("Breadcrumbs vs task arithmetic (%d random settings each), and breadcrumbs' settings moved from %d to %d tasks, by subset", r.sc.Budget, k, big),
		YLabel: "normalized accuracy", Bars: true, Points: c.bars(func(x float64) string { return fmt.Sprintf("subset %g", x) })})
	return nil
}

// names are the tasks at indices idx of r.tasks.
func (r *reproducer) names(idx []int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = r.tasks[j]
	}
	return out
}

// della: DELLA's magnitude-ranked drop against DARE's uniform drop at
// equal density, each fine-tune alone, rescaled, per merge seed.
func (r *reproducer) della(ctx context.Context) error {
	c := newCurve()
	var gain []float64
	var densities []float64
	for _, p := range r.sc.DropRates {
		if p >= 0.9 {
			densities = append(densities, 1-p)
		}
	}
	for si := 0; si < r.sc.Seeds; si++ {
		for _, t := range r.tasks {
			for _, d := range densities {
				var got [2]float64
				for mi, m := range []string{"della_linear", "dare_linear"} {
					s, err := r.scoreAssignment(ctx, dropMerge(m, d, true), []string{t}, r.seedOf(si), r.splits([]string{t}, false),
						fmt.Sprintf("%s %s density %g seed %d", m, t, d, si))
					if err != nil {
						return err
					}
					got[mi] = s.norm
				}
				gain = append(gain, got[0]-got[1])
				c.add("DELLA (della_linear)", d, got[0])
				c.add("DARE (dare_linear)", d, got[1])
			}
		}
		r.opt.Log("DELLA: seed %d", si)
	}
	const plot = "della"
	r.claim(results.Claim{ID: "della-beats-dare", Paper: "DELLA (arXiv 2406.11617)", Plot: plot, Threshold: 0,
		Statement: "Magnitude-ranked drop (DELLA) beats DARE's uniform drop at equal density",
		Measure:   "DELLA − DARE, normalized accuracy of one fine-tune at densities ≤ 0.1 (epsilon density/2), per task and seed"}, gain)
	r.plots = append(r.plots, results.ClaimPlot{Name: plot, Title: "DELLA vs DARE: one fine-tune kept at a density, rescaled",
		XLabel: "density", YLabel: "normalized accuracy", Points: c.points(false)})
	return nil
}

// soupTasks are the seeded tasks the soup and SLERP experiments use, in
// name order.
func (r *reproducer) soupTasks() []string {
	var ts []string
	for t, ms := range r.seeds {
		if len(ms) >= 2 {
			ts = append(ts, t)
		}
	}
	slices.Sort(ts)
	if r.sc.SoupTasks > 0 && len(ts) > r.sc.SoupTasks {
		ts = ts[:r.sc.SoupTasks]
	}
	return ts
}

// interp merges models with an interpolation method (no task vectors):
// linear with the given weights, slerp from models[0] to models[1] at t,
// model_stock over the base.
func (r *reproducer) interp(ctx context.Context, method string, models []string, global map[string]any, weights []float64, task string, what string) (scored, error) {
	a := study.Start(method, len(models), global)
	paths := make([]string, len(models))
	for i, m := range models {
		paths[i] = r.model(m)
		if weights != nil {
			a.Models[i]["weight"] = weights[i]
		}
	}
	base := r.model(toyfamily.Base)
	if method == "slerp" {
		base, paths = paths[0], paths[1:]
		a.Models = a.Models[1:]
	}
	d, err := a.Document(base, paths, "bfloat16")
	if err != nil {
		return scored{}, fmt.Errorf("%s: %w", what, err)
	}
	return r.score(ctx, d, r.opt.Seed, []*datasets.Task{r.test[task]}, what)
}

// soups: for each seeded task, the greedy soup (the greedy_soup study
// mode: models sorted by tune accuracy, each kept when the soup's tune
// accuracy does not drop), the uniform soup of all seeds and Model Stock
// of each pair of seeds, against the best single fine-tune (best on
// tune), all scored on test by accuracy (Scoring.Mean).
func (r *reproducer) soups(ctx context.Context) error {
	ts := r.soupTasks()
	if len(ts) == 0 {
		return fmt.Errorf("family %s has no same-task fine-tunes (%s/<task>-seed<N>)", r.opt.Family, toyfamily.SeedsDir)
	}
	var pts []results.ClaimPoint
	var uniGain, greedyGain, stockGain []float64
	bar := func(series, task string, res *eval.TaskResult) {
		pts = append(pts, results.ClaimPoint{Series: series, Label: task, Y: res.Accuracy, Lo: res.CI95[0], Hi: res.CI95[1]})
	}
	for _, t := range ts {
		ms := r.seeds[t]
		names := make([]string, len(ms))
		for i, m := range ms {
			names[i] = m.Dir
		}
		best, greedy, err := r.greedySoup(ctx, t, ms)
		if err != nil {
			return err
		}
		w := make([]float64, len(names))
		for i := range w {
			w[i] = 1
		}
		uni, err := r.interp(ctx, "linear", names, nil, w, t, "uniform soup of "+t)
		if err != nil {
			return err
		}
		var stock []float64
		for i := range names {
			for j := i + 1; j < len(names); j++ {
				s, err := r.interp(ctx, "model_stock", []string{names[i], names[j]}, nil, nil, t,
					fmt.Sprintf("model_stock of %s and %s", names[i], names[j]))
				if err != nil {
					return err
				}
				stock = append(stock, s.mean)
				stockGain = append(stockGain, s.mean-uni.mean)
			}
		}
		uniGain = append(uniGain, uni.mean-best.Accuracy)
		greedyGain = append(greedyGain, greedy.Accuracy-best.Accuracy)
		bar("best single fine-tune", t, best)
		bar("uniform soup", t, uni.res[0])
		bar("greedy soup", t, greedy)
		e := eval.MeanEstimate(stock)
		pts = append(pts, results.ClaimPoint{Series: "Model Stock (2 fine-tunes, mean over pairs)", Label: t, Y: e.Value, Lo: e.Lo, Hi: e.Hi})
		r.opt.Log("soups: %s: best single %.3f, uniform %.3f, greedy %.3f, Model Stock %.3f", t, best.Accuracy, uni.mean, greedy.Accuracy, e.Value)
	}
	const plot = "soups"
	r.claim(results.Claim{ID: "soup-uniform", Paper: "Model Soups (arXiv 2203.05482)", Plot: plot, Threshold: 0,
		Statement: "A uniform soup of same-task fine-tunes beats the best single one",
		Measure:   "uniform soup − best single fine-tune (best on tune), test accuracy, per seeded task"}, uniGain)
	r.claim(results.Claim{ID: "soup-greedy", Paper: "Model Soups (arXiv 2203.05482)", Plot: plot, Threshold: 0,
		Statement: "A greedy soup beats the best single fine-tune",
		Measure:   "greedy soup − best single fine-tune, test accuracy, per seeded task"}, greedyGain)
	r.claim(results.Claim{ID: "stock-vs-soup", Paper: "Model Stock (arXiv 2403.19522)", Plot: plot, Threshold: 0,
		Statement: "Model Stock with 2 fine-tunes beats the uniform soup of all",
		Measure:   "Model Stock of a pair of seeds − uniform soup of all seeds, test accuracy, per task and pair"}, stockGain)
	r.plots = append(r.plots, results.ClaimPlot{Name: plot, Title: "Soups of same-task fine-tunes from several seeds: test accuracy",
		YLabel: "accuracy", Bars: true, Points: pts})
	return nil
}

// greedySoup runs the greedy soup of task t's seed fine-tunes as a
// greedy_soup study (tune split for the steps, test split as the
// holdout) and returns the best single fine-tune's test result (the
// first in the soup's order: best on tune) and the final soup's.
func (r *reproducer) greedySoup(ctx context.Context, t string, ms []toyfamily.SeedModel) (best, soup *eval.TaskResult, err error) {
	name := fmt.Sprintf("reproduce-%s-greedy-soup-%s", r.sc.Name, t)
	dir := filepath.Join(r.opt.WorkDir, "studies")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("greedy soup %s: %w", t, err)
	}
	keep := 0
	f := study.File{Name: name, BaseModel: r.model(toyfamily.Base), Dtype: "bfloat16", Limit: r.sc.TuneLimit,
		Tasks: []string{"toy:" + t + "@tune"}, Holdout: []string{"toy:" + t}, Storage: r.opt.DBPath, Search: study.SearchGreedySoup,
		WorkDir: filepath.Join(r.opt.WorkDir, "work-"+name), KeepBest: &keep}
	for _, m := range ms {
		f.Models = append(f.Models, study.FileModel{Model: r.model(m.Dir), Name: filepath.Base(m.Dir)})
	}
	for _, n := range []struct {
		node *yaml.Node
		v    any
	}{{&f.Objective, study.ObjectiveMean}, {&f.Evaluator, backends.Builtin}} {
		if err := n.node.Encode(n.v); err != nil {
			return nil, nil, fmt.Errorf("greedy soup %s: %w", t, err)
		}
	}
	path := filepath.Join(dir, name+".yml")
	if err := writeStudyFile(path, f); err != nil {
		return nil, nil, fmt.Errorf("greedy soup %s: %w", t, err)
	}
	s, err := study.Load(path)
	if err != nil {
		return nil, nil, fmt.Errorf("greedy soup %s: %w", t, err)
	}
	// The holdout is scored on the test split's first Limit items, the
	// tune steps on TuneLimit: the study's limit is the tune one, so the
	// holdout is set to the reproduction's test split here.
	s.Holdout = []*datasets.Task{r.test[t]}
	sum, err := Run(ctx, s, Options{OnChange: ChangeNew})
	if err != nil {
		return nil, nil, fmt.Errorf("greedy soup %s: %w", t, err)
	}
	st := sum.Status
	if st.Best == nil || len(st.Holdout) == 0 {
		return nil, nil, fmt.Errorf("greedy soup %s: study %s has no final soup scored on the holdout", t, st.Study)
	}
	order, _, err := SoupOrder(ctx, s, r.opt.DB)
	if err != nil {
		return nil, nil, err
	}
	first := s.Models[order[0]]
	var b *eval.TaskResult
	for _, bl := range st.Baselines {
		if bl.Model == first.Name && bl.Task == r.test[t].Name {
			b = &eval.TaskResult{Task: bl.Task, N: bl.N, Accuracy: bl.Accuracy, CI95: [2]float64{bl.CILo, bl.CIHi}}
		}
	}
	if b == nil {
		return nil, nil, fmt.Errorf("greedy soup %s: no holdout baseline of %s", t, first.Name)
	}
	h := st.Holdout[0]
	return b, &eval.TaskResult{Task: h.Task, N: h.N, Accuracy: h.Accuracy, CI95: [2]float64{h.CILo, h.CIHi}}, nil
}

// slerp: SLERP against linear interpolation between two fine-tunes of
// one task (pairs of seeds), over t.
func (r *reproducer) slerp(ctx context.Context) error {
	c := newCurve()
	var gain []float64
	for _, t := range r.soupTasks() {
		ms := r.seeds[t]
		for p := 0; p < r.sc.Pairs && 2*p+1 < len(ms); p++ {
			a, b := ms[2*p].Dir, ms[2*p+1].Dir
			for _, x := range r.sc.SlerpT {
				s, err := r.interp(ctx, "slerp", []string{a, b}, map[string]any{"t": x}, nil, t, fmt.Sprintf("slerp %s→%s t=%g", a, b, x))
				if err != nil {
					return err
				}
				l, err := r.interp(ctx, "linear", []string{a, b}, nil, []float64{1 - x, x}, t, fmt.Sprintf("linear %s→%s t=%g", a, b, x))
				if err != nil {
					return err
				}
				gain = append(gain, s.mean-l.mean)
				c.add("SLERP", x, s.mean)
				c.add("linear", x, l.mean)
			}
			r.opt.Log("SLERP: %s, %s and %s", t, a, b)
		}
	}
	const plot = "slerp"
	r.claim(results.Claim{ID: "slerp-beats-linear", Paper: "SLERP (mergekit; Shoemake 1985)", Plot: plot, Threshold: 0,
		Statement: "SLERP between two fine-tunes beats linear interpolation",
		Measure:   "SLERP − linear, test accuracy, per task, seed pair and t"}, gain)
	r.plots = append(r.plots, results.ClaimPlot{Name: plot, Title: "SLERP vs linear interpolation between two fine-tunes of one task",
		XLabel: "t", YLabel: "accuracy", Points: c.points(false)})
	return nil
}

// writeStudyFile writes a study file to a temporary sibling and renames
// it into place.
func writeStudyFile(path string, f study.File) error {
	data, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append([]byte("# Written by mergetune reproduce.\n"), data...), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// suggestedDraw draws a value of a method's parameter from its registered
// search range (methods.ParamDef.Suggested): uniform, or log-uniform
// where the range is on a log scale. A parameter without a range is an
// error.
func suggestedDraw(method, param string, rng *rand.Rand) (float64, error) {
	m, err := methods.All().Lookup(method)
	if err != nil {
		return 0, err
	}
	d, ok := m.Param(param)
	if !ok {
		return 0, fmt.Errorf("%s takes no parameter %s", method, param)
	}
	lo, hi, log, ok := d.Suggested()
	if !ok {
		return 0, fmt.Errorf("%s: parameter %s has no search range", method, param)
	}
	if log {
		return lo * math.Pow(hi/lo, rng.Float64()), nil
	}
	return lo + (hi-lo)*rng.Float64(), nil
}
