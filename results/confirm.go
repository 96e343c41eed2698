package results

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Confirmation is one of a study's best trials re-scored before freezing
// (search.Confirm): its objective on the tune items the search saw, its
// score on more items, and whether it is the one frozen.
type Confirmation struct {
	Study    string
	Trial    int
	TuneRank int     // 1 for the trial with the best tune objective
	Tune     float64 // the trial's objective in the search
	Confirm  float64 // the same objective on the confirmation items
	Items    int     // items the confirmation evaluated
	Chosen   bool    // the trial frozen: the best confirmed score
}

// Gap is the tune objective minus the confirmed score: how much the
// search's choice was flattered by its own items.
func (c Confirmation) Gap() float64 { return c.Tune - c.Confirm }

// PutConfirmations replaces a study's confirmations (table
// mt_confirmations) with cs.
func (db *DB) PutConfirmations(ctx context.Context, study string, cs []Confirmation) error {
	now := formatTime(time.Now())
	return db.inTx(ctx, "results: record the confirmations of study "+study, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM mt_confirmations WHERE study = ?`), study); err != nil {
			return err
		}
		for _, c := range cs {
			chosen := 0
			if c.Chosen {
				chosen = 1
			}
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO mt_confirmations (study, trial_number, tune_rank, objective, confirmed,
	items, chosen, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), study, c.Trial, c.TuneRank, c.Tune, c.Confirm, c.Items, chosen, now); err != nil {
				return fmt.Errorf("trial %d: %w", c.Trial, err)
			}
		}
		return nil
	})
}

// Confirmations reads a study's confirmations by tune rank; a database
// of schema version < 8 (opened read-only, so not migrated) has none.
func (db *DB) Confirmations(ctx context.Context, study string) ([]Confirmation, error) {
	if db.version < 8 {
		return nil, nil
	}
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT trial_number, tune_rank, objective, confirmed, items, chosen
FROM mt_confirmations WHERE study = ? ORDER BY tune_rank`), study)
	if err != nil {
		return nil, fmt.Errorf("results: read the confirmations of study %q: %w", study, err)
	}
	defer rows.Close()
	var out []Confirmation
	for rows.Next() {
		c := Confirmation{Study: study}
		var chosen int
		if err := rows.Scan(&c.Trial, &c.TuneRank, &c.Tune, &c.Confirm, &c.Items, &chosen); err != nil {
			return nil, fmt.Errorf("results: read the confirmations of study %q: %w", study, err)
		}
		c.Chosen = chosen != 0
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("results: read the confirmations of study %q: %w", study, err)
	}
	return out, nil
}
