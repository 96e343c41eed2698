// Package results records mergetune's evaluations and searches in SQLite
// or, for studies shared by several machines, PostgreSQL.
//
// One database (a SQLite file, or a PostgreSQL database named by a
// postgres:// DSN) holds:
//
//   - the evaluation cache (mt_eval_cache): one row per scored item, keyed
//     by a caller-computed key over the model's content digest, the
//     rendered prompt and the request options, so a model that was already
//     evaluated costs nothing the second time;
//   - evaluation runs (mt_eval_runs) with their per-task scores
//     (mt_task_scores) and per-item outcomes (mt_item_outcomes), written by
//     `mergetune eval` and by the search harness;
//   - a study's own records (mt_trials, mt_baselines, its definition in
//     mt_studies and its settings in mt_study_settings: task models,
//     objective, task weights, the study file's text, so a report needs
//     only the database), which sit beside goptuna's rdb.v2 tables
//     (studies, trials, ...) in the same file (DB.Goptuna reads those
//     through goptuna's storage over the same connections), and where each
//     trial's time went, stage by stage (mt_trial_stages: merge, the
//     backend's import stages, evaluate; DB.SetTrialStages, read into
//     TrialRecord.Stages). Every
//     mergetune table is prefixed "mt_" so the two never clash;
//   - the extension curve (mt_report_curve; DB.PutCurve, DB.Curve): a
//     point per size, scale rule and subset of task models, and each
//     size's aggregate across subsets;
//   - the confirmation of a study's best trials before freezing
//     (mt_confirmations; DB.PutConfirmations, DB.Confirmations): each
//     re-scored trial's tune objective, confirmed score and items, and the
//     one frozen.
//
// The schema is versioned in the mergetune_schema table and migrated by
// Open inside one immediate transaction, so several processes may open
// the same file at once. Open the database (and so migrate it) once before
// starting workers.
//
// Concurrency: every connection uses the DSN returned by DSN (WAL journal,
// a 10 s busy timeout and BEGIN IMMEDIATE transactions), so concurrent
// writers from goroutines and processes wait for the write lock instead of
// failing with "database is locked". Every multi-row write runs in one
// transaction; nothing is left half-written. Give goptuna's gorm
// connection the same DSN.
//
// PostgreSQL: Open takes a postgres:// or postgresql:// DSN and talks to
// the server through pgx (database/sql). Queries are written once with ?
// placeholders (rebound to $1, $2, ...) and ON CONFLICT upserts, which both
// dialects accept; the DDL is rewritten for PostgreSQL (BIGSERIAL keys,
// BIGINT, DOUBLE PRECISION, and BYTEA for prompts and responses, which
// may hold NUL bytes). Migration takes the MigrationLock advisory lock
// inside its transaction, so processes on several machines may open a new
// database at once.
package results
