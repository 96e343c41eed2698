package results

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"
)

// Stage is the time one stage of a trial took: "merge", "write", "hash",
// "upload", "create", "load", "evaluate", … (the names a backend
// reports).
type Stage struct {
	Name string
	Time time.Duration
}

// Stages is where a trial's time went, stage by stage, in the order the
// stages ran.
type Stages []Stage

// Total is the sum of the stages' times.
func (s Stages) Total() time.Duration {
	var t time.Duration
	for _, st := range s {
		t += st.Time
	}
	return t
}

// Get returns the time of the stage named name; the bool is false when s
// has none.
func (s Stages) Get(name string) (time.Duration, bool) {
	for _, st := range s {
		if st.Name == name {
			return st.Time, true
		}
	}
	return 0, false
}

// StageNames returns the stage names of recs' stages in the order they
// ran, each once: the order of the first trial that has it, a stage no
// earlier trial had after the stages it follows.
func StageNames(recs []TrialRecord) []string {
	var names []string
	seen := map[string]bool{}
	for _, r := range recs {
		at := 0
		for _, st := range r.Stages {
			if seen[st.Name] {
				for i, n := range names {
					if n == st.Name {
						at = i + 1
					}
				}
				continue
			}
			seen[st.Name] = true
			names = append(names[:at], append([]string{st.Name}, names[at:]...)...)
			at++
		}
	}
	return names
}

// MedianStages returns, for each stage name of recs (StageNames order),
// the median of its time over the finished (complete or pruned) trials
// that recorded it, and how many trials that is.
func MedianStages(recs []TrialRecord) (Stages, int) {
	times := map[string][]time.Duration{}
	n := 0
	for _, r := range recs {
		if !r.finishedWithStages() {
			continue
		}
		n++
		for _, st := range r.Stages {
			times[st.Name] = append(times[st.Name], st.Time)
		}
	}
	var out Stages
	for _, name := range StageNames(recs) {
		ts := times[name]
		if len(ts) == 0 {
			continue
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		m := ts[len(ts)/2]
		if len(ts)%2 == 0 {
			m = (ts[len(ts)/2-1] + ts[len(ts)/2]) / 2
		}
		out = append(out, Stage{Name: name, Time: m})
	}
	return out, n
}

// SetTrialStages records the stages of the trial key, replacing any
// recorded before.
func (db *DB) SetTrialStages(ctx context.Context, key TrialKey, stages Stages) error {
	what := fmt.Sprintf("results: record the stages of trial %s#%d", key.Study, key.Number)
	return db.inTx(ctx, what, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM mt_trial_stages WHERE study = ? AND trial_number = ?`), key.Study, key.Number); err != nil {
			return err
		}
		for i, st := range stages {
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO mt_trial_stages (study, trial_number, stage, ord, seconds) VALUES (?, ?, ?, ?, ?)`),
				key.Study, key.Number, st.Name, i, st.Time.Seconds()); err != nil {
				return fmt.Errorf("stage %q: %w", st.Name, err)
			}
		}
		return nil
	})
}

// trialStages returns the recorded stages of the study's trials by trial
// number (only trial number, when it is not nil). A database of schema
// version < 6 (opened read-only, so not migrated) has none.
func (db *DB) trialStages(ctx context.Context, study string, number *int) (map[int]Stages, error) {
	out := map[int]Stages{}
	if db.version < 6 {
		return out, nil
	}
	query, args := `SELECT trial_number, stage, seconds FROM mt_trial_stages WHERE study = ?`, []any{study}
	if number != nil {
		query += ` AND trial_number = ?`
		args = append(args, *number)
	}
	rows, err := db.sql.QueryContext(ctx, db.q(query+` ORDER BY trial_number, ord`), args...)
	if err != nil {
		return nil, fmt.Errorf("results: read the trial stages of study %q: %w", study, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			n    int
			name string
			s    float64
		)
		if err := rows.Scan(&n, &name, &s); err != nil {
			return nil, fmt.Errorf("results: read the trial stages of study %q: %w", study, err)
		}
		out[n] = append(out[n], Stage{Name: name, Time: seconds(s)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("results: read the trial stages of study %q: %w", study, err)
	}
	return out, nil
}

// LastStages returns the finished (complete or pruned) trial of recs that
// finished last among those that recorded their stages; the bool is false
// when none did.
func LastStages(recs []TrialRecord) (TrialRecord, bool) {
	var last TrialRecord
	ok := false
	for _, r := range recs {
		if r.finishedWithStages() && (!ok || r.FinishedAt.After(last.FinishedAt)) {
			last, ok = r, true
		}
	}
	return last, ok
}

// finishedWithStages reports whether r is a finished (complete or pruned)
// trial that recorded its stages.
func (r TrialRecord) finishedWithStages() bool {
	return (r.State == TrialComplete || r.State == TrialPruned) && len(r.Stages) > 0
}
