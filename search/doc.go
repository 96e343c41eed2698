// Package search runs merge-hyperparameter studies: a goptuna study
// proposes settings, the merge engine builds each candidate, the evaluator
// scores it on the study's tune tasks and everything is recorded in one
// database (goptuna's rdb.v2 tables beside mergetune's mt_ tables): a
// SQLite file, or PostgreSQL when several machines share a study.
//
// Run is resumable and parallel: several goroutines and processes (and,
// on PostgreSQL, machines) may run one study. A SQLite file is opened with
// results.DSN (WAL, busy timeout, immediate transactions), goptuna's schema is migrated and the study
// created once before the workers start, each worker samples with its own
// seed, and the trial budget is the study's, not a worker's: a worker
// counts the trials in storage before starting one, and a trial created
// after the budget was spent gives itself up at once. Running trials send
// a heartbeat (a trial user attribute); a trial whose worker died (no
// heartbeat for stale_after, or a worker process on this host that is
// gone) is marked failed and its budget returned. Cancelling the context
// stops the workers after cleaning up their trials in flight.
//
// After a study, Freeze derives a recipe from the best trial (the global
// settings plus one value per per-model parameter for new models) and
// Extend merges growing sets of models with it, recording the curve of
// score against the number of merged tasks.
//
// The study file format is package search/study.
package search
