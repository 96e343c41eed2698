package search

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/study"
)

// OnChange says what Run does when the study file's definition (see
// study.DefinitionFields) differs from the one recorded with the study's
// trials.
type OnChange int

const (
	// ChangeRefuse stops with an error naming the changed fields: the
	// old trials would otherwise be mixed with trials of another search.
	ChangeRefuse OnChange = iota
	// ChangeNew runs the file as a new study, named after it with a
	// suffix (-2, -3, …; the first whose recorded definition matches, or
	// the first free one), with a work directory of that name.
	ChangeNew
	// ChangeForce accepts the change: the new definition is recorded and
	// the study goes on with its old trials.
	ChangeForce
)

// ErrDefinitionChanged is wrapped by the error of a run or a read whose
// study file's definition differs from the recorded one.
var ErrDefinitionChanged = errors.New("the study file's definition differs from the one its trials were recorded with")

// DefinitionError reports a changed study definition.
type DefinitionError struct {
	File    string   // the study file
	Study   string   // the study's name
	Storage string   // the storage, its password masked
	Changed []string // the changed fields
	Detail  string   // field: old → new, one per changed field
}

func (e *DefinitionError) Error() string {
	return fmt.Sprintf("search: %s: %v (study %s in %s): %s. Its trials would be mixed with trials of another search: run with --new to start a new study beside it, or --force to accept the change",
		e.File, ErrDefinitionChanged, e.Study, e.Storage, e.Detail)
}

// Unwrap returns ErrDefinitionChanged.
func (e *DefinitionError) Unwrap() error { return ErrDefinitionChanged }

// definitionError describes how the recorded definition rec differs from
// the study's.
func definitionError(s *study.Study, rec results.StudyDefinition) *DefinitionError {
	cur := s.Definition()
	old, err := study.DecodeDefinition(rec.Definition)
	if err != nil {
		old = map[string]string{}
	}
	changed := study.DefinitionChanges(old, cur)
	parts := make([]string, len(changed))
	for i, k := range changed {
		parts[i] = fmt.Sprintf("%s: %s → %s", k, short(old[k]), short(cur[k]))
	}
	return &DefinitionError{File: s.File, Study: rec.Study, Storage: results.RedactDSN(s.Storage), Changed: changed, Detail: strings.Join(parts, "; ")}
}

// short abbreviates a JSON value for a message.
func short(v string) string {
	if v == "" {
		return "(none)"
	}
	if r := []rune(v); len(r) > 60 {
		return string(r[:57]) + "..."
	}
	return v
}

// maxSuffix bounds the suffixes ChangeNew tries.
const maxSuffix = 1000

// resolveRun records the study's definition, or compares it with the
// recorded one, and returns the study to run: s itself, or under
// ChangeNew a copy named and housed as the new study. A study recorded
// before definitions were kept (schema version 1) takes the file's
// definition at its next run: there is nothing to compare it with.
func (st *Store) resolveRun(ctx context.Context, s *study.Study, on OnChange, logf func(string, ...any)) (*study.Study, error) {
	text, hash := s.DefinitionJSON()
	def := results.StudyDefinition{Study: s.Name, Origin: s.Name, Hash: hash, Definition: text}
	rec, err := st.Results.PutStudyDefinition(ctx, def, false)
	if err != nil {
		return nil, fmt.Errorf("search: %s: %w", s.File, err)
	}
	if rec.Hash == hash {
		return s, nil
	}
	derr := definitionError(s, rec)
	switch on {
	case ChangeForce:
		if _, err := st.Results.PutStudyDefinition(ctx, def, true); err != nil {
			return nil, fmt.Errorf("search: %s: %w", s.File, err)
		}
		logf("study %s: definition changed (%s); accepted (--force): the old trials stay in the study", s.Name, derr.Detail)
		return s, nil
	case ChangeNew:
		name, err := st.newStudyName(ctx, s, def)
		if err != nil {
			return nil, err
		}
		logf("study %s: definition changed (%s); running it as study %s (--new)", s.Name, derr.Detail, name)
		return renamed(s, name), nil
	}
	return nil, derr
}

// newStudyName finds the study that --new runs: an earlier one started
// from this file with the same definition, or the first free name.
func (st *Store) newStudyName(ctx context.Context, s *study.Study, def results.StudyDefinition) (string, error) {
	from, err := st.Results.StudiesFrom(ctx, s.Name)
	if err != nil {
		return "", fmt.Errorf("search: %s: %w", s.File, err)
	}
	for i := len(from) - 1; i >= 0; i-- {
		if from[i].Hash == def.Hash && from[i].Study != s.Name {
			return from[i].Study, nil
		}
	}
	for k := 2; k <= maxSuffix; k++ {
		name := fmt.Sprintf("%s-%d", s.Name, k)
		if _, ok, err := st.Results.StudyDefinition(ctx, name); err != nil {
			return "", fmt.Errorf("search: %s: %w", s.File, err)
		} else if !ok {
			// A study recorded before definitions were kept may
			// hold the name: leave it alone.
			if _, err := st.Storage.GetStudyIDFromName(name); err == nil {
				continue
			}
		}
		d := def
		d.Study = name
		rec, err := st.Results.PutStudyDefinition(ctx, d, false)
		if err != nil {
			return "", fmt.Errorf("search: %s: %w", s.File, err)
		}
		if rec.Hash == def.Hash && rec.Origin == s.Name {
			return name, nil // ours, or a concurrent --new's with the same file
		}
	}
	return "", fmt.Errorf("search: %s: no free name for a new study: %s-2 … %s-%d are all taken", s.File, s.Name, s.Name, maxSuffix)
}

// renamed returns a copy of s named name, with its own work directory
// (the study's, with the name's suffix added).
func renamed(s *study.Study, name string) *study.Study {
	c := *s
	c.Name = name
	c.WorkDir = filepath.Clean(s.WorkDir) + strings.TrimPrefix(name, s.Name)
	return &c
}

// resolveRead finds the recorded study a study file names, for reading:
// the study itself when its definition matches (or none is recorded), else
// the newest study started from the file with --new whose definition
// matches. When none matches it returns the study itself and the error
// describing the change.
func resolveRead(ctx context.Context, db *results.DB, s *study.Study) (*study.Study, *DefinitionError, error) {
	rec, ok, err := db.StudyDefinition(ctx, s.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("search: %s: %w", s.File, err)
	}
	_, hash := s.DefinitionJSON()
	if !ok || rec.Hash == hash {
		return s, nil, nil
	}
	from, err := db.StudiesFrom(ctx, s.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("search: %s: %w", s.File, err)
	}
	for i := len(from) - 1; i >= 0; i-- {
		if from[i].Hash == hash {
			return renamed(s, from[i].Study), nil, nil
		}
	}
	return s, definitionError(s, rec), nil
}
