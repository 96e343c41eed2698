package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProgressThrottle: the first event passes, then one per interval.
func TestProgressThrottle(t *testing.T) {
	now := time.Unix(0, 0)
	th := &progressThrottle{every: 30 * time.Second, now: func() time.Time { return now }}
	var got []bool
	for _, step := range []time.Duration{0, 10 * time.Second, 19 * time.Second, time.Second, 5 * time.Second, 40 * time.Second} {
		now = now.Add(step)
		got = append(got, th.allow())
	}
	if want := []bool{true, false, false, true, false, true}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("allow %v, want %v", got, want)
	}
}

// TestStudyRunProgressNotTerminal: `study run` whose output is not a
// terminal prints trial lines (the first, then at most one per
// --progress-every, and the last); -q prints none.
func TestStudyRunProgressNotTerminal(t *testing.T) {
	fam, err := filepath.Abs("../../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	write := func(dir string) string {
		f := filepath.Join(dir, "s.yml")
		os.WriteFile(f, []byte(fmt.Sprintf(`name: progress
base_model: %[1]s/base
models:
  - {model: %[1]s/swapcase, tasks: [swapcase]}
  - {model: %[1]s/rot1, tasks: [rot1]}
method: ties
space:
  lambda: {type: float, low: 0.5, high: 1.2}
tasks: [toy:swapcase@tune, toy:rot1@tune]
limit: 5
trials: 3
workers: 1
`, fam)), 0o644)
		return f
	}
	lines := func(out string) []string {
		var l []string
		for _, ln := range strings.Split(out, "\n") {
			if strings.HasPrefix(ln, "trial ") {
				l = append(l, strings.SplitN(ln, ":", 2)[0])
			}
		}
		return l
	}
	every := mustRunCLI(t, "study", "run", write(t.TempDir()), "--progress-every", "0")
	if got := lines(every); fmt.Sprint(got) != "[trial 1/3 trial 2/3 trial 3/3]" {
		t.Errorf("--progress-every 0: lines %v\n%s", got, every)
	}
	throttled := mustRunCLI(t, "study", "run", write(t.TempDir()), "--progress-every", "1h")
	if got := lines(throttled); fmt.Sprint(got) != "[trial 1/3 trial 3/3]" {
		t.Errorf("--progress-every 1h: lines %v\n%s", got, throttled)
	}
	quiet := mustRunCLI(t, "study", "run", write(t.TempDir()), "-q")
	if got := lines(quiet); len(got) != 0 {
		t.Errorf("-q: lines %v", got)
	}
}
