package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// TrialState is the state of a trial in a study's records.
type TrialState string

// The states a trial record can be in. They mirror goptuna's trial states.
const (
	TrialWaiting  TrialState = "waiting"  // enqueued, not started
	TrialRunning  TrialState = "running"  // a worker is merging or evaluating it
	TrialComplete TrialState = "complete" // finished with an objective value
	TrialPruned   TrialState = "pruned"   // stopped early by the pruner
	TrialFailed   TrialState = "failed"   // failed; Failure says why
)

// valid reports whether s is one of the known states.
func (s TrialState) valid() bool {
	switch s {
	case TrialWaiting, TrialRunning, TrialComplete, TrialPruned, TrialFailed:
		return true
	}
	return false
}

// TrialRecord is mergetune's own record of one trial of a study, kept
// beside goptuna's trial row (GoptunaTrialID).
type TrialRecord struct {
	Study          string
	Number         int   // goptuna's study-local trial number
	GoptunaTrialID int64 // goptuna's trial_id in its trials table
	State          TrialState
	Method         string        // merge method
	MergeYAML      string        // the trial's full mergekit configuration
	Objective      *float64      // objective value; nil until there is one
	ModelDigest    string        // content digest of the merged model
	MergeTime      time.Duration // time spent merging
	ImportTime     time.Duration // time spent importing into the server
	EvalTime       time.Duration // time spent evaluating
	Failure        string        // why the trial failed; empty otherwise
	StartedAt      time.Time     // zero until started
	FinishedAt     time.Time     // zero until finished
	Worker         string        // the worker (host/process/goroutine) that ran it
	// DuplicateOf is the earlier trial whose parameters this trial
	// repeated: it was not merged or evaluated again and took that
	// trial's result. nil for a trial run in its own right.
	DuplicateOf *int
	// Stages is where the trial's time went, in order (SetTrialStages;
	// filled by Trials and Trial, empty when none were recorded).
	Stages Stages
}

// Key returns the trial's study and number.
func (r TrialRecord) Key() TrialKey { return TrialKey{Study: r.Study, Number: r.Number} }

// UpsertTrial records r, replacing every field of an existing record of
// the same study and trial number. Scores and outcomes that reference the
// trial keep referencing it.
func (db *DB) UpsertTrial(ctx context.Context, r TrialRecord) error {
	what := fmt.Sprintf("results: record trial %s", r.Key())
	switch {
	case r.Study == "":
		return fmt.Errorf("%s: empty study name", what)
	case r.Number < 0:
		return fmt.Errorf("%s: negative trial number", what)
	case !r.State.valid():
		return fmt.Errorf("%s: unknown state %q (want %s, %s, %s, %s or %s)", what, r.State,
			TrialWaiting, TrialRunning, TrialComplete, TrialPruned, TrialFailed)
	}
	var objective sql.NullFloat64
	if r.Objective != nil {
		if math.IsNaN(*r.Objective) {
			return fmt.Errorf("%s: objective is NaN", what)
		}
		objective = sql.NullFloat64{Float64: *r.Objective, Valid: true}
	}
	err := db.exec(ctx, db.q(`INSERT INTO mt_trials (study, trial_number, goptuna_trial_id, state,
	method, merge_yaml, objective, model_digest, merge_seconds, import_seconds, eval_seconds,
	failure, started_at, finished_at, worker, duplicate_of)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (study, trial_number) DO UPDATE SET
	goptuna_trial_id = excluded.goptuna_trial_id, state = excluded.state,
	method = excluded.method, merge_yaml = excluded.merge_yaml,
	objective = excluded.objective, model_digest = excluded.model_digest,
	merge_seconds = excluded.merge_seconds, import_seconds = excluded.import_seconds,
	eval_seconds = excluded.eval_seconds, failure = excluded.failure,
	started_at = excluded.started_at, finished_at = excluded.finished_at,
	worker = excluded.worker, duplicate_of = excluded.duplicate_of`),
		r.Study, r.Number, r.GoptunaTrialID, string(r.State), r.Method, r.MergeYAML, objective,
		r.ModelDigest, r.MergeTime.Seconds(), r.ImportTime.Seconds(), r.EvalTime.Seconds(),
		r.Failure, nullTime(r.StartedAt), nullTime(r.FinishedAt), r.Worker, nullInt(r.DuplicateOf))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// trialColumns selects a TrialRecord; scanTrial reads one row of it. A
// database of schema version 1 (opened read-only, so not migrated) has no
// duplicate_of column: NULL stands in.
func (db *DB) trialColumns() string {
	dup := "duplicate_of"
	if db.version < 2 {
		dup = "NULL"
	}
	return `SELECT study, trial_number, goptuna_trial_id, state, method, merge_yaml,
	objective, model_digest, merge_seconds, import_seconds, eval_seconds, failure,
	started_at, finished_at, worker, ` + dup + `
FROM mt_trials`
}

// nullInt stores a nil *int as NULL.
func nullInt(p *int) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(*p), Valid: true}
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanTrial(sc scanner) (TrialRecord, error) {
	var (
		r                      TrialRecord
		state                  string
		objective              sql.NullFloat64
		mergeS, importS, evalS float64
		started, finished      sql.NullString
		dup                    sql.NullInt64
	)
	if err := sc.Scan(&r.Study, &r.Number, &r.GoptunaTrialID, &state, &r.Method, &r.MergeYAML,
		&objective, &r.ModelDigest, &mergeS, &importS, &evalS, &r.Failure,
		&started, &finished, &r.Worker, &dup); err != nil {
		return TrialRecord{}, err
	}
	r.State = TrialState(state)
	if dup.Valid {
		n := int(dup.Int64)
		r.DuplicateOf = &n
	}
	if objective.Valid {
		v := objective.Float64
		r.Objective = &v
	}
	r.MergeTime, r.ImportTime, r.EvalTime = seconds(mergeS), seconds(importS), seconds(evalS)
	var err error
	if r.StartedAt, err = parseTime(started.String); err != nil {
		return TrialRecord{}, err
	}
	if r.FinishedAt, err = parseTime(finished.String); err != nil {
		return TrialRecord{}, err
	}
	return r, nil
}

// seconds converts stored seconds back to a duration, to the nanosecond.
func seconds(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}

// Trials returns the study's trial records by trial number.
func (db *DB) Trials(ctx context.Context, study string) ([]TrialRecord, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(db.trialColumns()+` WHERE study = ? ORDER BY trial_number`), study)
	if err != nil {
		return nil, fmt.Errorf("results: read trials of study %q: %w", study, err)
	}
	defer rows.Close()
	var out []TrialRecord
	for rows.Next() {
		r, err := scanTrial(rows)
		if err != nil {
			return nil, fmt.Errorf("results: read trials of study %q: %w", study, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("results: read trials of study %q: %w", study, err)
	}
	stages, err := db.trialStages(ctx, study, nil)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Stages = stages[out[i].Number]
	}
	return out, nil
}

// Trial returns the record of one trial. The bool is false when there is
// none.
func (db *DB) Trial(ctx context.Context, study string, number int) (TrialRecord, bool, error) {
	row := db.sql.QueryRowContext(ctx, db.q(db.trialColumns()+` WHERE study = ? AND trial_number = ?`), study, number)
	r, err := scanTrial(row)
	if errors.Is(err, sql.ErrNoRows) {
		return TrialRecord{}, false, nil
	}
	if err != nil {
		return TrialRecord{}, false, fmt.Errorf("results: read trial %s#%d: %w", study, number, err)
	}
	stages, err := db.trialStages(ctx, study, &number)
	if err != nil {
		return TrialRecord{}, false, err
	}
	r.Stages = stages[number]
	return r, true, nil
}

// BestTrial returns the complete trial with the highest objective among
// recs (the first in recs on ties; Trials lists them by number). The bool
// is false when none has completed.
func BestTrial(recs []TrialRecord) (TrialRecord, bool) {
	best, ok := TrialRecord{}, false
	for _, r := range recs {
		if r.State != TrialComplete || r.Objective == nil {
			continue
		}
		if !ok || *r.Objective > *best.Objective {
			best, ok = r, true
		}
	}
	return best, ok
}

// FinalBestTrial is BestTrial taking the last of recs on ties: the best
// of a search whose later trials supersede earlier ones of equal score, a
// greedy soup's (its final soup is the last step it kept, and each kept
// step scores at least the soup before it).
func FinalBestTrial(recs []TrialRecord) (TrialRecord, bool) {
	best, ok := TrialRecord{}, false
	for _, r := range recs {
		if r.State != TrialComplete || r.Objective == nil {
			continue
		}
		if !ok || *r.Objective >= *best.Objective {
			best, ok = r, true
		}
	}
	return best, ok
}
