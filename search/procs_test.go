package search

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mergetune/mergetune/search/study"
)

// workerEnv makes the test binary run a study instead of the tests: the
// kill -9 and multi-process tests re-execute it as a study worker.
const workerEnv = "MERGETUNE_TEST_STUDY_WORKER"

// startEnv names a file a study worker waits for before it runs, so that
// several workers start at the same moment.
const startEnv = "MERGETUNE_TEST_STUDY_START"

func TestMain(m *testing.M) {
	if path := os.Getenv(workerEnv); path != "" {
		if start := os.Getenv(startEnv); start != "" {
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if _, err := os.Stat(start); err == nil {
					break
				}
			}
		}
		s, err := study.Load(path)
		if err == nil {
			_, err = Run(context.Background(), s, Options{})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "study worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func workerCmd(t *testing.T, s *study.Study) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+s.File)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, &out
}

// TestKillResume kills a study process with SIGKILL in the middle of a
// trial, resumes the study and checks that the budget is met exactly, no
// trial number is repeated and the killed trial is marked failed.
func TestKillResume(t *testing.T) {
	dir := t.TempDir()
	s := writeStudy(t, dir, `method: ties
space:
  lambda: {type: float, low: 0.3, high: 1.5}
  density: {type: float, low: 0.3, high: 1.0}
trials: 6
workers: 1
heartbeat: 200ms
stale_after: 3s
`)
	cmd, out := workerCmd(t, s)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	killed := false
	for time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		if _, err := os.Stat(s.Storage); err != nil {
			continue
		}
		if queryIntQuiet(s.Storage, `SELECT count(*) FROM mt_trials WHERE state = 'complete'`) >= 1 &&
			queryIntQuiet(s.Storage, `SELECT count(*) FROM mt_trials WHERE state = 'running'`) == 1 {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
			break
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("never caught the worker mid-trial; output:\n%s", out)
	}
	running := queryInt(t, s.Storage, `SELECT trial_number FROM mt_trials WHERE state = 'running'`)
	if _, err := Run(context.Background(), s, Options{}); err != nil {
		t.Fatal(err)
	}
	st, err := ReadStatus(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if st.Complete != 6 || st.Done() != 6 || st.Running != 0 {
		t.Errorf("after resume: %d complete, %d done, %d running; want 6, 6, 0", st.Complete, st.Done(), st.Running)
	}
	if st.Returned != 1 {
		t.Errorf("returned = %d, want 1 (the killed trial)", st.Returned)
	}
	for _, r := range st.Trials {
		if r.Number == running && (r.State != "failed" || !strings.HasPrefix(r.Failure, "stale:")) {
			t.Errorf("killed trial %d: state %s, failure %q", r.Number, r.State, r.Failure)
		}
	}
	if n, d := queryInt(t, s.Storage, `SELECT count(*) FROM trials`), queryInt(t, s.Storage, `SELECT count(DISTINCT number) FROM trials`); n != d || n != 7 {
		t.Errorf("goptuna trials %d, distinct numbers %d; want 7 and 7", n, d)
	}
}

// TestProcesses runs 3 processes × 2 workers on one SQLite file.
func TestProcesses(t *testing.T) {
	dir := t.TempDir()
	s := writeStudy(t, dir, `method: task_arithmetic
space:
  lambda: {type: float, low: 0.3, high: 1.5}
  weight: {type: float, low: 0.3, high: 1.0, scope: per_model}
trials: 9
workers: 2
`)
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range 3 {
		cmd, out := workerCmd(t, s)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i])
		}
		if strings.Contains(outs[i].String(), "locked") {
			t.Errorf("process %d hit a lock error:\n%s", i, outs[i])
		}
	}
	st, err := ReadStatus(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if st.Complete != 9 || st.Failed != 0 || st.Running != 0 {
		t.Errorf("%d complete, %d failed, %d running; want 9, 0, 0", st.Complete, st.Failed, st.Running)
	}
	if n := queryInt(t, s.Storage, `SELECT count(DISTINCT number) FROM trials WHERE state = 'COMPLETE'`); n != 9 {
		t.Errorf("complete goptuna trials with distinct numbers = %d, want 9 (states %v)", n, goptunaStates(t, s.Storage))
	}
}
