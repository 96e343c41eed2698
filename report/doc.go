// Package report turns a mergetune study database into a report: one
// self-contained HTML page (inline SVG plots, inline CSS, no script and
// no network), a markdown summary, or a CSV of the trials and one of the
// extension curve's points.
//
// Load reads everything a report shows from the database alone (a SQLite
// file or a PostgreSQL DSN, opened once and read-only): every study in
// goptuna's tables, read through goptuna's storage interface (rdb.v2),
// with its trials, parameters and intermediate values; mergetune's trial
// records, per-task scores with their intervals, baselines and holdout
// scores, and the settings each study recorded when it ran (task models,
// objective and task weights, the study file's text); the paired
// comparison of each study's best trial with its base and task models on
// their recorded items (eval.Compare); and the extension curve that
// extend or the demo recorded (results.DB.PutCurve: a point per size,
// scale rule and subset of task models, and each size's aggregate). No study file, model or task file is
// read. Normalized accuracies are the study's own scoring rule
// (eval.Scoring). A file holding several studies (one per merge method,
// say) gives one report with a section per study and a comparison of them
// all.
//
// The package sits above search and is imported only by cmd; it imports
// neither search nor search/study.
package report
