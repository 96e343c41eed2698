package results

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Run is one evaluation of one model: a `mergetune eval` invocation, or
// the evaluation of one trial's merged model.
type Run struct {
	ID          int64     // assigned by NewRun
	StartedAt   time.Time // when the evaluation started; NewRun uses now if zero
	ModelDir    string    // the model directory evaluated
	ModelDigest string    // content digest of the model
	Settings    string    // canonical request options
	Host        string    // the inference server (or "builtin")
}

// TrialKey names a trial of a study: the study name and goptuna's
// study-local trial number.
type TrialKey struct {
	Study  string
	Number int
}

// String renders the key as study#number.
func (k TrialKey) String() string { return fmt.Sprintf("%s#%d", k.Study, k.Number) }

// TaskScore is one task's score in a run, with its 95% confidence
// interval.
type TaskScore struct {
	RunID    int64
	Trial    *TrialKey // the trial the run evaluated, or nil
	Task     string
	Split    string // the task's role: "tune" or "holdout"
	N        int    // items scored
	Correct  int    // items answered correctly
	Accuracy float64
	CILo     float64
	CIHi     float64
}

// ItemOutcome is how one item of a task was answered in a run.
type ItemOutcome struct {
	RunID     int64
	Trial     *TrialKey // the trial the run evaluated, or nil
	Task      string
	ItemID    string
	Correct   bool
	Extracted string
	Response  string
	Cached    bool // whether the outcome came from the evaluation cache
	// Prompt is the prompt as sent, Target the reference answer (for a
	// choice item the gold letter) and Choices the options of a
	// multiple-choice item (schema version 3; empty in older records).
	Prompt  string
	Target  string
	Choices []string
	// Long is "truncated" or "skipped" for an item longer than the
	// model's context, "" otherwise.
	Long string
}

// NewRun records the start of an evaluation run and returns its ID.
func (db *DB) NewRun(ctx context.Context, r Run) (int64, error) {
	if r.StartedAt.IsZero() {
		r.StartedAt = time.Now()
	}
	var id int64
	err := db.sql.QueryRowContext(ctx, db.q(`INSERT INTO mt_eval_runs (started_at, model_dir, model_digest, settings, host)
VALUES (?, ?, ?, ?, ?) RETURNING id`), formatTime(r.StartedAt), r.ModelDir, r.ModelDigest, r.Settings, r.Host).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("results: new run for %s: %w", r.ModelDir, err)
	}
	return id, nil
}

// Run returns the run with the given ID. The bool is false when there is
// none.
func (db *DB) Run(ctx context.Context, id int64) (Run, bool, error) {
	r := Run{ID: id}
	var started string
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT started_at, model_dir, model_digest, settings, host
FROM mt_eval_runs WHERE id = ?`), id).Scan(&started, &r.ModelDir, &r.ModelDigest, &r.Settings, &r.Host)
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, false, nil
	}
	if err != nil {
		return Run{}, false, fmt.Errorf("results: read run %d: %w", id, err)
	}
	if r.StartedAt, err = parseTime(started); err != nil {
		return Run{}, false, fmt.Errorf("results: read run %d: %w", id, err)
	}
	return r, true, nil
}

// AddTaskScore records a task's score in a run. A score already recorded
// for the same run, task and split is replaced, so re-scoring a run is
// idempotent. A trial named by s.Trial must already be recorded
// (UpsertTrial).
func (db *DB) AddTaskScore(ctx context.Context, s TaskScore) error {
	what := fmt.Sprintf("results: add score of task %q to run %d", s.Task, s.RunID)
	if err := checkScore(s); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return db.inTx(ctx, what, func(tx *sql.Tx) error {
		trialID, err := db.lookupTrialID(ctx, tx, s.Trial)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO mt_task_scores (run_id, trial_id, task, split, n, correct,
	accuracy, ci_lo, ci_hi)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, task, split) DO UPDATE SET
	trial_id = excluded.trial_id, n = excluded.n, correct = excluded.correct,
	accuracy = excluded.accuracy, ci_lo = excluded.ci_lo, ci_hi = excluded.ci_hi`),
			s.RunID, trialID, s.Task, s.Split, s.N, s.Correct, s.Accuracy, s.CILo, s.CIHi)
		return err
	})
}

// checkScore rejects scores that cannot be right.
func checkScore(s TaskScore) error {
	switch {
	case s.RunID <= 0:
		return fmt.Errorf("invalid run id %d", s.RunID)
	case s.Task == "":
		return errors.New("empty task name")
	case s.N < 0 || s.Correct < 0 || s.Correct > s.N:
		return fmt.Errorf("invalid counts: %d correct of %d", s.Correct, s.N)
	}
	return nil
}

// AddItemOutcomes records the outcomes of items in one transaction: all of
// them are recorded, or none. An outcome already recorded for the same
// run, task and item is replaced.
func (db *DB) AddItemOutcomes(ctx context.Context, outcomes []ItemOutcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	what := fmt.Sprintf("results: add %d item outcomes", len(outcomes))
	for i, o := range outcomes {
		switch {
		case o.RunID <= 0:
			return fmt.Errorf("%s: outcome %d (task %q, item %q): invalid run id %d", what, i, o.Task, o.ItemID, o.RunID)
		case o.Task == "":
			return fmt.Errorf("%s: outcome %d (item %q): empty task name", what, i, o.ItemID)
		}
	}
	return db.inTx(ctx, what, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, db.q(`INSERT INTO mt_item_outcomes (run_id, trial_id, task, item_id,
	correct, extracted, response, cached, prompt, target, choices, overlong)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, task, item_id) DO UPDATE SET
	trial_id = excluded.trial_id, correct = excluded.correct,
	extracted = excluded.extracted, response = excluded.response,
	cached = excluded.cached, prompt = excluded.prompt, target = excluded.target,
	choices = excluded.choices, overlong = excluded.overlong`))
		if err != nil {
			return fmt.Errorf("prepare insert: %w", err)
		}
		defer stmt.Close()
		trialIDs := make(map[TrialKey]sql.NullInt64)
		for i, o := range outcomes {
			var trialID sql.NullInt64
			if o.Trial != nil {
				id, ok := trialIDs[*o.Trial]
				if !ok {
					if id, err = db.lookupTrialID(ctx, tx, o.Trial); err != nil {
						return fmt.Errorf("outcome %d (task %q, item %q): %w", i, o.Task, o.ItemID, err)
					}
					trialIDs[*o.Trial] = id
				}
				trialID = id
			}
			choices, err := encodeChoices(o.Choices)
			if err != nil {
				return fmt.Errorf("outcome %d (run %d, task %q, item %q): %w", i, o.RunID, o.Task, o.ItemID, err)
			}
			if _, err := stmt.ExecContext(ctx, o.RunID, trialID, o.Task, o.ItemID, boolInt(o.Correct),
				db.blob(o.Extracted), db.blob(o.Response), boolInt(o.Cached),
				db.blob(o.Prompt), db.blob(o.Target), db.blob(choices), o.Long); err != nil {
				return fmt.Errorf("outcome %d (run %d, task %q, item %q): %w", i, o.RunID, o.Task, o.ItemID, err)
			}
		}
		return nil
	})
}

// lookupTrialID returns the row id of the trial named by key, NULL for a
// nil key, and an error when the trial is not recorded.
func (db *DB) lookupTrialID(ctx context.Context, tx *sql.Tx, key *TrialKey) (sql.NullInt64, error) {
	if key == nil {
		return sql.NullInt64{}, nil
	}
	var id int64
	err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM mt_trials WHERE study = ? AND trial_number = ?`),
		key.Study, key.Number).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return sql.NullInt64{}, fmt.Errorf("trial %s is not recorded (record it with UpsertTrial first)", key)
	}
	if err != nil {
		return sql.NullInt64{}, fmt.Errorf("look up trial %s: %w", key, err)
	}
	return sql.NullInt64{Int64: id, Valid: true}, nil
}

// scoreColumns selects a TaskScore with its trial key; scanScores reads
// the rows.
const scoreColumns = `SELECT s.run_id, t.study, t.trial_number, s.task, s.split, s.n, s.correct,
	s.accuracy, s.ci_lo, s.ci_hi
FROM mt_task_scores s LEFT JOIN mt_trials t ON t.id = s.trial_id`

func scanScores(rows *sql.Rows) ([]TaskScore, error) {
	defer rows.Close()
	var out []TaskScore
	for rows.Next() {
		var (
			s      TaskScore
			study  sql.NullString
			number sql.NullInt64
		)
		if err := rows.Scan(&s.RunID, &study, &number, &s.Task, &s.Split, &s.N, &s.Correct,
			&s.Accuracy, &s.CILo, &s.CIHi); err != nil {
			return nil, err
		}
		if study.Valid && number.Valid {
			s.Trial = &TrialKey{Study: study.String, Number: int(number.Int64)}
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// TaskScores returns the task scores of a run, in the order they were
// first recorded.
func (db *DB) TaskScores(ctx context.Context, runID int64) ([]TaskScore, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(scoreColumns+` WHERE s.run_id = ? ORDER BY s.id`), runID)
	if err != nil {
		return nil, fmt.Errorf("results: read task scores of run %d: %w", runID, err)
	}
	scores, err := scanScores(rows)
	if err != nil {
		return nil, fmt.Errorf("results: read task scores of run %d: %w", runID, err)
	}
	return scores, nil
}

// TrialTaskScores returns the task scores recorded for a trial, across
// all runs that evaluated it, in the order they were first recorded.
func (db *DB) TrialTaskScores(ctx context.Context, study string, number int) ([]TaskScore, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(scoreColumns+` WHERE t.study = ? AND t.trial_number = ? ORDER BY s.id`),
		study, number)
	if err != nil {
		return nil, fmt.Errorf("results: read task scores of trial %s#%d: %w", study, number, err)
	}
	scores, err := scanScores(rows)
	if err != nil {
		return nil, fmt.Errorf("results: read task scores of trial %s#%d: %w", study, number, err)
	}
	return scores, nil
}

// ItemOutcomes returns the item outcomes of a run, in the order they were
// first recorded.
func (db *DB) ItemOutcomes(ctx context.Context, runID int64) ([]ItemOutcome, error) {
	// A database of schema version < 3 (opened read-only, so not
	// migrated) has no prompt, target, choices or overlong: '' stands in.
	extra := `o.prompt, o.target, o.choices, o.overlong`
	if db.version < 3 {
		extra = `'', '', '', ''`
	}
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT o.run_id, t.study, t.trial_number, o.task, o.item_id,
	o.correct, o.extracted, o.response, o.cached, `+extra+`
FROM mt_item_outcomes o LEFT JOIN mt_trials t ON t.id = o.trial_id
WHERE o.run_id = ? ORDER BY o.id`), runID)
	if err != nil {
		return nil, fmt.Errorf("results: read item outcomes of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []ItemOutcome
	for rows.Next() {
		var (
			o               ItemOutcome
			study           sql.NullString
			number          sql.NullInt64
			correct, cached int
			choices         string
		)
		if err := rows.Scan(&o.RunID, &study, &number, &o.Task, &o.ItemID, &correct,
			&o.Extracted, &o.Response, &cached, &o.Prompt, &o.Target, &choices, &o.Long); err != nil {
			return nil, fmt.Errorf("results: read item outcomes of run %d: %w", runID, err)
		}
		if o.Choices, err = decodeChoices(choices); err != nil {
			return nil, fmt.Errorf("results: read item outcomes of run %d: item %s: %w", runID, o.ItemID, err)
		}
		if study.Valid && number.Valid {
			o.Trial = &TrialKey{Study: study.String, Number: int(number.Int64)}
		}
		o.Correct, o.Cached = correct != 0, cached != 0
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("results: read item outcomes of run %d: %w", runID, err)
	}
	return out, nil
}

// encodeChoices stores a choice list as a JSON array ("" for none).
func encodeChoices(c []string) (string, error) {
	if len(c) == 0 {
		return "", nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode choices: %w", err)
	}
	return string(b), nil
}

// decodeChoices reads what encodeChoices stored.
func decodeChoices(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var c []string
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return nil, fmt.Errorf("stored choices %q: %w", s, err)
	}
	return c, nil
}
