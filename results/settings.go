package results

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// AttrStudyFile is the goptuna study user attribute where the search
// keeps the study file's path (read by reports of databases that predate
// StudySettings).
const AttrStudyFile = "mergetune:study_file"

// StudySettings are what a study was created with, recorded (schema
// version 4) so that a report needs only the database: no study file,
// models or task files on the machine that makes it.
type StudySettings struct {
	Study string `json:"-"` // the study's name in the records
	// File is the study file's path as it was given, and Text its text.
	File string `json:"file"`
	Text string `json:"text"`
	// Methods are the merge methods searched.
	Methods []string `json:"methods"`
	// Search is the study's search mode when it is not sampling
	// ("greedy_soup"); empty for a sampling study.
	Search string `json:"search,omitempty"`
	// Objective is "mean" or "normalized"; Weights are the tune tasks'
	// weights by task name (a task not listed weighs 1).
	Objective string             `json:"objective"`
	Weights   map[string]float64 `json:"weights,omitempty"`
	// Models are the task models in order (not the base model).
	Models []StudyModel `json:"models"`
	// Tune and Holdout are the task names.
	Tune    []string `json:"tune"`
	Holdout []string `json:"holdout"`
	// TaskModels names the model tuned for each task tagged with one
	// (task name → model name): whose baseline normalizes the task.
	TaskModels map[string]string `json:"task_models"`
	// Summary is the study's settings as a report lists them, in order.
	Summary []Setting `json:"summary"`
}

// StudyModel is one task model of a study.
type StudyModel struct {
	Name  string   `json:"name"`
	Path  string   `json:"path"`
	Tasks []string `json:"tasks"` // the tags of the tasks it was tuned for
}

// Setting is one line of a study's settings summary.
type Setting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// PutStudySettings records a study's settings, replacing those recorded
// before (keeping their creation time).
func (db *DB) PutStudySettings(ctx context.Context, s StudySettings) error {
	what := fmt.Sprintf("results: record the settings of study %q", s.Study)
	if s.Study == "" {
		return fmt.Errorf("%s: empty study name", what)
	}
	text, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	now := formatTime(time.Now())
	err = db.exec(ctx, db.q(`INSERT INTO mt_study_settings (study, settings, created_at, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (study) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`), s.Study, string(text), now, now)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// StudySettings returns a study's recorded settings. The bool is false
// when there are none: a study recorded before schema version 4 that has
// not run since, or no such study.
func (db *DB) StudySettings(ctx context.Context, study string) (StudySettings, bool, error) {
	if db.version < 4 {
		return StudySettings{}, false, nil
	}
	var text string
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT settings FROM mt_study_settings WHERE study = ?`), study).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return StudySettings{}, false, nil
	}
	if err != nil {
		return StudySettings{}, false, fmt.Errorf("results: read the settings of study %q: %w", study, err)
	}
	var s StudySettings
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return StudySettings{}, false, fmt.Errorf("results: the settings of study %q: %w", study, err)
	}
	s.Study = study
	return s, true, nil
}

// Best returns a study's best trial among its records: FinalBestTrial
// for a greedy soup (its final soup), BestTrial otherwise.
func (s *StudySettings) Best(recs []TrialRecord) (TrialRecord, bool) {
	if s != nil && s.Search == SearchGreedySoup {
		return FinalBestTrial(recs)
	}
	return BestTrial(recs)
}

// SearchGreedySoup is the Search of a greedy soup study (the study
// file's search: greedy_soup).
const SearchGreedySoup = "greedy_soup"
