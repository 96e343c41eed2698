package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// StudyDefinition is the recorded definition of a study: what its trials'
// values depend on (see study.Study.Definition), so that a study file
// edited under the same name and storage is noticed instead of mixing
// trials of two different searches.
type StudyDefinition struct {
	Study      string // the study's name in the records
	Origin     string // the name in the study file (differs for a study started with --new)
	Hash       string // hex SHA-256 of Definition
	Definition string // the normalized definition, JSON
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// studyColumns selects a StudyDefinition.
const studyColumns = `SELECT study, origin, hash, definition, created_at, updated_at FROM mt_studies`

func scanStudy(sc scanner) (StudyDefinition, error) {
	var d StudyDefinition
	var created, updated string
	if err := sc.Scan(&d.Study, &d.Origin, &d.Hash, &d.Definition, &created, &updated); err != nil {
		return StudyDefinition{}, err
	}
	var err error
	if d.CreatedAt, err = parseTime(created); err != nil {
		return StudyDefinition{}, err
	}
	if d.UpdatedAt, err = parseTime(updated); err != nil {
		return StudyDefinition{}, err
	}
	return d, nil
}

// StudyDefinition returns the recorded definition of a study. The bool is
// false when there is none (a new study, or one recorded before schema
// version 2).
func (db *DB) StudyDefinition(ctx context.Context, study string) (StudyDefinition, bool, error) {
	if db.version < 2 {
		return StudyDefinition{}, false, nil
	}
	d, err := scanStudy(db.sql.QueryRowContext(ctx, db.q(studyColumns+` WHERE study = ?`), study))
	if errors.Is(err, sql.ErrNoRows) {
		return StudyDefinition{}, false, nil
	}
	if err != nil {
		return StudyDefinition{}, false, fmt.Errorf("results: read the definition of study %q: %w", study, err)
	}
	return d, true, nil
}

// StudiesFrom returns the recorded studies started from the study file
// named origin (itself, and those started with --new), oldest first.
func (db *DB) StudiesFrom(ctx context.Context, origin string) ([]StudyDefinition, error) {
	if db.version < 2 {
		return nil, nil
	}
	rows, err := db.sql.QueryContext(ctx, db.q(studyColumns+` WHERE origin = ? ORDER BY created_at, study`), origin)
	if err != nil {
		return nil, fmt.Errorf("results: list the studies of %q: %w", origin, err)
	}
	defer rows.Close()
	var out []StudyDefinition
	for rows.Next() {
		d, err := scanStudy(rows)
		if err != nil {
			return nil, fmt.Errorf("results: list the studies of %q: %w", origin, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("results: list the studies of %q: %w", origin, err)
	}
	return out, nil
}

// PutStudyDefinition records d's definition of d.Study and returns the
// definition recorded afterwards. Without replace an existing record is
// kept (the caller compares the returned hash with its own, which is how
// concurrent processes agree on one definition); with replace it is
// overwritten (keeping its creation time).
func (db *DB) PutStudyDefinition(ctx context.Context, d StudyDefinition, replace bool) (StudyDefinition, error) {
	what := fmt.Sprintf("results: record the definition of study %q", d.Study)
	if d.Study == "" || d.Origin == "" || d.Hash == "" {
		return StudyDefinition{}, fmt.Errorf("%s: empty study, origin or hash", what)
	}
	now := formatTime(time.Now())
	conflict := `DO NOTHING`
	if replace {
		conflict = `DO UPDATE SET origin = excluded.origin, hash = excluded.hash,
	definition = excluded.definition, updated_at = excluded.updated_at`
	}
	var out StudyDefinition
	err := db.inTx(ctx, what, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO mt_studies (study, origin, hash, definition, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (study) `+conflict), d.Study, d.Origin, d.Hash, d.Definition, now, now); err != nil {
			return err
		}
		var err error
		out, err = scanStudy(tx.QueryRowContext(ctx, db.q(studyColumns+` WHERE study = ?`), d.Study))
		return err
	})
	if err != nil {
		return StudyDefinition{}, err
	}
	return out, nil
}
