package report

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/c-bata/goptuna"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/results/dsn"
	"github.com/mergetune/mergetune/search"
	"github.com/mergetune/mergetune/search/study"
)

// studyFileAttr is the goptuna study attribute where the search harness
// keeps the study file's path.
const studyFileAttr = "mergetune:study_file"

// Data is everything a report shows, read from one database.
type Data struct {
	Path    string
	Studies []*Study
	// Curve is the extension curve (mt_report_curve), when stored.
	Curve []CurvePoint
	// BaselineSets are baselines recorded under a name that is not a
	// study (the demo's matrix of every model on every task), by name.
	BaselineSets map[string][]results.Baseline
}

// Study is one study's records.
type Study struct {
	Name      string
	Direction string
	// File is the study file's path as the harness recorded it; Config
	// is the file loaded (nil when it cannot be read any more, see
	// ConfigErr) and ConfigText its text.
	File       string
	Config     *study.Study
	ConfigText string
	ConfigErr  string
	Trials     []Trial // by number
	Baselines  []results.Baseline
	Best       *Trial // the best complete trial, or nil
	// Paired compares the best trial with the base model and each task
	// model on each of its tasks, item by item.
	Paired []Paired
	// Distributions are the searched parameters' ranges, by name, as
	// goptuna recorded them.
	Distributions map[string]any
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

// Load reads a study database.
func Load(ctx context.Context, path string) (_ *Data, err error) {
	defer func(storage string) { err = dsn.RedactError(err, storage) }(path)
	db, rdb, err := openSQLReadOnly(ctx, path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	defer rdb.Close()
	path = results.RedactDSN(path) // for messages from here on
	d := &Data{Path: path, BaselineSets: map[string][]results.Baseline{}}
	ok, err := hasTable(ctx, db, "studies")
	if err != nil {
		return nil, fmt.Errorf("report: %s: %w", path, err)
	}
	names := map[string]bool{}
	if ok {
		if d.Studies, err = loadStudies(ctx, db, rdb); err != nil {
			return nil, fmt.Errorf("report: %s: %w", path, err)
		}
		for _, s := range d.Studies {
			names[s.Name] = true
		}
	}
	if d.Curve, err = loadCurve(ctx, db); err != nil {
		return nil, fmt.Errorf("report: %s: %w", path, err)
	}
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT study FROM mt_baselines ORDER BY study`)
	if err != nil {
		return nil, fmt.Errorf("report: %s: list baselines: %w", path, err)
	}
	var sets []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("report: %s: list baselines: %w", path, err)
		}
		if !names[n] {
			sets = append(sets, n)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("report: %s: list baselines: %w", path, err)
	}
	for _, n := range sets {
		if d.BaselineSets[n], err = rdb.Baselines(ctx, n); err != nil {
			return nil, fmt.Errorf("report: %s: %w", path, err)
		}
	}
	if len(d.Studies) == 0 && len(d.Curve) == 0 && len(d.BaselineSets) == 0 {
		return nil, fmt.Errorf("report: %s holds no study, curve or baselines", path)
	}
	return d, nil
}

// loadStudies reads every study in goptuna's tables, with mergetune's
// records of them.
func loadStudies(ctx context.Context, db *conn, rdb *results.DB) ([]*Study, error) {
	rows, err := db.QueryContext(ctx, `SELECT s.study_id, s.study_name, s.direction,
	COALESCE((SELECT value FROM study_user_attributes a WHERE a.study_id = s.study_id AND a.key = ?), '')
FROM studies s ORDER BY s.study_id`, studyFileAttr)
	if err != nil {
		return nil, fmt.Errorf("list studies: %w", err)
	}
	type row struct {
		id   int
		name string
		dir  string
		file string
	}
	var list []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.name, &r.dir, &r.file); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list studies: %w", err)
		}
		list = append(list, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list studies: %w", err)
	}
	var out []*Study
	for _, r := range list {
		s, err := loadStudy(ctx, db, rdb, r.id, r.name, findStudyFile(r.file, rdb.Path()))
		if err != nil {
			return nil, fmt.Errorf("study %s: %w", r.name, err)
		}
		s.Direction = strings.ToLower(r.dir)
		out = append(out, s)
	}
	return out, nil
}

func loadStudy(ctx context.Context, db *conn, rdb *results.DB, id int, name, file string) (*Study, error) {
	s := &Study{Name: name, File: file, Distributions: map[string]any{}}
	if file != "" {
		if text, err := os.ReadFile(file); err != nil {
			s.ConfigErr = fmt.Sprintf("the study file %s cannot be read: %v", file, err)
		} else {
			s.ConfigText = string(text)
			if cfg, err := study.Load(file); err != nil {
				s.ConfigErr = err.Error()
			} else {
				s.Config = cfg
			}
		}
	} else {
		s.ConfigErr = "the database does not name the study file"
	}
	recs, err := rdb.Trials(ctx, name)
	if err != nil {
		return nil, err
	}
	params, err := trialParams(ctx, db, id, s.Distributions)
	if err != nil {
		return nil, err
	}
	inter, err := intermediate(ctx, db, id)
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
	best, err := search.BestTrial(ctx, rdb, name)
	if err != nil {
		return nil, err
	}
	if best != nil {
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
	if s.Paired, err = loadPaired(ctx, db, rdb, s); err != nil {
		return nil, fmt.Errorf("paired comparisons: %w", err)
	}
	return s, nil
}

// findStudyFile resolves a study file path the harness recorded (as it
// was given, so possibly relative to another working directory): as it
// is, else beside the database or one folder up (a study's default
// storage is results/<name>.db beside its file).
func findStudyFile(file, dbPath string) string {
	if file == "" || filepath.IsAbs(file) {
		return file
	}
	dir := filepath.Dir(dbPath)
	for _, c := range []string{file, filepath.Join(dir, file), filepath.Join(dir, "..", filepath.Base(file))} {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	return file
}

// trialParams reads the study's trial parameters in their external
// representation, by goptuna trial id, and fills dists with each
// parameter's distribution.
func trialParams(ctx context.Context, db *conn, studyID int, dists map[string]any) (map[int64]map[string]any, error) {
	rows, err := db.QueryContext(ctx, `SELECT p.trial_id, p.param_name, p.param_value, p.distribution_json
FROM trial_params p JOIN trials t ON t.trial_id = p.trial_id WHERE t.study_id = ?`, studyID)
	if err != nil {
		return nil, fmt.Errorf("read trial parameters: %w", err)
	}
	defer rows.Close()
	out := map[int64]map[string]any{}
	for rows.Next() {
		var (
			id    int64
			name  string
			value float64
			dj    string
		)
		if err := rows.Scan(&id, &name, &value, &dj); err != nil {
			return nil, fmt.Errorf("read trial parameters: %w", err)
		}
		dist, err := goptuna.JSONToDistribution([]byte(dj))
		if err != nil {
			return nil, fmt.Errorf("parameter %s of trial %d: distribution %s: %w", name, id, dj, err)
		}
		v, err := goptuna.ToExternalRepresentation(dist, value)
		if err != nil {
			return nil, fmt.Errorf("parameter %s of trial %d: %w", name, id, err)
		}
		if out[id] == nil {
			out[id] = map[string]any{}
		}
		out[id][name] = v
		dists[name] = dist
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read trial parameters: %w", err)
	}
	return out, nil
}

// intermediate reads the pruner's intermediate values, by goptuna trial id.
func intermediate(ctx context.Context, db *conn, studyID int) (map[int64]map[int]float64, error) {
	rows, err := db.QueryContext(ctx, `SELECT v.trial_id, v.step, v.value
FROM trial_values v JOIN trials t ON t.trial_id = v.trial_id WHERE t.study_id = ?`, studyID)
	if err != nil {
		return nil, fmt.Errorf("read intermediate values: %w", err)
	}
	defer rows.Close()
	out := map[int64]map[int]float64{}
	for rows.Next() {
		var (
			id   int64
			step int
			v    float64
		)
		if err := rows.Scan(&id, &step, &v); err != nil {
			return nil, fmt.Errorf("read intermediate values: %w", err)
		}
		if out[id] == nil {
			out[id] = map[int]float64{}
		}
		out[id][step] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read intermediate values: %w", err)
	}
	return out, nil
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
	if s.Config != nil {
		return s.Config.Methods
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

// TaskModel names the model tuned for a task: from the study file, else
// the toy convention (the model named after the task), else "".
func (s *Study) TaskModel(task string) string {
	if s.Config != nil {
		if m := s.Config.TaskModel(task); m != "" {
			return m
		}
	}
	key := study.TaskKey(task)
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
	if s.Config != nil {
		out := make([]string, len(s.Config.Models))
		for i, m := range s.Config.Models {
			out[i] = m.Name
		}
		return out
	}
	var out []string
	seen := map[string]bool{search.BaseName: true}
	for _, b := range s.Baselines {
		if !seen[b.Model] {
			seen[b.Model] = true
			out = append(out, b.Model)
		}
	}
	return out
}

// Scoring is the study's scoring rule (eval.Scoring) over its recorded
// baselines: its task weights and task models.
func (s *Study) Scoring() eval.Scoring {
	sc := eval.Scoring{TaskModel: s.TaskModel, Baseline: eval.BaselineList(s.Baselines)}
	if s.Config != nil {
		sc.Weights = s.Config.Weights
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
