// Package report turns a mergetune study database into a report: one
// self-contained HTML page (inline SVG plots, inline CSS, no script and
// no network), a markdown summary, or a CSV of the trials.
//
// Load reads everything a report shows from one SQLite file: every study
// in goptuna's tables with its trials, parameters and intermediate values,
// mergetune's trial records, per-task scores with their intervals,
// baselines and holdout scores, the paired comparison of each study's
// best trial with its base and task models on their recorded items
// (eval.Compare), and the extension curve that a demo (or
// any caller of SaveCurve) stored in the mt_report_curve table. A file
// holding several studies (one per merge method, say) gives one report
// with a section per study and a comparison of them all.
package report
