package report

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/c-bata/goptuna"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/results/dsn"
)

// Data is everything a report shows, read from one database.
type Data struct {
	Path    string
	Studies []*Study
	// Curve is the extension curve (results.DB.Curve), when stored.
	Curve []results.CurvePoint
	// BaselineSets are baselines recorded under a name that is not a
	// study (the demo's matrix of every model on every task), by name.
	BaselineSets map[string][]results.Baseline
	// Claims are the paper claims checked on the tiny family (`mergetune
	// reproduce`) and ClaimPlots their experiments' plots, when stored.
	Claims     []results.Claim
	ClaimPlots []results.ClaimPlot
}

// Study is one study's records.
type Study struct {
	Name      string
	Direction string
	// File is the study file's path as the harness recorded it.
	File string
	// Settings are the study's recorded settings (nil for a study
	// recorded before schema version 4; SettingsErr says so).
	Settings    *results.StudySettings
	SettingsErr string
	Trials      []Trial // by number
	Baselines   []results.Baseline
	Best        *Trial // the best complete trial, or nil
	// Paired compares the best trial with the base model and each task
	// model on each of its tasks, item by item.
	Paired []Paired
	// Distributions are the searched parameters' ranges, by name, as
	// goptuna recorded them.
	Distributions map[string]any
	// Confirmations are the best trials re-scored before freezing
	// (results.DB.Confirmations), by tune rank; none when the study was
	// not confirmed.
	Confirmations []results.Confirmation
}

// Trial is one trial: mergetune's record, goptuna's parameters and
// intermediate values, and its task scores.
type Trial struct {
	results.TrialRecord
	Params       map[string]any  // parameter name → value (external representation)
	Intermediate map[int]float64 // pruner steps → objective so far
	Tune         []results.TaskScore
	Holdout      []results.TaskScore
	// TuneScore and HoldoutScore reduce Tune and Holdout by the
	// study's scoring rule (Study.Scoring).
	TuneScore, HoldoutScore Score
}

// Cause says why a failed or pruned trial stopped.
func (t Trial) Cause() string {
	switch t.State {
	case results.TrialFailed:
		if t.Failure != "" {
			return t.Failure
		}
		return "failed (no cause recorded)"
	case results.TrialPruned:
		step, last := -1, 0.0
		for s, v := range t.Intermediate {
			if s > step {
				step, last = s, v
			}
		}
		if step >= 0 {
			return fmt.Sprintf("pruned after step %d of the tune set (objective so far %.4f, below the pruner's threshold)", step, last)
		}
		return "pruned"
	}
	return ""
}

// Load reads a study database: opened once, read-only (results.OpenReadOnly;
// nothing is created, migrated or written), goptuna's tables through
// goptuna's storage (rdb.v2) and mergetune's records through package
// results. A database of schema version 3 or older is read as it is: its
// studies have no recorded settings (see Study.SettingsErr).
func Load(ctx context.Context, path string) (_ *Data, err error) {
	defer func(storage string) { err = dsn.RedactError(err, storage) }(path)
	rdb, err := results.OpenReadOnly(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer rdb.Close()
	path = results.RedactDSN(path) // for messages from here on
	d := &Data{Path: path, BaselineSets: map[string][]results.Baseline{}}
	ok, err := rdb.HasTable(ctx, "studies")
	if err != nil {
		return nil, fmt.Errorf("report: %s: %w", path, err)
	}
	names := map[string]bool{}
	if ok {
		if d.Studies, err = loadStudies(ctx, rdb); err != nil {
			return nil, fmt.Errorf("report: %s: %w", path, err)
		}
		for _, s := range d.Studies {
			names[s.Name] = true
		}
	}
	if d.Curve, err = rdb.Curve(ctx); err != nil {
		return nil, fmt.Errorf("report: %s: %w", path, err)
	}
	sets, err := rdb.BaselineSets(ctx)
	if err != nil {
		return nil, fmt.Errorf("report: %s: %w", path, err)
	}
	for _, n := range sets {
		if names[n] {
			continue
		}
		if d.BaselineSets[n], err = rdb.Baselines(ctx, n); err != nil {
			return nil, fmt.Errorf("report: %s: %w", path, err)
		}
	}
	if d.Claims, d.ClaimPlots, err = rdb.Claims(ctx); err != nil {
		return nil, fmt.Errorf("report: %s: %w", path, err)
	}
	if len(d.Studies) == 0 && len(d.Curve) == 0 && len(d.BaselineSets) == 0 && len(d.Claims) == 0 {
		return nil, fmt.Errorf("report: %s holds no study, curve, baselines or claims", path)
	}
	return d, nil
}

// loadStudies reads every study in goptuna's storage, with mergetune's
// records of them.
func loadStudies(ctx context.Context, rdb *results.DB) ([]*Study, error) {
	storage, err := rdb.Goptuna()
	if err != nil {
		return nil, err
	}
	sums, err := storage.GetAllStudySummaries()
	if err != nil {
		return nil, fmt.Errorf("list studies: %w", err)
	}
	sort.Slice(sums, func(a, b int) bool { return sums[a].ID < sums[b].ID })
	var out []*Study
	for _, sum := range sums {
		trials, err := storage.GetAllTrials(sum.ID)
		if err != nil {
			return nil, fmt.Errorf("study %s: read trials: %w", sum.Name, err)
		}
		s, err := loadStudy(ctx, rdb, sum.Name, trials)
		if err != nil {
			return nil, fmt.Errorf("study %s: %w", sum.Name, err)
		}
		s.Direction = strings.ToLower(string(sum.Direction))
		if s.File == "" {
			s.File = sum.UserAttrs[results.AttrStudyFile]
		}
		out = append(out, s)
	}
	return out, nil
}

// loadStudy reads one study's records; trials are goptuna's.
func loadStudy(ctx context.Context, rdb *results.DB, name string, trials []goptuna.FrozenTrial) (*Study, error) {
	s := &Study{Name: name, Distributions: map[string]any{}}
	set, ok, err := rdb.StudySettings(ctx, name)
	if err != nil {
		return nil, err
	}
	if ok {
		s.Settings, s.File = &set, set.File
	} else {
		s.SettingsErr = "The database holds no settings of this study: it was last run by a mergetune older than schema version 4 (running it again records them)."
	}
	params := map[int64]map[string]any{}
	inter := map[int64]map[int]float64{}
	for _, ft := range trials {
		params[int64(ft.ID)], inter[int64(ft.ID)] = ft.Params, ft.IntermediateValues
		for n, d := range ft.Distributions {
			s.Distributions[n] = d
		}
	}
	recs, err := rdb.Trials(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		t := Trial{TrialRecord: r, Params: params[r.GoptunaTrialID], Intermediate: inter[r.GoptunaTrialID]}
		scores, err := rdb.TrialTaskScores(ctx, name, r.Number)
		if err != nil {
			return nil, err
		}
		// A trial evaluated twice on a task keeps its latest score.
		seen := map[string]int{}
		for _, sc := range scores {
			key := sc.Split + "\x00" + sc.Task
			list := &t.Tune
			if sc.Split == datasets.SplitHoldout {
				list = &t.Holdout
			}
			if i, ok := seen[key]; ok {
				(*list)[i] = sc
				continue
			}
			seen[key] = len(*list)
			*list = append(*list, sc)
		}
		s.Trials = append(s.Trials, t)
	}
	if best, ok := s.Settings.Best(recs); ok {
		for i := range s.Trials {
			if s.Trials[i].Number == best.Number {
				s.Best = &s.Trials[i]
			}
		}
	}
	if s.Baselines, err = rdb.Baselines(ctx, name); err != nil {
		return nil, err
	}
	for i := range s.Trials {
		t := &s.Trials[i]
		t.TuneScore, t.HoldoutScore = s.score(ctx, t.Tune), s.score(ctx, t.Holdout)
	}
	if s.Paired, err = loadPaired(ctx, rdb, s); err != nil {
		return nil, fmt.Errorf("paired comparisons: %w", err)
	}
	if s.Confirmations, err = rdb.Confirmations(ctx, name); err != nil {
		return nil, err
	}
	return s, nil
}

// ParamNames returns the study's searched parameter names, sorted.
func (s *Study) ParamNames() []string {
	names := make([]string, 0, len(s.Distributions))
	for n := range s.Distributions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Methods are the merge methods the study's trials used, in first use
// order (or as configured).
func (s *Study) Methods() []string {
	if s.Settings != nil {
		return s.Settings.Methods
	}
	var out []string
	seen := map[string]bool{}
	for _, t := range s.Trials {
		if t.Method != "" && !seen[t.Method] {
			seen[t.Method] = true
			out = append(out, t.Method)
		}
	}
	return out
}

// Counts are a study's trials by state.
type Counts struct{ Complete, Pruned, Failed, Running, Other int }

// Counts counts the study's trials by state.
func (s *Study) Counts() Counts {
	var c Counts
	for _, t := range s.Trials {
		switch t.State {
		case results.TrialComplete:
			c.Complete++
		case results.TrialPruned:
			c.Pruned++
		case results.TrialFailed:
			c.Failed++
		case results.TrialRunning:
			c.Running++
		default:
			c.Other++
		}
	}
	return c
}

// TopTrials returns up to n complete trials, best first.
func (s *Study) TopTrials(n int) []Trial {
	var done []Trial
	for _, t := range s.Trials {
		if t.State == results.TrialComplete && t.Objective != nil {
			done = append(done, t)
		}
	}
	sort.SliceStable(done, func(a, b int) bool { return *done[a].Objective > *done[b].Objective })
	if len(done) > n {
		done = done[:n]
	}
	return done
}

// Baseline returns a model's baseline on a task.
func (s *Study) Baseline(model, task string) (results.Baseline, bool) {
	for _, b := range s.Baselines {
		if b.Model == model && b.Task == task {
			return b, true
		}
	}
	return results.Baseline{}, false
}

// TaskModel names the model tuned for a task: from the recorded settings,
// else (a study recorded before schema version 4) the toy convention (the
// model named after the task), else "".
func (s *Study) TaskModel(task string) string {
	if s.Settings != nil {
		return s.Settings.TaskModels[task]
	}
	key := datasets.TaskKey(task)
	for _, b := range s.Baselines {
		if b.Model == key {
			return key
		}
	}
	return ""
}

// Models are the study's task models in order (from the study file,
// else from its baselines), without the base model.
func (s *Study) Models() []string {
	if s.Settings != nil {
		out := make([]string, len(s.Settings.Models))
		for i, m := range s.Settings.Models {
			out[i] = m.Name
		}
		return out
	}
	var out []string
	seen := map[string]bool{results.BaseName: true}
	for _, b := range s.Baselines {
		if !seen[b.Model] {
			seen[b.Model] = true
			out = append(out, b.Model)
		}
	}
	return out
}

// Scoring is the study's scoring rule (eval.Scoring) over its recorded
// baselines: its objective, task weights and task models, as recorded.
func (s *Study) Scoring() eval.Scoring {
	sc := eval.Scoring{TaskModel: s.TaskModel, Baseline: eval.BaselineList(s.Baselines)}
	if s.Settings != nil {
		sc.Weights = s.Settings.Weights
		sc.Normalize = s.Settings.Objective == eval.ObjectiveNormalized
	}
	return sc
}

// Score is a set of task scores reduced by the study's scoring rule.
type Score struct {
	Mean       float64 // weighted mean accuracy
	Normalized float64 // normalized accuracy, valid when NormErr is ""
	NormErr    string  // why there is no normalized accuracy (a task without a baseline)
}

// score reduces task scores by the study's scoring rule.
func (s *Study) score(ctx context.Context, scores []results.TaskScore) Score {
	sc := s.Scoring()
	accs := eval.ScoreAccuracies(scores)
	out := Score{Mean: sc.Mean(accs)}
	var err error
	if out.Normalized, err = sc.Normalized(ctx, accs); err != nil {
		out.NormErr = err.Error()
	}
	return out
}

// fmtNorm renders a normalized accuracy, or "-" without one.
func (sc Score) fmtNorm() string {
	if sc.NormErr != "" {
		return "-"
	}
	return fmt.Sprintf("%.4f", sc.Normalized)
}
