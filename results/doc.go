// Package results will record studies, trials, scores and per-item
// outcomes in SQLite. It is not implemented yet; see the project's open
// issues.
package results
