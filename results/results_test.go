package results

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// openTemp opens a fresh database in a temporary directory and closes it
// when the test ends.
func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "results.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// count returns the number of rows of table.
func count(t *testing.T, db *DB, table string) int {
	t.Helper()
	var n int
	if err := db.sql.QueryRowContext(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func TestDSN(t *testing.T) {
	got := DSN("/tmp/x/study.db")
	want := "/tmp/x/study.db?_busy_timeout=10000&_journal_mode=WAL&_txlock=immediate"
	if got != want {
		t.Errorf("DSN = %q, want %q", got, want)
	}
}

func TestOpenIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	for i := range 3 {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		v, err := db.Version(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v != SchemaVersion {
			t.Errorf("open %d: version %d, want %d", i, v, SchemaVersion)
		}
		// Data written by an earlier open survives later ones.
		if err := db.PutCached(ctx, fmt.Sprint("k", i), CachedOutcome{Task: "t"}); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "mt_eval_cache"); n != i+1 {
			t.Errorf("open %d: %d cache rows, want %d", i, n, i+1)
		}
		if n := count(t, db, "mergetune_schema"); n != 1 {
			t.Errorf("open %d: %d schema rows, want 1", i, n)
		}
		var mode string
		if err := db.sql.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" {
			t.Errorf("journal mode %q, want wal", mode)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenConcurrent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	const n = 8
	dbs := make([]*DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = Open(ctx, path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("open %d: %v", i, errs[i])
			continue
		}
		if v, err := dbs[i].Version(ctx); err != nil || v != SchemaVersion {
			t.Errorf("open %d: version %d, %v", i, v, err)
		}
		dbs[i].Close()
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.db")
	db, err := Open(ctx, newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.sql.ExecContext(ctx, "UPDATE mergetune_schema SET version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	missing := filepath.Join(dir, "no", "such", "dir", "r.db")
	for _, tc := range []struct {
		name, path string
		want       []string // substrings of the error
	}{
		{"missing directory", missing, []string{missing, "does not exist"}},
		{"path is a directory", dir, []string{dir, "is a directory"}},
		{"question mark", filepath.Join(dir, "a?b.db"), []string{"must not contain '?'"}},
		{"empty", "", []string{"empty database path"}},
		{"memory", ":memory:", []string{"not a SQLite URI or in-memory"}},
		{"newer schema", newer, []string{newer, "schema version 99 is newer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(ctx, tc.path)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded", tc.path)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestCacheRoundTrip(t *testing.T) { testCacheRoundTrip(t, openTemp) }

func testCacheRoundTrip(t *testing.T, open func(*testing.T) *DB) {
	ctx := context.Background()
	db := open(t)
	for _, tc := range []struct {
		name string
		key  string
		o    CachedOutcome
	}{
		{"plain", "k1", CachedOutcome{
			ModelDigest: "sha256:abc", Settings: `{"temperature":0}`, Task: "gsm8k", ItemID: "17",
			Prompt: "Q: 2+2?\nA:", Response: " 4\n#### 4", Extracted: "4", Correct: true,
			Latency: 1234567 * time.Nanosecond,
		}},
		{"empty response", "k2", CachedOutcome{ModelDigest: "d", Task: "arc", ItemID: "0", Latency: 0}},
		{"unicode and long latency", "k3", CachedOutcome{
			ModelDigest: "d", Task: "piqa", ItemID: "x-1", Prompt: "héllo ☃\x00tail",
			Response: "日本語", Extracted: "B", Latency: 90*time.Second + 3*time.Nanosecond,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok, err := db.GetCached(ctx, tc.key); err != nil || ok {
				t.Fatalf("before put: ok=%v err=%v", ok, err)
			}
			if err := db.PutCached(ctx, tc.key, tc.o); err != nil {
				t.Fatal(err)
			}
			got, ok, err := db.GetCached(ctx, tc.key)
			if err != nil || !ok {
				t.Fatalf("after put: ok=%v err=%v", ok, err)
			}
			if got != tc.o {
				t.Errorf("got %+v\nwant %+v", got, tc.o)
			}
		})
	}

	// Putting the same key again replaces the outcome.
	o := CachedOutcome{Task: "gsm8k", ItemID: "17", Extracted: "5"}
	if err := db.PutCached(ctx, "k1", o); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := db.GetCached(ctx, "k1"); got != o {
		t.Errorf("after replace got %+v, want %+v", got, o)
	}
	if n := count(t, db, "mt_eval_cache"); n != 3 {
		t.Errorf("%d cache rows, want 3", n)
	}
	if err := db.PutCached(ctx, "", o); err == nil {
		t.Error("empty key accepted")
	}
}

func TestRunsRoundTrip(t *testing.T) { testRunsRoundTrip(t, openTemp) }

func testRunsRoundTrip(t *testing.T, open func(*testing.T) *DB) {
	ctx := context.Background()
	db := open(t)
	start := time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("x", 3600))
	run := Run{StartedAt: start, ModelDir: "/m/merged", ModelDigest: "sha256:1", Settings: "{}", Host: "http://127.0.0.1:11434"}
	id, err := db.NewRun(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := db.Run(ctx, id)
	if err != nil || !ok {
		t.Fatalf("Run(%d): ok=%v err=%v", id, ok, err)
	}
	if !got.StartedAt.Equal(start) || got.ModelDir != run.ModelDir || got.ModelDigest != run.ModelDigest ||
		got.Settings != run.Settings || got.Host != run.Host || got.ID != id {
		t.Errorf("Run = %+v, want %+v", got, run)
	}
	if _, ok, err := db.Run(ctx, id+100); err != nil || ok {
		t.Errorf("missing run: ok=%v err=%v", ok, err)
	}
	id2, err := db.NewRun(ctx, Run{ModelDir: "/m/other"})
	if err != nil {
		t.Fatal(err)
	}
	if id2 == id {
		t.Fatalf("run ids not unique: %d", id)
	}
	if r, _, _ := db.Run(ctx, id2); r.StartedAt.IsZero() {
		t.Error("zero StartedAt not replaced by now")
	}

	if err := db.UpsertTrial(ctx, TrialRecord{Study: "s", Number: 3, State: TrialRunning}); err != nil {
		t.Fatal(err)
	}
	trial := &TrialKey{Study: "s", Number: 3}
	scores := []TaskScore{
		{RunID: id, Task: "gsm8k", Split: "tune", N: 50, Correct: 40, Accuracy: 0.8, CILo: 0.68, CIHi: 0.9},
		{RunID: id, Trial: trial, Task: "arc", Split: "holdout", N: 10, Correct: 0, Accuracy: 0, CILo: 0, CIHi: 0},
	}
	for _, s := range scores {
		if err := db.AddTaskScore(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// Re-scoring the same run, task and split replaces the score.
	scores[0].Correct, scores[0].Accuracy = 45, 0.9
	if err := db.AddTaskScore(ctx, scores[0]); err != nil {
		t.Fatal(err)
	}
	gotScores, err := db.TaskScores(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotScores, scores) {
		t.Errorf("TaskScores = %+v\nwant %+v", gotScores, scores)
	}
	if other, err := db.TaskScores(ctx, id2); err != nil || len(other) != 0 {
		t.Errorf("scores of run %d: %v, %v", id2, other, err)
	}
	trialScores, err := db.TrialTaskScores(ctx, "s", 3)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(trialScores, scores[1:]) {
		t.Errorf("TrialTaskScores = %+v, want %+v", trialScores, scores[1:])
	}

	outcomes := []ItemOutcome{
		{RunID: id, Task: "gsm8k", ItemID: "0", Correct: true, Extracted: "18", Response: "#### 18",
			Prompt: "Question: 9+9?\nAnswer:", Target: "#### 18"},
		{RunID: id, Task: "gsm8k", ItemID: "1", Extracted: "", Response: "", Cached: true,
			Prompt: "…long tail", Target: "7", Long: "truncated"},
		{RunID: id, Trial: trial, Task: "arc", ItemID: "Mercury_7", Correct: true, Extracted: "C", Response: " C",
			Prompt: "Q?\nA. x\nB. y\nC. \"z\"\nAnswer:", Target: "C", Choices: []string{"x", "y", `"z"`}},
		{RunID: id, Task: "arc", ItemID: "long", Long: "skipped", Prompt: "p", Target: "A", Choices: []string{"a"}},
	}
	if err := db.AddItemOutcomes(ctx, outcomes); err != nil {
		t.Fatal(err)
	}
	if err := db.AddItemOutcomes(ctx, nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
	gotOutcomes, err := db.ItemOutcomes(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotOutcomes, outcomes) {
		t.Errorf("ItemOutcomes = %+v\nwant %+v", gotOutcomes, outcomes)
	}
}

func TestRunWritesRejected(t *testing.T) { testRunWritesRejected(t, openTemp) }

func testRunWritesRejected(t *testing.T, open func(*testing.T) *DB) {
	ctx := context.Background()
	db := open(t)
	id, err := db.NewRun(ctx, Run{ModelDir: "/m"})
	if err != nil {
		t.Fatal(err)
	}
	good := ItemOutcome{RunID: id, Task: "t", ItemID: "a"}
	unknownTrial := &TrialKey{Study: "nope", Number: 1}
	for _, tc := range []struct {
		name    string
		score   *TaskScore
		batch   []ItemOutcome
		wantErr string
	}{
		{"score of unknown run", &TaskScore{RunID: id + 50, Task: "t"}, nil, "FOREIGN KEY"},
		{"score of unknown trial", &TaskScore{RunID: id, Trial: unknownTrial, Task: "t"}, nil, "trial nope#1 is not recorded"},
		{"score with bad counts", &TaskScore{RunID: id, Task: "t", N: 3, Correct: 4}, nil, "4 correct of 3"},
		{"score without task", &TaskScore{RunID: id}, nil, "empty task name"},
		{"batch ending in unknown trial", nil, []ItemOutcome{good, {RunID: id, Trial: unknownTrial, Task: "t", ItemID: "b"}}, "not recorded"},
		{"batch ending in unknown run", nil, []ItemOutcome{good, {RunID: id + 50, Task: "t", ItemID: "b"}}, "FOREIGN KEY"},
		{"batch with invalid run id", nil, []ItemOutcome{good, {Task: "t", ItemID: "b"}}, "invalid run id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.score != nil {
				err = db.AddTaskScore(ctx, *tc.score)
			} else {
				err = db.AddItemOutcomes(ctx, tc.batch)
			}
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			// Nothing is half-written.
			if n := count(t, db, "mt_task_scores"); n != 0 {
				t.Errorf("%d task scores written", n)
			}
			if n := count(t, db, "mt_item_outcomes"); n != 0 {
				t.Errorf("%d item outcomes written", n)
			}
		})
	}
}

func TestTrialsUpsert(t *testing.T) { testTrialsUpsert(t, openTemp) }

func testTrialsUpsert(t *testing.T, open func(*testing.T) *DB) {
	ctx := context.Background()
	db := open(t)
	start := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	obj := 0.625
	running := TrialRecord{
		Study: "breadcrumbs", Number: 1, GoptunaTrialID: 12, State: TrialRunning, Method: "ties",
		MergeYAML: "merge_method: ties\nparameters:\n  density: 0.5\n", StartedAt: start, Worker: "host/123/0",
	}
	complete := running
	complete.State, complete.Objective, complete.ModelDigest = TrialComplete, &obj, "sha256:merged"
	complete.MergeTime, complete.ImportTime, complete.EvalTime = 1500*time.Millisecond, 2*time.Second, 42*time.Second+7
	complete.FinishedAt = start.Add(time.Minute)
	failed := TrialRecord{Study: "breadcrumbs", Number: 0, State: TrialFailed, Failure: "merge: shape mismatch", Worker: "w"}
	other := TrialRecord{Study: "other", Number: 1, State: TrialWaiting}

	for _, tc := range []struct {
		name   string
		writes []TrialRecord
		study  string
		want   []TrialRecord
	}{
		{"insert", []TrialRecord{running}, "breadcrumbs", []TrialRecord{running}},
		{"update in place", []TrialRecord{complete}, "breadcrumbs", []TrialRecord{complete}},
		{"ordered by number, per study", []TrialRecord{other, failed}, "breadcrumbs", []TrialRecord{failed, complete}},
		{"other study", nil, "other", []TrialRecord{other}},
		{"unknown study", nil, "none", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range tc.writes {
				if err := db.UpsertTrial(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			got, err := db.Trials(ctx, tc.study)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Trials(%q) = %+v\nwant %+v", tc.study, got, tc.want)
			}
			for _, w := range tc.want {
				r, ok, err := db.Trial(ctx, w.Study, w.Number)
				if err != nil || !ok || !reflect.DeepEqual(r, w) {
					t.Errorf("Trial(%s) = %+v, %v, %v", w.Key(), r, ok, err)
				}
			}
		})
	}
	if _, ok, err := db.Trial(ctx, "breadcrumbs", 99); err != nil || ok {
		t.Errorf("missing trial: ok=%v err=%v", ok, err)
	}

	// Scores tied to a trial stay tied to it when the trial is updated.
	id, err := db.NewRun(ctx, Run{ModelDir: "/w/t1"})
	if err != nil {
		t.Fatal(err)
	}
	key := complete.Key()
	if err := db.AddTaskScore(ctx, TaskScore{RunID: id, Trial: &key, Task: "gsm8k", Split: "tune", N: 1, Correct: 1, Accuracy: 1}); err != nil {
		t.Fatal(err)
	}
	final := complete
	final.Worker = "reaper"
	if err := db.UpsertTrial(ctx, final); err != nil {
		t.Fatal(err)
	}
	scores, err := db.TrialTaskScores(ctx, key.Study, key.Number)
	if err != nil || len(scores) != 1 || *scores[0].Trial != key {
		t.Errorf("TrialTaskScores after upsert = %+v, %v", scores, err)
	}

	for _, bad := range []struct {
		r       TrialRecord
		wantErr string
	}{
		{TrialRecord{Number: 1, State: TrialRunning}, "empty study name"},
		{TrialRecord{Study: "s", Number: -1, State: TrialRunning}, "negative trial number"},
		{TrialRecord{Study: "s", State: "RUNNING"}, `unknown state "RUNNING"`},
	} {
		if err := db.UpsertTrial(ctx, bad.r); err == nil || !strings.Contains(err.Error(), bad.wantErr) {
			t.Errorf("UpsertTrial(%+v) = %v, want error containing %q", bad.r, err, bad.wantErr)
		}
	}
}

func TestBaselines(t *testing.T) { testBaselines(t, openTemp) }

func testBaselines(t *testing.T, open func(*testing.T) *DB) {
	ctx := context.Background()
	db := open(t)
	bs := []Baseline{
		{Study: "s", Model: "task-b", Task: "arc", Accuracy: 0.5, N: 20, CILo: 0.3, CIHi: 0.7, ModelDigest: "d2"},
		{Study: "s", Model: "base", Task: "gsm8k", Accuracy: 0.1, N: 50, CILo: 0.02, CIHi: 0.2, ModelDigest: "d0"},
		{Study: "t", Model: "base", Task: "gsm8k", Accuracy: 0.2, N: 50, ModelDigest: "d0"},
	}
	for _, b := range bs {
		if err := db.PutBaseline(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	bs[1].Accuracy = 0.12 // replaced in place
	if err := db.PutBaseline(ctx, bs[1]); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		study, model, task string
		want               Baseline
		ok                 bool
	}{
		{"s", "base", "gsm8k", bs[1], true},
		{"s", "task-b", "arc", bs[0], true},
		{"t", "base", "gsm8k", bs[2], true},
		{"s", "base", "arc", Baseline{}, false},
	} {
		got, ok, err := db.Baseline(ctx, tc.study, tc.model, tc.task)
		if err != nil || ok != tc.ok || got != tc.want {
			t.Errorf("Baseline(%s, %s, %s) = %+v, %v, %v; want %+v, %v", tc.study, tc.model, tc.task, got, ok, err, tc.want, tc.ok)
		}
	}
	all, err := db.Baselines(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Baseline{bs[1], bs[0]}; !reflect.DeepEqual(all, want) {
		t.Errorf("Baselines(s) = %+v, want %+v", all, want)
	}
	if err := db.PutBaseline(ctx, Baseline{Study: "s"}); err == nil {
		t.Error("baseline without model and task accepted")
	}
}

// writeLoad does m rounds of writes of every kind as writer w: a cache
// entry, a trial record (inserted, then updated), a run with a task score
// and a batch of 3 item outcomes.
func writeLoad(ctx context.Context, db *DB, w string, m int) error {
	for j := range m {
		key := fmt.Sprintf("%s/%d", w, j)
		if err := db.PutCached(ctx, key, CachedOutcome{Task: "t", ItemID: key, Correct: j%2 == 0}); err != nil {
			return err
		}
		trial := TrialRecord{Study: w, Number: j, State: TrialRunning, Worker: w}
		if err := db.UpsertTrial(ctx, trial); err != nil {
			return err
		}
		trial.State = TrialComplete
		if err := db.UpsertTrial(ctx, trial); err != nil {
			return err
		}
		id, err := db.NewRun(ctx, Run{ModelDir: key})
		if err != nil {
			return err
		}
		tk := trial.Key()
		if err := db.AddTaskScore(ctx, TaskScore{RunID: id, Trial: &tk, Task: "t", N: 3, Correct: 1}); err != nil {
			return err
		}
		batch := make([]ItemOutcome, 3)
		for k := range batch {
			batch[k] = ItemOutcome{RunID: id, Trial: &tk, Task: "t", ItemID: strconv.Itoa(k)}
		}
		if err := db.AddItemOutcomes(ctx, batch); err != nil {
			return err
		}
		if _, ok, err := db.GetCached(ctx, key); err != nil || !ok {
			return fmt.Errorf("read back %s: ok=%v err=%v", key, ok, err)
		}
	}
	return nil
}

// checkLoad checks that writers*m rounds of writeLoad are all present.
func checkLoad(t *testing.T, db *DB, writers, m int) {
	t.Helper()
	for table, want := range map[string]int{
		"mt_eval_cache":    writers * m,
		"mt_trials":        writers * m,
		"mt_eval_runs":     writers * m,
		"mt_task_scores":   writers * m,
		"mt_item_outcomes": 3 * writers * m,
	} {
		if n := count(t, db, table); n != want {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
	}
	var notComplete int
	if err := db.sql.QueryRow(`SELECT count(*) FROM mt_trials WHERE state != 'complete'`).Scan(&notComplete); err != nil {
		t.Fatal(err)
	}
	if notComplete != 0 {
		t.Errorf("%d trials not complete", notComplete)
	}
}

func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	// Two handles on one file behave like two processes; goroutines
	// share each handle's pool.
	var handles [2]*DB
	for i := range handles {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		handles[i] = db
	}
	const goroutines, m = 8, 25
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			if err := writeLoad(ctx, handles[g%2], fmt.Sprintf("g%d", g), m); err != nil {
				errs <- fmt.Errorf("goroutine %d: %w", g, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err) // includes any "database is locked"
	}
	checkLoad(t, handles[0], goroutines, m)
}

// Environment of the helper process of TestMultiProcessWriters.
const (
	helperDBEnv     = "MERGETUNE_RESULTS_HELPER_DB"
	helperWriterEnv = "MERGETUNE_RESULTS_HELPER_WRITER"
)

// helper process: goroutines and m rounds each, per process.
const helperGoroutines, helperRounds = 4, 20

// TestHelperProcess is not a test: TestMultiProcessWriters runs the test
// binary again with it selected to get a second writing process.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperDBEnv)
	if path == "" {
		t.Skip("helper process for TestMultiProcessWriters")
	}
	ctx := context.Background()
	db, err := Open(ctx, path) // concurrent with the other processes' opens
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var wg sync.WaitGroup
	for g := range helperGoroutines {
		wg.Go(func() {
			w := fmt.Sprintf("%s-g%d", os.Getenv(helperWriterEnv), g)
			if err := writeLoad(ctx, db, w, helperRounds); err != nil {
				t.Errorf("writer %s: %v", w, err)
			}
		})
	}
	wg.Wait()
}

func TestMultiProcessWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := filepath.Join(t.TempDir(), "r.db") // not created yet: processes race to migrate
	const procs = 3
	cmds := make([]*exec.Cmd, procs)
	outs := make([]strings.Builder, procs)
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), helperDBEnv+"="+path, helperWriterEnv+"="+fmt.Sprint("p", p))
		cmd.Stdout, cmd.Stderr = &outs[p], &outs[p]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[p] = cmd
	}
	for p, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Errorf("process %d: %v\n%s", p, err, outs[p].String())
			} else {
				t.Errorf("process %d: %v", p, err)
			}
		}
		if strings.Contains(outs[p].String(), "database is locked") {
			t.Errorf("process %d hit a lock error:\n%s", p, outs[p].String())
		}
	}
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkLoad(t, db, procs*helperGoroutines, helperRounds)
}
