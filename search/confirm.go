package search

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/merge"
	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/results/dsn"
	"github.com/mergetune/mergetune/search/study"
)

// ConfirmSet is the suffix of the baseline set a confirmation records the
// task models' scores on its items under (the study's name, then it).
const ConfirmSet = "@confirm"

// ConfirmOptions tune Confirm.
type ConfirmOptions struct {
	study.Confirm
	// Force confirms the recorded study even when the study file's
	// definition changed since.
	Force bool
	// Backends opens the study's evaluator (nil: backends.All()).
	Backends backends.Table
}

// TopTrials returns the n complete trials of recs with the best
// objectives, best first (the lower number on ties), leaving out trials
// that repeated an earlier one's parameters (DuplicateOf).
func TopTrials(recs []results.TrialRecord, n int) []results.TrialRecord {
	var out []results.TrialRecord
	for _, r := range recs {
		if r.State == results.TrialComplete && r.Objective != nil && r.DuplicateOf == nil {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		if *out[a].Objective != *out[b].Objective {
			return *out[a].Objective > *out[b].Objective
		}
		return out[a].Number < out[b].Number
	})
	return out[:min(n, len(out))]
}

// Confirm re-scores a study's best trials before freezing, against the
// winner's curse (the best of many noisy trials is flattered by its own
// items): the opt.Top trials by tune objective are merged again and scored
// by the study's objective on opt.Items items per tune task (0: the whole
// tune split), normalized by the task models' scores on the same items
// (recorded as the baseline set NAME@confirm). The trial with the best
// confirmed score is chosen (the better tune rank on ties). The
// confirmations, with the tune-vs-confirmed gap, are recorded in the
// study's storage (results.PutConfirmations) and returned by tune rank.
// A study with a transfer objective is confirmed on its full set of
// models.
func Confirm(ctx context.Context, s *study.Study, opt ConfirmOptions) (_ []results.Confirmation, err error) {
	defer func(storage string) { err = dsn.RedactError(err, storage) }(s.Storage)
	if s.Search == study.SearchGreedySoup {
		return nil, fmt.Errorf("search: study %s is a greedy soup: its steps are not alternatives to confirm", s.Name)
	}
	if opt.Top < 1 {
		return nil, fmt.Errorf("search: study %s: confirm the best %d trials: want 1 or more", s.Name, opt.Top)
	}
	st, err := OpenStore(ctx, s)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	rs, derr, err := resolveRead(ctx, st.Results, s)
	if err != nil {
		return nil, err
	}
	if derr != nil && !opt.Force {
		return nil, derr
	}
	recs, err := st.Results.Trials(ctx, rs.Name)
	if err != nil {
		return nil, fmt.Errorf("search: study %s: list records: %w", rs.Name, err)
	}
	top := TopTrials(recs, opt.Top)
	if len(top) == 0 {
		return nil, fmt.Errorf("search: study %s: no complete trial to confirm", rs.Name)
	}
	cs, err := study.LoadLimit(s.File, opt.Items)
	if err != nil {
		return nil, fmt.Errorf("search: study %s: confirmation tasks: %w", rs.Name, err)
	}
	table := opt.Backends
	if table == nil {
		table = backends.All()
	}
	be, host, err := table.Open(ctx, s.Evaluator, s.EvaluatorConfig(0))
	if err != nil {
		return nil, fmt.Errorf("search: %s: evaluator %s: %w", s.File, s.Evaluator, err)
	}
	evOpts := eval.Options{Parallel: s.Parallel, Cache: eval.DBCache{DB: st.Results}}
	set := rs.Name + ConfirmSet
	if err := Baselines(ctx, BaselineMatrix{DB: st.Results, Set: set, Models: s.Models, Tasks: cs.Tune, Backend: be, Host: host, Options: evOpts, WorkDir: s.WorkDir}); err != nil {
		return nil, fmt.Errorf("search: study %s: confirmation baselines: %w", rs.Name, err)
	}
	sc := Scoring(s, eval.BaselineDB(st.Results, set))
	var out []results.Confirmation
	best := -1
	for i, r := range top {
		v, items, err := confirmTrial(ctx, rs, r, cs, be, host, st.Results, evOpts, sc)
		if err != nil {
			return nil, fmt.Errorf("search: study %s: confirm trial %d: %w", rs.Name, r.Number, err)
		}
		out = append(out, results.Confirmation{Study: rs.Name, Trial: r.Number, TuneRank: i + 1, Tune: *r.Objective, Confirm: v, Items: items})
		if best < 0 || v > out[best].Confirm {
			best = i
		}
	}
	out[best].Chosen = true
	if err := st.Results.PutConfirmations(ctx, rs.Name, out); err != nil {
		return nil, err
	}
	return out, nil
}

// confirmTrial merges a trial again from its recorded configuration and
// scores it on the confirmation tasks; it returns the score and the items
// evaluated. The evaluation is recorded, not tied to the trial (whose
// scores stay its tune ones).
func confirmTrial(ctx context.Context, s *study.Study, r results.TrialRecord, cs *study.Study, be eval.Backend, host string,
	db *results.DB, evOpts eval.Options, sc eval.Scoring) (float64, int, error) {
	cfg, err := config.Parse([]byte(r.MergeYAML), fmt.Sprintf("%s-trial-%d.yml", s.Name, r.Number))
	if err != nil {
		return 0, 0, err
	}
	dir := filepath.Join(s.WorkDir, fmt.Sprintf("confirm-trial-%05d", r.Number))
	defer os.RemoveAll(dir)
	c, err := openCandidate(ctx, cfg, dir, merge.Options{Seed: s.Seed, Force: true}, be)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	res, err := evalTasks(ctx, c, cs.Tune, evOpts)
	if err != nil {
		return 0, 0, err
	}
	if _, err := c.record(ctx, db, host, res, nil); err != nil {
		return 0, 0, err
	}
	v, err := sc.Objective(ctx, eval.Accuracies(res))
	if err != nil {
		return 0, 0, err
	}
	items := 0
	for _, t := range res {
		items += t.N
	}
	return v, items, nil
}
