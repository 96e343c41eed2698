package search

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/optim"
)

// trialParams reads every trial's parameters from goptuna's tables: trial
// number → parameter name → internal value.
func trialParams(t *testing.T, path string) map[int]map[string]float64 {
	t.Helper()
	db, err := sql.Open("sqlite3", results.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT t.number, p.param_name, p.param_value FROM trial_params p JOIN trials t ON t.trial_id = p.trial_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int]map[string]float64{}
	for rows.Next() {
		var n int
		var name string
		var v float64
		if err := rows.Scan(&n, &name, &v); err != nil {
			t.Fatal(err)
		}
		if out[n] == nil {
			out[n] = map[string]float64{}
		}
		out[n][name] = v
	}
	return out
}

// paramKey renders a parameter set for comparison.
func paramKey(ps map[string]float64) string {
	names := make([]string, 0, len(ps))
	for n := range ps {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%v ", n, ps[n])
	}
	return b.String()
}

// TestProcessesDistinctParams starts two study processes at the same time
// on one SQLite study. Their workers once drew their seeds from (study
// seed, worker index, trials so far), the same in both processes, and
// repeated each other's trials (8 of 10 in pairs). Now no two trials share
// a parameter set, and each trial's parameters are those the study's seed
// and the trial's number give.
func TestProcessesDistinctParams(t *testing.T) {
	dir := t.TempDir()
	body := `method: task_arithmetic
space:
  lambda: {type: float, low: 0.3, high: 1.5}
  weight: {type: float, low: 0.3, high: 1.0, scope: per_model}
sampler: {type: random, seed: 5}
workers: 2
`
	// A first run creates the study, scores the baselines and runs the
	// default trial, so that both processes then start from the same
	// state, as two processes started at once on a study do.
	s := writeStudy(t, dir, body+"trials: 1\n")
	if _, err := Run(context.Background(), s, Options{}); err != nil {
		t.Fatal(err)
	}
	s = writeStudy(t, dir, body+"trials: 11\n")
	start := filepath.Join(dir, "start")
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range 2 {
		cmd, out := workerCmd(t, s)
		cmd.Env = append(cmd.Env, startEnv+"="+start)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	time.Sleep(300 * time.Millisecond) // both processes are up and waiting
	if err := os.WriteFile(start, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i])
		}
	}
	params := trialParams(t, s.Storage)
	if len(params) != 11 {
		t.Fatalf("%d trials with parameters, want 11", len(params))
	}
	seen := map[string]int{}
	for n, ps := range params {
		k := paramKey(ps)
		if m, dup := seen[k]; dup {
			t.Errorf("trials %d and %d share the parameters %s", m, n, k)
		}
		seen[k] = n
	}
	// Trial 0 is the enqueued default; every other trial's values are
	// those of a random sampler seeded by (study seed, number, name).
	space := searchSpace(s)
	for n, ps := range params {
		if n == 0 {
			continue
		}
		for name, got := range ps {
			want, err := optim.PerTrial{Seed: s.SamplerSeed, Make: func(seed int64) goptuna.Sampler {
				return goptuna.NewRandomSampler(goptuna.RandomSamplerOptionSeed(seed))
			}}.Sample(nil, goptuna.FrozenTrial{Number: n}, name, space[name])
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("trial %d: %s = %v, want %v (from seed %d and number %d)", n, name, got, want, s.SamplerSeed, n)
			}
		}
	}
	st, err := ReadStatus(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if st.Complete != 11 || st.Running != 0 {
		t.Errorf("%d complete, %d running; want 11, 0", st.Complete, st.Running)
	}
	for _, r := range st.Trials {
		if r.DuplicateOf != nil {
			t.Errorf("trial %d marked a duplicate of %d in a continuous space", r.Number, *r.DuplicateOf)
		}
	}
}

// TestDuplicateParams runs a study whose space holds two points: the
// trials that repeat an earlier point take its result instead of merging
// and evaluating again.
func TestDuplicateParams(t *testing.T) {
	dir := t.TempDir()
	s := writeStudy(t, dir, `method: task_arithmetic
space:
  lambda: {type: float, low: 0.5, high: 1.0, step: 0.5}
sampler: {type: random, seed: 2}
trials: 6
workers: 2
keep_best: 6
`)
	var logs []string
	sum, err := Run(context.Background(), s, Options{Log: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	st := sum.Status
	if st.Complete != 6 || st.Done() != 6 {
		t.Fatalf("%d complete, %d done; want 6 and 6", st.Complete, st.Done())
	}
	params := trialParams(t, s.Storage)
	first := map[string]results.TrialRecord{}
	dups := 0
	for _, r := range st.Trials {
		k := paramKey(params[r.Number])
		orig, seen := first[k]
		if !seen {
			first[k] = r
			if r.DuplicateOf != nil {
				t.Errorf("trial %d is the first with %s but is marked a duplicate of %d", r.Number, k, *r.DuplicateOf)
			}
			continue
		}
		dups++
		if r.DuplicateOf == nil || *r.DuplicateOf != orig.Number {
			t.Errorf("trial %d repeats trial %d (%s); DuplicateOf = %v", r.Number, orig.Number, k, r.DuplicateOf)
			continue
		}
		if r.Objective == nil || *r.Objective != *orig.Objective || r.ModelDigest != orig.ModelDigest {
			t.Errorf("duplicate trial %d: objective %v digest %s; trial %d has %v %s", r.Number, r.Objective, r.ModelDigest, orig.Number, *orig.Objective, orig.ModelDigest)
		}
		if r.MergeTime != 0 || r.EvalTime != 0 {
			t.Errorf("duplicate trial %d was merged (%s) or evaluated (%s)", r.Number, r.MergeTime, r.EvalTime)
		}
		if _, err := os.Stat(fmt.Sprintf("%s/trial-%05d", s.WorkDir, r.Number)); err == nil {
			t.Errorf("duplicate trial %d has a merged model", r.Number)
		}
	}
	if len(first) > 2 || dups != 6-len(first) {
		t.Errorf("%d distinct points, %d duplicates; want ≤ 2 points and the rest duplicates", len(first), dups)
	}
	if st.Best == nil || st.Best.DuplicateOf != nil {
		t.Errorf("best %+v: want an original trial", st.Best)
	}
	var out bytes.Buffer
	st.Write(&out)
	if !strings.Contains(out.String(), "result reused") {
		t.Errorf("status does not show duplicates:\n%s", out.String())
	}
	if !strings.Contains(strings.Join(logs, "\n"), "its result is reused") {
		t.Errorf("no log line for duplicates: %q", logs)
	}
}

// TestHoldoutCountedOnce records the best trial's holdout twice, as two
// processes finishing a study together do: status counted every score
// ("over 8 tasks" for 4); it counts each task once.
func TestHoldoutCountedOnce(t *testing.T) {
	dir := t.TempDir()
	s := writeStudy(t, dir, `method: task_arithmetic
space:
  lambda: {type: float, low: 0.3, high: 1.5}
holdout: [toy:swapcase, toy:rot1]
trials: 2
`)
	ctx := context.Background()
	sum, err := Run(ctx, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Holdout) != 2 {
		t.Fatalf("holdout scores %d, want 2", len(sum.Holdout))
	}
	db, err := results.Open(ctx, s.Storage)
	if err != nil {
		t.Fatal(err)
	}
	best := sum.Status.Best.Key()
	id, err := db.NewRun(ctx, results.Run{ModelDir: "x", ModelDigest: "d", Settings: "s", Host: "other"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range sum.Holdout {
		sc.RunID, sc.Trial, sc.Accuracy = id, &best, 1
		if err := db.AddTaskScore(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	st, err := ReadStatus(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Holdout) != 2 || st.Holdout[0].RunID != id {
		t.Errorf("holdout %+v: want 2 scores, the latest run's", st.Holdout)
	}
	var out bytes.Buffer
	st.Write(&out)
	if !strings.Contains(out.String(), "over 2 tasks") {
		t.Errorf("status:\n%s", out.String())
	}
}

// TestDefinitionChanged edits a study file under the same name and
// storage (breadcrumbs → ties): the old trials were silently mixed in and
// best returned a breadcrumbs merge. Now the run is refused, naming the
// change; --new runs a new study beside it; --force accepts.
func TestDefinitionChanged(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	body := `space:
  lambda: {type: float, low: 0.3, high: 1.5}
trials: 2
`
	s := writeStudy(t, dir, "method: breadcrumbs\n"+body)
	if _, err := Run(ctx, s, Options{}); err != nil {
		t.Fatal(err)
	}
	edited := writeStudy(t, dir, "method: ties\n"+body)
	_, err := Run(ctx, edited, Options{})
	var derr *DefinitionError
	if !errors.As(err, &derr) || !errors.Is(err, ErrDefinitionChanged) {
		t.Fatalf("run of the edited file: %v; want a DefinitionError", err)
	}
	if len(derr.Changed) != 1 || derr.Changed[0] != "method" || !strings.Contains(err.Error(), `method: ["breadcrumbs"] → ["ties"]`) ||
		!strings.Contains(err.Error(), "--new") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("error %q: want the method change and the two ways on", err)
	}
	// Reading: status shows the recorded trials, with a warning.
	st, err := ReadStatus(ctx, edited)
	if err != nil {
		t.Fatal(err)
	}
	if st.Changed == nil || st.Study != "toy" || len(st.Trials) != 2 {
		t.Errorf("status of the edited file: study %s, %d trials, changed %v", st.Study, len(st.Trials), st.Changed)
	}
	if _, err := Freeze(ctx, edited); !errors.Is(err, ErrDefinitionChanged) {
		t.Errorf("freeze of the edited file: %v; want ErrDefinitionChanged", err)
	}
	// --new: a new study toy-2, its own trials and work directory.
	sum, err := Run(ctx, edited, Options{OnChange: ChangeNew})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status.Study != "toy-2" || len(sum.Status.Trials) != 2 {
		t.Fatalf("--new ran study %s with %d trials; want toy-2 with 2", sum.Status.Study, len(sum.Status.Trials))
	}
	for _, r := range sum.Status.Trials {
		if r.Method != "ties" {
			t.Errorf("trial %d of toy-2: method %s", r.Number, r.Method)
		}
	}
	if _, err := os.Stat(s.WorkDir + "-2"); err != nil {
		t.Errorf("toy-2's work dir: %v", err)
	}
	// The edited file now reads as toy-2 (no warning), the original as toy.
	if st, err := ReadStatus(ctx, edited); err != nil || st.Study != "toy-2" || st.Changed != nil || st.Best.Method != "ties" {
		t.Errorf("status of the edited file after --new: %+v, %v", st, err)
	}
	orig := writeStudy(t, dir, "method: breadcrumbs\n"+body)
	if st, err := ReadStatus(ctx, orig); err != nil || st.Study != "toy" || st.Changed != nil || len(st.Trials) != 2 || st.Best.Method != "breadcrumbs" {
		t.Errorf("status of the original file: %+v, %v", st, err)
	}
	// Running --new again resumes toy-2 (its budget is spent).
	if sum, err := Run(ctx, edited, Options{OnChange: ChangeNew}); err != nil || sum.Status.Study != "toy-2" || len(sum.Status.Trials) != 2 {
		t.Errorf("second --new: %v", err)
	}
	// --force: toy takes the file's definition (ties, and a new merge
	// seed: a third one) and keeps its trials; later runs accept it.
	forced := writeStudy(t, dir, "method: ties\nseed: 3\n"+strings.Replace(body, "trials: 2", "trials: 3", 1))
	sum, err = Run(ctx, forced, Options{OnChange: ChangeForce})
	if err != nil || sum.Status.Study != "toy" || len(sum.Status.Trials) != 3 {
		t.Fatalf("--force: %v, %+v", err, sum)
	}
	if _, err := Run(ctx, forced, Options{}); err != nil {
		t.Errorf("a run after --force refused the accepted definition: %v", err)
	}
	if _, err := Run(ctx, orig, Options{}); !errors.Is(err, ErrDefinitionChanged) {
		t.Errorf("the original file after --force: %v; want ErrDefinitionChanged", err)
	}
}

// TestStatusReadOnly runs status on a 0-byte storage file, which once
// wrote a schema into it: status now refuses it with a clear error and
// the file stays 0 bytes; on a real study it writes nothing.
func TestStatusReadOnly(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := writeStudyAt(t, dir, "empty.db", "method: ties\ntrials: 1\n")
	if err := os.WriteFile(s.Storage, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadStatus(ctx, s)
	if err == nil || !errors.Is(err, results.ErrNotDatabase) || !strings.Contains(err.Error(), "empty") || !strings.Contains(err.Error(), s.Storage) {
		t.Errorf("status of an empty file: %v", err)
	}
	if _, err := Freeze(ctx, s); err == nil || !errors.Is(err, results.ErrNotDatabase) {
		t.Errorf("freeze of an empty file: %v", err)
	}
	if fi, err := os.Stat(s.Storage); err != nil || fi.Size() != 0 {
		t.Fatalf("the empty file was written: %v %v", fi.Size(), err)
	}
	// A study run elsewhere: status leaves its database as it is.
	s = writeStudy(t, dir, "method: ties\ntrials: 1\n")
	if _, err := Run(ctx, s, Options{}); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(s.Storage)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadStatus(ctx, s); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(s.Storage); !bytes.Equal(before, after) {
		t.Error("status changed the study's database")
	}
	// A study the storage does not hold.
	other := *s
	other.Name = "absent"
	if _, err := ReadStatus(ctx, &other); err == nil || !strings.Contains(err.Error(), "study absent not found") {
		t.Errorf("status of an absent study: %v", err)
	}
}
