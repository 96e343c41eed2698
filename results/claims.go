package results

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Claim verdicts (eval.Verdict decides them).
const (
	VerdictHolds        = "holds"
	VerdictDoesNotHold  = "does not hold"
	VerdictInconclusive = "inconclusive"
)

// Claim is one paper claim checked on the tiny family (`mergetune
// reproduce`, package search's Reproduce): what the paper claims, the
// number the family shows with its 95% interval, and the verdict. The
// claim holds when the interval lies above Threshold (the claimed side).
type Claim struct {
	ID        string // short key, e.g. "dare-p0.9"
	Order     int    // position in the table
	Paper     string // e.g. "DARE (arXiv 2311.03099)"
	Statement string // the claim, in words
	Measure   string // what Value is, in words
	Value     float64
	Lo, Hi    float64 // 95% interval of Value
	Threshold float64 // the claim holds when the interval lies above it
	Units     int     // the units the interval is over (task subsets × seeds)
	Verdict   string  // VerdictHolds, VerdictDoesNotHold or VerdictInconclusive
	// Plot names the experiment whose points illustrate the claim (rows
	// of one paper share it); Run names the run that measured it.
	Plot string
	Run  string
}

// ClaimPlot is the plot of one experiment: its axes and points.
type ClaimPlot struct {
	Name           string // the Claim.Plot it illustrates
	Title          string
	XLabel, YLabel string
	// Bars draws one group of bars per x value (categories) instead of
	// lines.
	Bars   bool
	Points []ClaimPoint
}

// ClaimPoint is one point of a claim's plot: series at x, with its 95%
// interval. A Detail point belongs to a per-unit series (one task, one
// seed) drawn faintly under the aggregate series.
type ClaimPoint struct {
	Series string
	Detail bool
	X      float64
	Label  string // the category of a bar plot ("" for a line plot)
	Y      float64
	Lo, Hi float64
}

// PutClaims records claims and their plots (tables mt_claims,
// mt_claim_plots and mt_claim_points), replacing claims of the same ID and
// plots of the same name with all their points.
func (db *DB) PutClaims(ctx context.Context, claims []Claim, plots []ClaimPlot) error {
	now := formatTime(time.Now())
	return db.inTx(ctx, "results: record the claims", func(tx *sql.Tx) error {
		for _, c := range claims {
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO mt_claims (id, ord, paper, statement, measure, value, lo, hi,
	threshold, units, verdict, plot, run, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET ord = excluded.ord, paper = excluded.paper, statement = excluded.statement,
	measure = excluded.measure, value = excluded.value, lo = excluded.lo, hi = excluded.hi,
	threshold = excluded.threshold, units = excluded.units, verdict = excluded.verdict, plot = excluded.plot,
	run = excluded.run, created_at = excluded.created_at`),
				c.ID, c.Order, c.Paper, c.Statement, c.Measure, c.Value, c.Lo, c.Hi, c.Threshold, c.Units, c.Verdict,
				c.Plot, c.Run, now); err != nil {
				return fmt.Errorf("claim %s: %w", c.ID, err)
			}
		}
		for _, p := range plots {
			if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM mt_claim_points WHERE plot = ?`), p.Name); err != nil {
				return fmt.Errorf("plot %s: %w", p.Name, err)
			}
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO mt_claim_plots (name, title, xlabel, ylabel, bars)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET title = excluded.title, xlabel = excluded.xlabel, ylabel = excluded.ylabel,
	bars = excluded.bars`), p.Name, p.Title, p.XLabel, p.YLabel, b2i(p.Bars)); err != nil {
				return fmt.Errorf("plot %s: %w", p.Name, err)
			}
			for i, pt := range p.Points {
				if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO mt_claim_points (plot, ord, series, detail, x, label, y, lo, hi)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), p.Name, i, pt.Series, b2i(pt.Detail), pt.X, pt.Label, pt.Y, pt.Lo, pt.Hi); err != nil {
					return fmt.Errorf("plot %s, point %d: %w", p.Name, i, err)
				}
			}
		}
		return nil
	})
}

// b2i stores a bool as an integer.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Claims reads the recorded claims in table order and the plots they
// name, points in the order recorded. A database older than schema
// version 7 has none.
func (db *DB) Claims(ctx context.Context) ([]Claim, []ClaimPlot, error) {
	ok, err := db.HasTable(ctx, "mt_claims")
	if err != nil || !ok {
		return nil, nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT id, ord, paper, statement, measure, value, lo, hi, threshold, units,
	verdict, plot, run FROM mt_claims ORDER BY ord, id`)
	if err != nil {
		return nil, nil, fmt.Errorf("results: read the claims: %w", err)
	}
	var claims []Claim
	for rows.Next() {
		var c Claim
		if err := rows.Scan(&c.ID, &c.Order, &c.Paper, &c.Statement, &c.Measure, &c.Value, &c.Lo, &c.Hi, &c.Threshold,
			&c.Units, &c.Verdict, &c.Plot, &c.Run); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("results: read the claims: %w", err)
		}
		claims = append(claims, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("results: read the claims: %w", err)
	}
	prows, err := db.sql.QueryContext(ctx, `SELECT name, title, xlabel, ylabel, bars FROM mt_claim_plots ORDER BY name`)
	if err != nil {
		return nil, nil, fmt.Errorf("results: read the claim plots: %w", err)
	}
	var plots []ClaimPlot
	for prows.Next() {
		var p ClaimPlot
		var bars int
		if err := prows.Scan(&p.Name, &p.Title, &p.XLabel, &p.YLabel, &bars); err != nil {
			prows.Close()
			return nil, nil, fmt.Errorf("results: read the claim plots: %w", err)
		}
		p.Bars = bars != 0
		plots = append(plots, p)
	}
	prows.Close()
	if err := prows.Err(); err != nil {
		return nil, nil, fmt.Errorf("results: read the claim plots: %w", err)
	}
	for i := range plots {
		if plots[i].Points, err = db.claimPoints(ctx, plots[i].Name); err != nil {
			return nil, nil, err
		}
	}
	return claims, plots, nil
}

// claimPoints reads one plot's points in the order recorded.
func (db *DB) claimPoints(ctx context.Context, plot string) ([]ClaimPoint, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT series, detail, x, label, y, lo, hi FROM mt_claim_points
WHERE plot = ? ORDER BY ord`), plot)
	if err != nil {
		return nil, fmt.Errorf("results: read the points of plot %s: %w", plot, err)
	}
	defer rows.Close()
	var out []ClaimPoint
	for rows.Next() {
		var p ClaimPoint
		var detail int
		if err := rows.Scan(&p.Series, &detail, &p.X, &p.Label, &p.Y, &p.Lo, &p.Hi); err != nil {
			return nil, fmt.Errorf("results: read the points of plot %s: %w", plot, err)
		}
		p.Detail = detail != 0
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("results: read the points of plot %s: %w", plot, err)
	}
	return out, nil
}
