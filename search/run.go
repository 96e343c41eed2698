package search

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/c-bata/goptuna"
	"golang.org/x/sync/errgroup"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/merge"
	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/results/dsn"
	"github.com/mergetune/mergetune/search/study"
)

// Options tune Run.
type Options struct {
	// Workers overrides the study's workers when > 0.
	Workers int
	// Progress, when set, is called after each trial this process
	// finishes; calls are serialised.
	Progress func(Progress)
	// Log, when set, receives one line per notable event (baselines,
	// reaped trials, failures).
	Log func(format string, args ...any)
	// MergeWorkers is the tensor parallelism of each merge (0: the
	// engine's default).
	MergeWorkers int
	// OnChange says what to do when the study file's definition differs
	// from the recorded one (default: refuse, see DefinitionError).
	OnChange OnChange
	// Backends opens the study's evaluator by its type (nil: every
	// backend mergetune has, backends.All()).
	Backends backends.Table
}

// Progress is reported after each trial.
type Progress struct {
	Trial  results.TrialRecord  // the trial that just finished
	Done   int                  // trials that took a unit of the budget and finished
	Budget int                  // the study's trial budget
	Best   *results.TrialRecord // the best complete trial so far, or nil
	ETA    time.Duration        // estimated time to the end of the budget
}

// Summary is what Run reports at the end.
type Summary struct {
	Status  *Status
	Holdout []results.TaskScore // the best trial's holdout scores, when evaluated
	// RecipeHoldout are the holdout scores of the frozen recipe (Freeze)
	// merged over the study's models: the settings as they will be
	// reused, beside the best trial's own.
	RecipeHoldout []results.TaskScore
}

// Run runs a study until its trial budget is spent (across all processes
// sharing its storage) or ctx is cancelled. It records the study's
// definition, or checks it against the recorded one (see OnChange), creates the study if needed,
// evaluates the baselines once, starts the workers, and at the end
// evaluates the best trial on the holdout tasks. A cancelled run cleans up
// the trials in flight (marked failed, their budget returned) and returns
// ctx's error.
func Run(ctx context.Context, s *study.Study, opt Options) (_ *Summary, err error) {
	defer func(storage string) { err = dsn.RedactError(err, storage) }(s.Storage)
	st, err := OpenStore(ctx, s)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	logf := func(format string, args ...any) {
		if opt.Log != nil {
			opt.Log(format, args...)
		}
	}
	if s, err = st.resolveRun(ctx, s, opt.OnChange, logf); err != nil {
		return nil, err
	}
	if _, err := checkTransfer(s); err != nil {
		return nil, err
	}
	if _, err := st.ensureStudy(s); err != nil {
		return nil, err
	}
	if err := st.recordSettings(ctx, s); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("search: %s: work_dir %s: %w", s.File, s.WorkDir, err)
	}
	h, err := newHarness(s, st, opt)
	if err != nil {
		return nil, err
	}
	if err := h.reap(ctx); err != nil {
		return nil, err
	}
	if err := h.baselines(ctx); err != nil {
		return nil, err
	}
	workers := s.Workers
	if opt.Workers > 0 {
		workers = opt.Workers
	}
	if s.Search == study.SearchGreedySoup {
		if err := h.greedy(ctx); err != nil {
			return nil, err
		}
	} else {
		g, gctx := errgroup.WithContext(ctx)
		for i := range workers {
			g.Go(func() error { return h.work(gctx, i) })
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sum := &Summary{}
	if sum.Holdout, err = h.holdout(ctx); err != nil {
		return nil, err
	}
	if sum.RecipeHoldout, err = h.recipeHoldout(ctx); err != nil {
		return nil, err
	}
	if sum.Status, err = StatusOf(ctx, s, st); err != nil {
		return nil, err
	}
	return sum, nil
}

// harness is one process's share of a running study.
type harness struct {
	s     *study.Study
	st    *Store
	opt   Options
	host  string
	start time.Time

	mu       sync.Mutex // serialises Progress and the work-dir cleanup
	finished int        // trials finished by this process
	busy     time.Duration
	// returned holds this process's trials whose objective has returned
	// while goptuna may not have marked them finished yet (it does so in
	// the worker after the objective returns, racing the next report).
	returned map[int]bool

	beMu sync.Mutex
	// opened holds the evaluators opened so far, by worker index: the
	// baselines, the holdouts and worker 0 share one, and what it learns
	// (an Ollama server's blob store) serves them all.
	opened map[int]openedBackend
}

// openedBackend is an evaluator the harness opened, and its host.
type openedBackend struct {
	be   eval.Backend
	host string
}

func newHarness(s *study.Study, st *Store, opt Options) (*harness, error) {
	return &harness{s: s, st: st, opt: opt, host: hostName(), start: time.Now()}, nil
}

// hostName is this machine's name, as workers and reference directories
// are named for it ("localhost" where the system gives none).
func hostName() string {
	host, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return host
}

func (h *harness) logf(format string, args ...any) {
	if h.opt.Log != nil {
		h.opt.Log(format, args...)
	}
}

// backend returns worker i's evaluator and the host it evaluates on,
// opened by the study's evaluator type from the backends table once per
// harness (opened).
func (h *harness) backend(ctx context.Context, i int) (eval.Backend, string, error) {
	h.beMu.Lock()
	defer h.beMu.Unlock()
	if o, ok := h.opened[i]; ok {
		return o.be, o.host, nil
	}
	table := h.opt.Backends
	if table == nil {
		table = backends.All()
	}
	b, host, err := table.Open(ctx, h.s.Evaluator, h.s.EvaluatorConfig(i))
	if err != nil {
		return nil, "", fmt.Errorf("search: %s: evaluator %s: %w", h.s.File, h.s.Evaluator, err)
	}
	if h.opened == nil {
		h.opened = map[int]openedBackend{}
	}
	h.opened[i] = openedBackend{be: b, host: host}
	return b, host, nil
}

// work is one worker's loop: reap dead trials, check the global budget,
// run one trial, until the budget is spent or ctx is done.
func (h *harness) work(ctx context.Context, i int) error {
	gs, err := h.st.loadStudy(ctx, h.s)
	if err != nil {
		return err
	}
	be, host, err := h.backend(ctx, i)
	if err != nil {
		return err
	}
	w := &worker{h: h, be: be, host: host, name: fmt.Sprintf("%s/%d/%d", h.host, os.Getpid(), i), ctx: ctx}
	for ctx.Err() == nil {
		if err := h.reap(ctx); err != nil {
			return err
		}
		trials, err := h.st.Storage.GetAllTrials(h.st.StudyID)
		if err != nil {
			return fmt.Errorf("search: study %s: list trials: %w", h.s.Name, err)
		}
		c := countTrials(trials)
		if c.counted >= h.s.Trials {
			// Trials of other processes still running may yet be
			// reaped and their budget returned: wait for them.
			if !h.othersRunning(trials) {
				return nil
			}
			select {
			case <-ctx.Done():
			case <-time.After(min(h.s.Heartbeat, 500*time.Millisecond)):
			}
			continue
		}
		if err := gs.Optimize(w.objective, 1); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("search: study %s: %w", h.s.Name, err)
		}
	}
	return nil
}

// othersRunning reports whether another process has a running trial.
func (h *harness) othersRunning(trials []goptuna.FrozenTrial) bool {
	me := fmt.Sprintf("%s/%d/", h.host, os.Getpid())
	for _, t := range trials {
		if t.State == goptuna.TrialStateRunning {
			w := t.UserAttrs[AttrWorker]
			if len(w) < len(me) || w[:len(me)] != me {
				return true
			}
		}
	}
	return false
}

// reap marks running trials whose worker is gone as failed and gives their
// budget back: a heartbeat older than the study's stale_after, or, for
// SQLite storage (one machine), a worker process on this host that no
// longer exists. On PostgreSQL the workers may be on other machines, whose
// host names may clash with ours (containers) and whose processes we
// cannot see: they are reaped by heartbeat age alone.
func (h *harness) reap(ctx context.Context) error {
	trials, err := h.st.Storage.GetAllTrials(h.st.StudyID)
	if err != nil {
		return fmt.Errorf("search: study %s: list trials: %w", h.s.Name, err)
	}
	now := time.Now()
	for _, t := range trials {
		if t.State != goptuna.TrialStateRunning {
			continue
		}
		hb := heartbeatOf(t)
		cause := ""
		if age := now.Sub(hb); age > h.s.StaleAfter {
			cause = fmt.Sprintf("stale: worker %s sent no heartbeat for %s", t.UserAttrs[AttrWorker], age.Round(time.Second))
		} else if host, pid, ok := workerHostPID(t.UserAttrs[AttrWorker]); ok && !h.s.Postgres() && host == h.host && pid != os.Getpid() && !processAlive(pid) {
			cause = fmt.Sprintf("stale: worker %s died (process %d is gone)", t.UserAttrs[AttrWorker], pid)
		}
		if cause == "" {
			continue
		}
		if err := h.st.Storage.SetTrialUserAttr(t.ID, AttrReturned, "stale"); err != nil {
			return fmt.Errorf("search: study %s: reap trial %d: %w", h.s.Name, t.Number, err)
		}
		if err := h.st.Storage.SetTrialState(t.ID, goptuna.TrialStateFail); err != nil {
			if errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
				continue // finished or reaped by someone else meanwhile
			}
			return fmt.Errorf("search: study %s: reap trial %d: %w", h.s.Name, t.Number, err)
		}
		h.logf("trial %d: %s; marked failed, its budget returned", t.Number, cause)
		rec, ok, err := h.st.Results.Trial(ctx, h.s.Name, t.Number)
		if err != nil {
			return fmt.Errorf("search: study %s: reap trial %d: %w", h.s.Name, t.Number, err)
		}
		if !ok {
			rec = results.TrialRecord{Study: h.s.Name, Number: t.Number, GoptunaTrialID: int64(t.ID), StartedAt: t.DatetimeStart, Worker: t.UserAttrs[AttrWorker]}
		}
		rec.State, rec.Failure, rec.FinishedAt = results.TrialFailed, cause, now
		if err := h.st.Results.UpsertTrial(ctx, rec); err != nil {
			return fmt.Errorf("search: study %s: reap trial %d: %w", h.s.Name, t.Number, err)
		}
		os.RemoveAll(h.trialDir(t.Number))
	}
	return nil
}

// processAlive reports whether a process with this ID exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func (h *harness) trialDir(n int) string {
	return filepath.Join(h.s.WorkDir, fmt.Sprintf("trial-%05d", n))
}

// worker runs trials on one evaluator.
type worker struct {
	h    *harness
	be   eval.Backend
	host string
	name string
	ctx  context.Context
	// soup, when set, are the models (indices) the next trial averages
	// uniformly, a greedy soup step (soupNote says which); the trial
	// then samples nothing.
	soup     []int
	soupNote string
}

var (
	errOverBudget  = errors.New("over budget: the study's trials were spent before this one started")
	errInterrupted = errors.New("interrupted")
)

// objective runs one goptuna trial end to end.
func (w *worker) objective(trial goptuna.Trial) (float64, error) {
	h, ctx := w.h, w.ctx
	storage := h.st.Storage
	num, err := trial.Number()
	if err != nil {
		return 0, fmt.Errorf("trial %d: number: %w", trial.ID, err)
	}
	if err := storage.SetTrialUserAttr(trial.ID, AttrWorker, w.name); err != nil {
		return 0, fmt.Errorf("trial %d: %w", num, err)
	}
	beat := func() error {
		return storage.SetTrialUserAttr(trial.ID, AttrHeartbeat, strconv.FormatInt(time.Now().UnixNano(), 10))
	}
	if err := beat(); err != nil {
		return 0, fmt.Errorf("trial %d: heartbeat: %w", num, err)
	}
	// Exact budget: a trial may run only if fewer than Trials trials
	// that take budget were created before it.
	trials, err := storage.GetAllTrials(h.st.StudyID)
	if err != nil {
		return 0, fmt.Errorf("trial %d: %w", num, err)
	}
	before := 0
	for _, t := range trials {
		if t.Number < num && takesBudget(t) {
			before++
		}
	}
	if before >= h.s.Trials {
		storage.SetTrialUserAttr(trial.ID, AttrReturned, "over-budget")
		return 0, errOverBudget
	}

	hbCtx, stopHB := context.WithCancel(context.Background())
	var hbWG sync.WaitGroup
	hbWG.Add(1)
	go func() {
		defer hbWG.Done()
		tick := time.NewTicker(h.s.Heartbeat)
		defer tick.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-tick.C:
				beat()
			}
		}
	}()
	defer func() { stopHB(); hbWG.Wait() }()

	rec := results.TrialRecord{Study: h.s.Name, Number: num, GoptunaTrialID: int64(trial.ID), State: results.TrialRunning, StartedAt: time.Now(), Worker: w.name}
	value, runErr := w.run(ctx, trial, &rec)
	rec.FinishedAt = time.Now()
	// Records are written even when ctx is cancelled.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	switch {
	case runErr == nil:
		rec.State, rec.Objective = results.TrialComplete, &value
	case errors.Is(runErr, goptuna.ErrTrialPruned):
		rec.State, rec.Objective = results.TrialPruned, &value
	case ctx.Err() != nil:
		storage.SetTrialUserAttr(trial.ID, AttrReturned, "interrupted")
		rec.State, rec.Failure = results.TrialFailed, "interrupted: "+context.Cause(ctx).Error()
		runErr = errInterrupted
	default:
		rec.State, rec.Failure = results.TrialFailed, runErr.Error()
		h.logf("trial %d failed: %v", num, runErr)
	}
	if err := h.st.Results.UpsertTrial(wctx, rec); err != nil {
		return 0, fmt.Errorf("trial %d: record: %w", num, err)
	}
	if rec.State != results.TrialComplete {
		os.RemoveAll(h.trialDir(num))
	}
	if err := h.finish(wctx, rec); err != nil {
		return 0, err
	}
	if runErr != nil {
		return value, runErr
	}
	return value, nil
}

// run suggests, merges, evaluates and records one trial; rec collects the
// record's fields as they become known.
func (w *worker) run(ctx context.Context, trial goptuna.Trial, rec *results.TrialRecord) (float64, error) {
	h := w.h
	name := fmt.Sprintf("%s-trial-%d.yml", h.s.Name, rec.Number)
	header := fmt.Sprintf("study %s, trial %d", h.s.Name, rec.Number)
	var cfg *config.Config
	var a *study.Assignment
	if w.soup != nil {
		rec.Method = "linear"
		c, err := h.s.SoupConfig(w.soup, name, header+", "+w.soupNote)
		if err != nil {
			return 0, fmt.Errorf("merge config: %w", err)
		}
		cfg = c
	} else {
		var err error
		if a, err = h.s.Sample(trialSuggester{trial}); err != nil {
			return 0, err
		}
		rec.Method = a.Method
		if cfg, err = h.s.MergeConfig(a, name, header); err != nil {
			return 0, fmt.Errorf("merge config: %w", err)
		}
	}
	rec.MergeYAML = string(cfg.Raw)
	if err := h.st.Results.UpsertTrial(ctx, *rec); err != nil {
		return 0, fmt.Errorf("record: %w", err)
	}
	// A greedy soup's steps sample no parameters, and each averages a
	// different set of models: none repeats another.
	if w.soup == nil {
		orig, err := w.duplicateOf(ctx, trial.ID)
		if err != nil {
			return 0, fmt.Errorf("look for duplicates: %w", err)
		}
		if orig != nil {
			return w.reuse(ctx, trial, rec, orig)
		}
	}
	if h.s.Transfer != nil && a != nil {
		return w.transfer(ctx, trial, a, rec)
	}
	c, err := openCandidate(ctx, cfg, h.trialDir(rec.Number), merge.Options{Seed: h.s.Seed, Force: true, Workers: h.opt.MergeWorkers}, w.be)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	rec.MergeTime, rec.ImportTime = c.mergeTime, c.openTime
	rec.ModelDigest = c.Digest()
	t0 := time.Now()
	res, value, evalErr := w.evaluate(ctx, c, trial)
	rec.EvalTime = time.Since(t0)
	if evalErr != nil && !errors.Is(evalErr, goptuna.ErrTrialPruned) {
		return 0, evalErr
	}
	key := rec.Key()
	if err := h.st.Results.UpsertTrial(ctx, *rec); err != nil {
		return 0, fmt.Errorf("record: %w", err)
	}
	if err := h.st.Results.SetTrialStages(ctx, key, c.stages(rec.EvalTime)); err != nil {
		return 0, fmt.Errorf("record: %w", err)
	}
	if _, err := c.record(ctx, h.st.Results, w.host, res, &key); err != nil {
		return 0, err
	}
	return value, evalErr
}

// finish reports progress and deletes merged models no longer among the
// best keep_best.
func (h *harness) finish(ctx context.Context, rec results.TrialRecord) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.finished++
	h.busy += rec.FinishedAt.Sub(rec.StartedAt)
	recs, err := h.st.Results.Trials(ctx, h.s.Name)
	if err != nil {
		return fmt.Errorf("search: study %s: list records: %w", h.s.Name, err)
	}
	var best []results.TrialRecord
	for _, r := range recs {
		if r.State == results.TrialComplete {
			best = append(best, r)
		}
	}
	sort.SliceStable(best, func(a, b int) bool { return *best[a].Objective > *best[b].Objective })
	keep := map[int]bool{}
	for i := 0; i < len(best) && i < h.s.KeepBest; i++ {
		keep[best[i].Number] = true
	}
	for _, r := range recs {
		if r.State != results.TrialRunning && !keep[r.Number] {
			os.RemoveAll(h.trialDir(r.Number))
		}
	}
	if h.opt.Progress == nil {
		return nil
	}
	trials, err := h.st.Storage.GetAllTrials(h.st.StudyID)
	if err != nil {
		return fmt.Errorf("search: study %s: list trials: %w", h.s.Name, err)
	}
	// A trial whose objective returned (rec's, and another worker's that
	// goptuna has not marked finished yet) is done though still running
	// in the storage.
	if h.returned == nil {
		h.returned = map[int]bool{}
	}
	if !returnedCause(rec) {
		h.returned[rec.Number] = true
	}
	c := countTrials(trials)
	done := c.counted - c.running
	for _, t := range trials {
		if t.State != goptuna.TrialStateRunning {
			delete(h.returned, t.Number)
		} else if h.returned[t.Number] {
			done++
		}
	}
	p := Progress{Trial: rec, Done: done, Budget: h.s.Trials}
	if len(best) > 0 {
		p.Best = &best[0]
	}
	if left := h.s.Trials - p.Done; left > 0 && h.finished > 0 {
		elapsed := time.Since(h.start)
		p.ETA = time.Duration(float64(elapsed) / float64(h.finished) * float64(left))
	}
	h.opt.Progress(p)
	return nil
}
