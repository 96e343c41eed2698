package search

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/study"
)

// benchModels are the toy fine-tunes a benchmark study merges.
var benchModels = []string{"swapcase", "rot1", "succ", "rotleft"}

// BenchmarkTrialOverhead runs a breadcrumbs study of max(b.N, 8) trials on
// four toy fine-tunes with the built-in runner and reports, per trial:
//
//   - overhead-ms/trial: the harness's own time, everything but merge,
//     import and evaluation: (workers × trial-loop wall time − Σ(merge +
//     import + eval)) / trials, where the trial loop runs from the first
//     trial's start to Run's return. A record's StartedAt/FinishedAt do not
//     bracket the goptuna bookkeeping around it (trial creation, budget
//     check, tell, keep_best cleanup), so the wall time is used instead.
//   - inrecord-ms/trial: the part of it inside StartedAt..FinishedAt
//     (suggest, merge YAML, record writes).
//   - servable-ms: merge + import, suggested parameters to a model the
//     evaluator can serve; eval-ms: evaluation.
//   - readonce-ms: reading every byte of the input safetensors (base and
//     the four fine-tunes) once, from page cache (best of 10 reads);
//     servable/readonce.
//   - setup-ms: Run's start to the first trial (migration, reap, baselines).
func BenchmarkTrialOverhead(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) { benchStudy(b, workers) })
	}
}

func benchStudy(b *testing.B, workers int) {
	trials := max(b.N, 8)
	s := benchStudyFile(b, b.TempDir(), trials, workers)
	readOnce := readInputs(b, s)

	b.ResetTimer()
	start := time.Now()
	sum, err := Run(context.Background(), s, Options{})
	end := time.Now()
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}

	var n int
	var first time.Time
	var merge, imp, ev, inRecord time.Duration
	for _, r := range sum.Status.Trials {
		if first.IsZero() || r.StartedAt.Before(first) {
			first = r.StartedAt
		}
		if r.State != results.TrialComplete {
			continue
		}
		n++
		merge += r.MergeTime
		imp += r.ImportTime
		ev += r.EvalTime
		inRecord += r.FinishedAt.Sub(r.StartedAt) - r.MergeTime - r.ImportTime - r.EvalTime
	}
	if n != trials || len(sum.Status.Trials) != trials {
		b.Fatalf("%d complete of %d records, want %d", n, len(sum.Status.Trials), trials)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	per := func(d time.Duration) float64 { return ms(d) / float64(n) }
	loop := time.Duration(workers) * end.Sub(first)
	servable := per(merge + imp)
	b.ReportMetric(per(loop-merge-imp-ev), "overhead-ms/trial")
	b.ReportMetric(per(inRecord), "inrecord-ms/trial")
	b.ReportMetric(servable, "servable-ms")
	b.ReportMetric(per(ev), "eval-ms")
	b.ReportMetric(ms(readOnce), "readonce-ms")
	b.ReportMetric(servable/ms(readOnce), "servable/readonce")
	b.ReportMetric(ms(first.Sub(start)), "setup-ms")
}

// benchStudyFile writes and loads the benchmark's study in dir.
func benchStudyFile(b *testing.B, dir string, trials, workers int) *study.Study {
	b.Helper()
	fam := family(b)
	text := fmt.Sprintf("name: bench\nbase_model: %s/base\nmodels:\n", fam)
	tasks := ""
	for _, m := range benchModels {
		text += fmt.Sprintf("  - model: %s/%s\n    tasks: [%s]\n", fam, m, m)
		tasks += fmt.Sprintf(", toy:%s@tune", m)
	}
	text += fmt.Sprintf(`tasks: [%s]
limit: 12
method: breadcrumbs
dtype: bfloat16
space:
  lambda:  {type: float, low: 0.1, high: 1.5}
  weight:  {type: float, low: 0.3, high: 1.0, scope: shared}
  density: {type: float, low: 0.5, high: 1.0, scope: shared}
objective: normalized
sampler: {type: tpe, seed: 1}
trials: %d
workers: %d
keep_best: 1
storage: study.db
work_dir: work
`, tasks[2:], trials, workers)
	path := filepath.Join(dir, "study.yml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		b.Fatal(err)
	}
	s, err := study.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// readInputs reads every safetensors file of the study's base and task
// models once to warm the page cache, then returns the best of several
// timed reads of them all.
func readInputs(b *testing.B, s *study.Study) time.Duration {
	b.Helper()
	files := safetensors(b, s.BaseModel)
	for _, m := range s.Models {
		files = append(files, safetensors(b, m.Path)...)
	}
	readAll := func() {
		for _, f := range files {
			if _, err := os.ReadFile(f); err != nil {
				b.Fatal(err)
			}
		}
	}
	readAll()
	best := time.Duration(1<<63 - 1)
	for range 10 {
		t0 := time.Now()
		readAll()
		best = min(best, time.Since(t0))
	}
	return best
}

func safetensors(b *testing.B, dir string) []string {
	b.Helper()
	fs, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil || len(fs) == 0 {
		b.Fatalf("%s: no safetensors (%v)", dir, err)
	}
	return fs
}
