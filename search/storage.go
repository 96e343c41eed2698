package search

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/c-bata/goptuna"
	rdb "github.com/c-bata/goptuna/rdb.v2"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/optim"
	"github.com/mergetune/mergetune/search/study"
)

// Trial user attributes the harness keeps in goptuna's storage (short
// strings, well under the 2048-character limit of the RDB columns).
const (
	// AttrWorker names the worker running a trial: host/pid/index.
	AttrWorker = "mergetune:worker"
	// AttrHeartbeat is the time a running trial last said it was alive,
	// in Unix nanoseconds.
	AttrHeartbeat = "mergetune:heartbeat"
	// AttrReturned marks a failed trial whose budget was given back:
	// "stale" (its worker died), "interrupted" (stopped by a signal) or
	// "over-budget" (created after the budget was spent).
	AttrReturned = "mergetune:returned"
)

// Store is an open study storage: goptuna's rdb.v2 tables and mergetune's
// records, in one SQLite file or one PostgreSQL database.
type Store struct {
	Results *results.DB
	Gorm    *gorm.DB
	Storage *rdb.Storage
	StudyID int
	Name    string
}

// Close closes both connections.
func (st *Store) Close() error {
	var errs []error
	if st.Gorm != nil {
		if db, err := st.Gorm.DB(); err == nil {
			errs = append(errs, db.Close())
		}
	}
	if st.Results != nil {
		errs = append(errs, st.Results.Close())
	}
	return errors.Join(errs...)
}

// OpenStore opens the study's storage, creating goptuna's schema and
// mergetune's schema as needed (and, for SQLite, the file). It does not
// create the study. A postgres:// storage is shared by every process (on
// any machine) that names it; the database itself must exist.
func OpenStore(ctx context.Context, s *study.Study) (*Store, error) {
	name := results.RedactDSN(s.Storage)
	if !s.Postgres() {
		if err := os.MkdirAll(filepath.Dir(s.Storage), 0o755); err != nil {
			return nil, fmt.Errorf("search: %s: storage %s: %w", s.File, name, err)
		}
	}
	rdbRes, err := results.Open(ctx, s.Storage)
	if err != nil {
		return nil, fmt.Errorf("search: %s: storage %s: %w", s.File, name, err)
	}
	st := &Store{Results: rdbRes, Name: s.Name}
	var dialector gorm.Dialector
	if s.Postgres() {
		dialector = postgres.Open(s.Storage)
	} else {
		dialector = sqlite.Open(results.DSN(s.Storage))
	}
	gdb, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("search: open goptuna storage %s: %w", name, err)
	}
	st.Gorm = gdb
	if s.Postgres() {
		sqlDB, err := gdb.DB()
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("search: open goptuna storage %s: %w", name, err)
		}
		results.ConfigurePool(sqlDB)
	}
	// Migrate inside one transaction, so processes starting together
	// take turns instead of racing on CREATE INDEX (concurrent AutoMigrate
	// fails): SQLite's immediate transactions take the write lock at
	// BEGIN; on PostgreSQL the transaction takes an advisory lock first.
	// Retry in case a racer's schema appeared between our checks.
	for attempt := 0; ; attempt++ {
		err = gdb.Transaction(func(tx *gorm.DB) error {
			if s.Postgres() {
				if err := tx.Exec(`SELECT pg_advisory_xact_lock(?)`, results.MigrationLock).Error; err != nil {
					return fmt.Errorf("lock: %w", err)
				}
			}
			return rdb.RunAutoMigrate(tx)
		})
		if err == nil {
			break
		}
		if attempt == 4 || ctx.Err() != nil {
			st.Close()
			return nil, fmt.Errorf("search: migrate goptuna schema in %s: %w", name, err)
		}
		time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
	}
	st.Storage = rdb.NewStorage(gdb)
	return st, nil
}

// OpenStoreAt opens an existing study's storage for reading (status,
// best, freeze), read-only (see results.OpenReadOnly): it creates,
// migrates and writes nothing, and an empty or foreign file gets an error.
// Only Results is set.
func OpenStoreAt(ctx context.Context, s *study.Study) (*Store, error) {
	db, err := results.OpenReadOnly(ctx, s.Storage)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("search: study %s has no storage yet (%s): run it first", s.Name, results.RedactDSN(s.Storage))
		}
		return nil, fmt.Errorf("search: %s: storage: %w", s.File, err)
	}
	return &Store{Results: db, Name: s.Name}, nil
}

// ReadOptions tune the read paths (status, best, freeze).
type ReadOptions struct {
	// Force reads the study's records even when the study file's
	// definition differs from the recorded one.
	Force bool
	// Confirm, for FreezeWith, re-scores the best trials before freezing
	// and freezes the one that holds (Confirm); nil: the study file's
	// confirm:, or none.
	Confirm *study.Confirm
}

// openRead opens a study's storage read-only and finds the recorded study
// the file names (see resolveRead). It refuses a study with no records.
func openRead(ctx context.Context, s *study.Study) (*Store, *study.Study, *DefinitionError, error) {
	st, err := OpenStoreAt(ctx, s)
	if err != nil {
		return nil, nil, nil, err
	}
	rs, derr, err := resolveRead(ctx, st.Results, s)
	if err == nil {
		err = st.checkRecorded(ctx, rs)
	}
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	st.Name = rs.Name
	return st, rs, derr, nil
}

// checkRecorded refuses a study the storage holds nothing of.
func (st *Store) checkRecorded(ctx context.Context, s *study.Study) error {
	if _, ok, err := st.Results.StudyDefinition(ctx, s.Name); err != nil || ok {
		return err
	}
	recs, err := st.Results.Trials(ctx, s.Name)
	if err != nil || len(recs) > 0 {
		return err
	}
	bl, err := st.Results.Baselines(ctx, s.Name)
	if err != nil || len(bl) > 0 {
		return err
	}
	return fmt.Errorf("search: study %s not found in %s: run it first", s.Name, results.RedactDSN(s.Storage))
}

// ensureStudy creates the goptuna study once (maximize) and enqueues the
// default trial; a study that exists is loaded as it is. It reports
// whether this call created it.
func (st *Store) ensureStudy(s *study.Study) (bool, error) {
	if id, err := st.Storage.GetStudyIDFromName(s.Name); err == nil {
		st.StudyID = id
		return false, nil
	}
	created := true
	gs, err := goptuna.CreateStudy(s.Name,
		goptuna.StudyOptionStorage(st.Storage),
		goptuna.StudyOptionDirection(goptuna.StudyDirectionMaximize),
		goptuna.StudyOptionLogger(nopLogger{}))
	if err != nil {
		// another process created it first
		id, lerr := st.Storage.GetStudyIDFromName(s.Name)
		if lerr != nil {
			return false, fmt.Errorf("search: create study %s in %s: %w", s.Name, results.RedactDSN(s.Storage), err)
		}
		st.StudyID = id
		return false, nil
	}
	st.StudyID = gs.ID
	if err := gs.SetUserAttr(results.AttrStudyFile, truncate(s.File, 1000)); err != nil {
		return created, fmt.Errorf("search: study %s: %w", s.Name, err)
	}
	if err := gs.EnqueueTrial(s.DefaultParams()); err != nil {
		return created, fmt.Errorf("search: study %s: enqueue the default trial: %w", s.Name, err)
	}
	return created, nil
}

// loadStudy loads the goptuna study for one worker. Its samplers draw each
// trial's parameters from the study's sampler seed and the trial's number
// (see optim.PerTrial), so workers and processes never repeat one another.
func (st *Store) loadStudy(ctx context.Context, s *study.Study) (*goptuna.Study, error) {
	opts := []goptuna.StudyOption{
		goptuna.StudyOptionStorage(st.Storage),
		goptuna.StudyOptionLogger(nopLogger{}),
		goptuna.StudyOptionIgnoreError(true),
	}
	set := optim.Settings{Seed: s.SamplerSeed, Startup: s.Startup}
	if len(s.Methods) == 1 {
		set.Space = searchSpace(s)
	}
	sampler, err := optim.Samplers().Lookup(s.Sampler)
	if err != nil {
		return nil, fmt.Errorf("search: %s: sampler.type: %w", s.File, err)
	}
	so, err := sampler.Options(set)
	if err != nil {
		return nil, fmt.Errorf("search: %s: sampler %s: %w", s.File, s.Sampler, err)
	}
	opts = append(opts, so...)
	pruner, err := optim.Pruners().Lookup(s.Pruner)
	if err != nil {
		return nil, fmt.Errorf("search: %s: pruner.type: %w", s.File, err)
	}
	p, err := pruner.New(set)
	if err != nil {
		return nil, fmt.Errorf("search: %s: pruner %s: %w", s.File, s.Pruner, err)
	}
	if p != nil {
		opts = append(opts, goptuna.StudyOptionPruner(p))
	}
	gs, err := goptuna.LoadStudy(s.Name, opts...)
	if err != nil {
		return nil, fmt.Errorf("search: load study %s from %s: %w", s.Name, results.RedactDSN(s.Storage), err)
	}
	gs.WithContext(ctx)
	return gs, nil
}

// searchSpace is the numeric space for CMA-ES, defined up front so the
// relative sampler works from the first trial.
func searchSpace(s *study.Study) map[string]interface{} {
	out := map[string]interface{}{}
	for _, prm := range s.Space {
		for _, n := range s.ParamNames(prm) {
			switch {
			case prm.Type == "choice":
				out[n] = goptuna.CategoricalDistribution{Choices: prm.Choices}
			case prm.Type == "int" && prm.Step > 1:
				out[n] = goptuna.StepIntUniformDistribution{Low: int(prm.Low), High: int(prm.High), Step: int(prm.Step)}
			case prm.Type == "int":
				out[n] = goptuna.IntUniformDistribution{Low: int(prm.Low), High: int(prm.High)}
			case prm.Log:
				out[n] = goptuna.LogUniformDistribution{Low: prm.Low, High: prm.High}
			case prm.Step > 0:
				out[n] = goptuna.DiscreteUniformDistribution{Low: prm.Low, High: prm.High, Q: prm.Step}
			default:
				out[n] = goptuna.UniformDistribution{Low: prm.Low, High: prm.High}
			}
		}
	}
	return out
}

// trialSuggester adapts a goptuna trial to study.Suggester.
type trialSuggester struct{ t goptuna.Trial }

func (g trialSuggester) Float(name string, low, high float64, log bool, step float64) (float64, error) {
	switch {
	case log:
		return g.t.SuggestLogFloat(name, low, high)
	case step > 0:
		return g.t.SuggestDiscreteFloat(name, low, high, step)
	}
	return g.t.SuggestFloat(name, low, high)
}

func (g trialSuggester) Int(name string, low, high, step int) (int, error) {
	if step > 1 {
		return g.t.SuggestStepInt(name, low, high, step)
	}
	return g.t.SuggestInt(name, low, high)
}

func (g trialSuggester) Choice(name string, choices []string) (string, error) {
	return g.t.SuggestCategorical(name, choices)
}

// nopLogger silences goptuna: the harness reports through its own
// records and progress.
type nopLogger struct{}

func (nopLogger) Debug(string, ...interface{}) {}
func (nopLogger) Info(string, ...interface{})  {}
func (nopLogger) Warn(string, ...interface{})  {}
func (nopLogger) Error(string, ...interface{}) {}

// counts classifies a study's trials for the budget.
type counts struct {
	counted  int // complete + pruned + running + genuinely failed
	running  int
	waiting  int
	returned int // failed trials whose budget was given back
}

// counts returns whether a trial takes a unit of the budget: finished
// trials (complete, pruned, failed with a cause of their own) and running
// ones; waiting trials and returned failures do not.
func takesBudget(t goptuna.FrozenTrial) bool {
	switch t.State {
	case goptuna.TrialStateComplete, goptuna.TrialStatePruned, goptuna.TrialStateRunning:
		return true
	case goptuna.TrialStateFail:
		return t.UserAttrs[AttrReturned] == ""
	}
	return false
}

func countTrials(trials []goptuna.FrozenTrial) counts {
	var c counts
	for _, t := range trials {
		if takesBudget(t) {
			c.counted++
		}
		switch t.State {
		case goptuna.TrialStateRunning:
			c.running++
		case goptuna.TrialStateWaiting:
			c.waiting++
		case goptuna.TrialStateFail:
			if t.UserAttrs[AttrReturned] != "" {
				c.returned++
			}
		}
	}
	return c
}

// heartbeatOf is when a running trial was last known alive.
func heartbeatOf(t goptuna.FrozenTrial) time.Time {
	if v, err := strconv.ParseInt(t.UserAttrs[AttrHeartbeat], 10, 64); err == nil {
		return time.Unix(0, v)
	}
	return t.DatetimeStart
}

// workerHostPID splits an AttrWorker value "host/pid/index".
func workerHostPID(w string) (string, int, bool) {
	parts := strings.Split(w, "/")
	if len(parts) < 2 {
		return "", 0, false
	}
	pid, err := strconv.Atoi(parts[1])
	return parts[0], pid, err == nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
