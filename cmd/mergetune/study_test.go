package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"github.com/mergetune/mergetune/results/pgtest"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/eval/runner"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/study"
)

func TestStudyCommands(t *testing.T) {
	fam, err := filepath.Abs("../../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	studyFile := filepath.Join(dir, "s.yml")
	os.WriteFile(studyFile, []byte(fmt.Sprintf(`name: cli
base_model: %[1]s/base
models:
  - {model: %[1]s/swapcase, tasks: [swapcase]}
  - {model: %[1]s/rot1, tasks: [rot1]}
method: ties
space:
  lambda: {type: float, low: 0.5, high: 1.2}
  weight: {type: float, low: 0.3, high: 1.0, scope: per_model}
tasks: [toy:swapcase@tune, toy:rot1@tune]
limit: 10
trials: 3
objective: normalized
`, fam)), 0o644)

	out := mustRunCLI(t, "study", "run", studyFile)
	if !strings.Contains(out, "3/3 trials done (3 complete, 0 pruned, 0 failed)") {
		t.Errorf("study run output:\n%s", out)
	}
	out = mustRunCLI(t, "study", "status", studyFile)
	for _, want := range []string{"TRIAL", "complete", "best: trial"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	// study best | mergetune merge reproduces the best trial's model.
	best := mustRunCLI(t, "study", "best", studyFile)
	bestFile := filepath.Join(dir, "best.yml")
	os.WriteFile(bestFile, []byte(best), 0o644)
	merged := filepath.Join(dir, "merged")
	mustRunCLI(t, "merge", bestFile, merged, "--quiet")
	m, err := runner.New(runner.Options{}).Open(context.Background(), merged)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	db, err := results.Open(context.Background(), filepath.Join(dir, "results", "cli.db"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := db.Trials(context.Background(), "cli")
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range recs {
		found = found || (r.MergeYAML == best && r.ModelDigest == m.Digest())
	}
	if !found {
		t.Errorf("study best | merge gave digest %s, which no trial with that YAML has", m.Digest())
	}

	// study best --out exports the winner: as safetensors (the trial's
	// weights), and as GGUF (what mergetune merge writes for the YAML).
	exported := filepath.Join(dir, "exported")
	mustRunCLI(t, "study", "best", studyFile, "--out", exported)
	em, err := runner.New(runner.Options{}).Open(context.Background(), exported)
	if err != nil {
		t.Fatal(err)
	}
	em.Close()
	if em.Digest() != m.Digest() {
		t.Errorf("study best --out: digest %s, the best trial's %s", em.Digest(), m.Digest())
	}
	s, err := study.Load(studyFile)
	if err != nil {
		t.Fatal(err)
	}
	exportedGGUF := filepath.Join(dir, "best.gguf")
	mustRunCLI(t, "study", "best", studyFile, "--out", exportedGGUF)
	mergedGGUF := filepath.Join(dir, "merged.gguf")
	mustRunCLI(t, "merge", bestFile, mergedGGUF, "--quiet", "--random-seed", fmt.Sprint(s.Seed))
	a, errA := os.ReadFile(exportedGGUF)
	b, errB := os.ReadFile(mergedGGUF)
	if errA != nil || errB != nil || len(a) < 4 || string(a[:4]) != "GGUF" || string(a) != string(b) {
		t.Errorf("study best --out best.gguf (%d bytes, %v) differs from mergetune merge best.yml merged.gguf (%d bytes, %v)", len(a), errA, len(b), errB)
	}
	if _, err := runCLI(t, "study", "best", studyFile, "--out", exportedGGUF); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Errorf("study best --out over an existing file: %v", err)
	}
	mustRunCLI(t, "study", "best", studyFile, "--out", exportedGGUF, "--replace", "--type", "f32")
	if c, err := os.ReadFile(exportedGGUF); err != nil || len(c) <= len(a) {
		t.Errorf("study best --replace --type f32: %d bytes, %v; want more than the bf16 file's %d", len(c), err, len(a))
	}

	recipe := filepath.Join(dir, "recipe.yml")
	out = mustRunCLI(t, "study", "freeze", studyFile, "--out", recipe)
	data, err := os.ReadFile(recipe)
	if err != nil {
		t.Fatalf("freeze wrote nothing: %v\n%s", err, out)
	}
	for _, want := range []string{"method: ties", "lambda:", "rules:", "model_parameters:\n    weight:"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("recipe lacks %q:\n%s", want, data)
		}
	}

	names := []string{"swapcase", "rot1", "succ", "rotleft", "pred", "last", "parity", "swapends"}
	var models, tasks []string
	for _, n := range names {
		models = append(models, filepath.Join(fam, n))
		tasks = append(tasks, "toy:"+n)
	}
	curveFile := filepath.Join(dir, "curve.csv")
	out = mustRunCLI(t, "extend", recipe, "--models", strings.Join(models, ","), "--tasks", strings.Join(tasks, ","),
		"--limit", "6", "--out", curveFile, "--db", filepath.Join(dir, "extend.db"))
	f, err := os.Open(curveFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows[1:] {
		got = append(got, r[0]+"/"+r[1]+"/"+r[2])
	}
	if want := "2/recipe/2 4/recipe/4 8/recipe/8"; strings.Join(got, " ") != want {
		t.Errorf("curve rows %v, want %s\n%s", got, want, out)
	}
}

func TestExtendArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"mismatch", []string{"--models", "a,b", "--tasks", "toy:succ"}, "--tasks: 1 tasks for 2 models; give one task per model"},
		{"no models", []string{"--models", ",", "--tasks", "toy:succ"}, "--models: no models"},
	}
	dir := t.TempDir()
	recipe := filepath.Join(dir, "r.yml")
	os.WriteFile(recipe, []byte("trial: 0\nobjective: 1\nmethod: ties\nbase_model: /x\n"), 0o644)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runCLI(t, append([]string{"extend", recipe}, tt.args...)...)
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestExtendBackendFlags: extend takes eval's evaluator flags and opens
// the backend they name through the backends table before any work: an
// unknown --backend lists the known ones, a server that is not there
// fails naming it, a missing openai setting names its flag's error, and
// --timeouts is checked.
func TestExtendBackendFlags(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close() // nothing listens there now
	dir := t.TempDir()
	recipe := filepath.Join(dir, "r.yml")
	os.WriteFile(recipe, []byte("trial: 0\nobjective: 1\nmethod: ties\nbase_model: /x\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown backend", []string{"--backend", "gpu"}, []string{`--backend: unknown backend "gpu" (known: auto, builtin, ollama, openai)`}},
		{"ollama host", []string{"--host", closed, "--timeouts", "probe=2s"}, []string{"--backend ollama", closed}},
		{"ollama backend", []string{"--backend", "ollama", "--host", closed}, []string{"--backend ollama", closed}},
		{"openai", []string{"--base-url", "http://" + closed}, []string{"--backend openai", "served model name is required"}},
		{"openai down", []string{"--base-url", "http://" + closed, "--served-name", "cand"}, []string{"--backend openai", closed}},
		{"timeouts", []string{"--host", closed, "--timeouts", "probe=soon"}, []string{`--timeouts: timeouts "probe=soon"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"extend", recipe, "--models", "a,b", "--tasks", "toy:succ,toy:pred", "--db", filepath.Join(dir, "x.db")}, tt.args...)
			_, err := runCLI(t, args...)
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to contain %q", err, w)
				}
			}
			if _, serr := os.Stat(filepath.Join(dir, "x.db")); serr == nil {
				t.Errorf("the database was created before the backend was opened")
			}
		})
	}
}

// TestStudyOnPostgres runs a small study whose storage is PostgreSQL, then
// reads it back with study status and mergetune report.
func TestStudyOnPostgres(t *testing.T) {
	dsn := pgtest.Schema(t)
	fam, err := filepath.Abs("../../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	studyFile := filepath.Join(dir, "pg.yml")
	os.WriteFile(studyFile, []byte(fmt.Sprintf(`name: pgcli
base_model: %[1]s/base
models:
  - {model: %[1]s/swapcase, tasks: [swapcase]}
  - {model: %[1]s/rot1, tasks: [rot1]}
method: task_arithmetic
space:
  lambda: {type: float, low: 0.3, high: 1.2}
tasks: [toy:swapcase@tune, toy:rot1@tune]
holdout: [toy:rot1]
limit: 8
trials: 3
objective: normalized
storage: %[2]s
`, fam, dsn)), 0o644)
	out := mustRunCLI(t, "study", "run", studyFile, "-q")
	if !strings.Contains(out, "3/3 trials done") || !strings.Contains(out, "frozen recipe") {
		t.Fatalf("study run on PostgreSQL:\n%s", out)
	}
	md := filepath.Join(dir, "r.md")
	mustRunCLI(t, "report", dsn, "--format", "md", "--out", md)
	data, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "pgcli") || !strings.Contains(string(data), "Holdout") {
		t.Fatalf("report does not show the study:\n%s", data)
	}
	if strings.Contains(string(data), ":mergetune@") {
		t.Fatalf("report shows the database password:\n%s", data)
	}
}

// writeCLIStudy writes a small study file into dir; extra lines are
// appended.
func writeCLIStudy(t *testing.T, dir, name, method, extra string) string {
	t.Helper()
	fam, err := filepath.Abs("../../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".yml")
	text := fmt.Sprintf(`name: %[2]s
base_model: %[1]s/base
models:
  - {model: %[1]s/swapcase, tasks: [swapcase]}
  - {model: %[1]s/rot1, tasks: [rot1]}
method: %[3]s
space:
  lambda: {type: float, low: 0.5, high: 1.2}
tasks: [toy:swapcase@tune, toy:rot1@tune]
limit: 6
trials: 2
`, fam, name, method) + extra
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStudyDefinitionCLI edits a study file (breadcrumbs → ties) under the
// same name and storage: run refuses it naming the change, best refuses
// to print the old study's merge for it, --new runs a new study that
// status and best then read.
func TestStudyDefinitionCLI(t *testing.T) {
	dir := t.TempDir()
	file := writeCLIStudy(t, dir, "def", "breadcrumbs", "")
	mustRunCLI(t, "study", "run", file, "-q")
	writeCLIStudy(t, dir, "def", "ties", "")
	out, err := runCLI(t, "study", "run", file, "-q")
	if err == nil || !strings.Contains(err.Error(), `method: ["breadcrumbs"] → ["ties"]`) || !strings.Contains(err.Error(), "--new") {
		t.Fatalf("run of the edited file: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "study", "best", file); err == nil || !strings.Contains(err.Error(), "method") {
		t.Errorf("best of the edited file: %v; want the definition error", err)
	}
	if out := mustRunCLI(t, "study", "best", file, "--force"); !strings.Contains(out, "breadcrumbs") {
		t.Errorf("best --force: want the recorded breadcrumbs trial:\n%s", out)
	}
	if out := mustRunCLI(t, "study", "status", file); !strings.Contains(out, "warning: the study file's definition differs") {
		t.Errorf("status of the edited file lacks the warning:\n%s", out)
	}
	if _, err := runCLI(t, "study", "run", file, "--new", "--force"); err == nil {
		t.Error("--new with --force accepted")
	}
	out = mustRunCLI(t, "study", "run", file, "-q", "--new")
	if !strings.Contains(out, "ran it as study def-2") || !strings.Contains(out, "study def-2: 2/2 trials done") {
		t.Errorf("run --new:\n%s", out)
	}
	if out := mustRunCLI(t, "study", "best", file); !strings.Contains(out, "merge_method: ties") {
		t.Errorf("best after --new: want the ties study's merge:\n%s", out)
	}
	if out := mustRunCLI(t, "study", "status", file); !strings.Contains(out, "study def-2:") || strings.Contains(out, "warning") {
		t.Errorf("status after --new:\n%s", out)
	}
}

// TestStudyStatusEmptyFile runs status and best on a study whose storage
// is a 0-byte file: status once wrote a schema into it. Now both fail with
// a clear error and the file stays 0 bytes; report likewise.
func TestStudyStatusEmptyFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(db, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	file := writeCLIStudy(t, dir, "empty", "ties", "storage: empty.db\n")
	for _, args := range [][]string{
		{"study", "status", file},
		{"study", "best", file},
		{"study", "freeze", file, "--out", filepath.Join(dir, "r.yml")},
		{"report", db, "--out", filepath.Join(dir, "r.html")},
	} {
		_, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), "not a mergetune database: the file is empty") || !strings.Contains(err.Error(), db) {
			t.Errorf("mergetune %s: %v", strings.Join(args, " "), err)
		}
		if fi, err := os.Stat(db); err != nil || fi.Size() != 0 {
			t.Fatalf("mergetune %s wrote the empty file (%d bytes)", strings.Join(args, " "), fi.Size())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "r.html")); err == nil {
		t.Error("report wrote a report of an empty file")
	}
}

// TestDSNNotPrinted gives the commands that print or fail on a study's
// storage DSNs with passwords in every form: none may show the password.
func TestDSNNotPrinted(t *testing.T) {
	dir := t.TempDir()
	const secret = "s3cretPW"
	dsns := []struct{ name, storage string }{
		{"url query", "postgres://mt@127.0.0.1:1/mt?sslmode=disable&password=" + secret},
		{"url user", "postgres://mt:" + secret + "@127.0.0.1:1/mt?sslmode=disable"},
		{"url both", "postgresql://mt:" + secret + "@127.0.0.1:1/mt?password=" + secret + "&connect_timeout=2"},
		{"key value", "host=127.0.0.1 port=1 password=" + secret},
		{"bad url", "postgres://mt:" + secret + "@127.0.0.1:port/mt?password=" + secret},
	}
	for i, d := range dsns {
		t.Run(d.name, func(t *testing.T) {
			file := writeCLIStudy(t, dir, fmt.Sprintf("dsn%d", i), "ties", fmt.Sprintf("storage: %q\n", d.storage))
			cmds := [][]string{
				{"study", "status", file},
				{"study", "best", file},
				{"study", "freeze", file, "--out", filepath.Join(dir, "r.yml")},
				{"report", d.storage, "--out", filepath.Join(dir, "r.html")},
			}
			if d.name != "key value" { // that one is a SQLite path: run would run
				cmds = append(cmds, []string{"study", "run", file, "-q"})
			}
			for _, args := range cmds {
				out, err := runCLI(t, args...)
				if err == nil {
					t.Errorf("mergetune %s: no error\n%s", strings.Join(args, " "), out)
					continue
				}
				if strings.Contains(out+err.Error(), secret) {
					t.Errorf("mergetune %s shows the password:\n%v\n%s", args[:2], err, out)
				}
			}
		})
	}
}
