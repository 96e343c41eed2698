package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/eval/runner"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/results/pgtest"
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
	for _, want := range []string{"TRIAL", "complete", "best: trial", "time per trial, median of 3 finished: merge ", "last finished trial "} {
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
	for _, want := range []string{"method: ties", "lambda:", "rules:", "model_parameters:\n    weight:", "scale: fixed"} {
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
	extendDB := filepath.Join(dir, "extend.db")
	out = mustRunCLI(t, "extend", recipe, "--models", strings.Join(models, ","), "--tasks", strings.Join(tasks, ","),
		"--limit", "6", "--out", curveFile, "--db", extendDB)
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
		got = append(got, strings.Join([]string{r[0], r[1], r[2], r[3], r[7]}, "/"))
	}
	// A plain extend: one nested subset per size (subset 1) and its
	// aggregate (subset 0), the recipe's own rule (fixed).
	if want := "2/recipe/fixed/1/2 2/recipe/fixed/0/2 4/recipe/fixed/1/4 4/recipe/fixed/0/4 8/recipe/fixed/1/8 8/recipe/fixed/0/8"; strings.Join(got, " ") != want {
		t.Errorf("curve rows %v, want %s\n%s", got, want, out)
	}
	// The report of the extend's database alone has the curve, whoever
	// ran extend.
	reportFile := filepath.Join(dir, "extend-report.csv")
	mustRunCLI(t, "report", extendDB, "--format", "csv", "--out", reportFile)
	reportCSV, err := os.ReadFile(reportFile)
	if err != nil {
		t.Fatal(err)
	}
	out = string(reportCSV)
	cr := csv.NewReader(strings.NewReader(out))
	cr.FieldsPerRecord = -1
	table, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("report csv: %v\n%s", err, out)
	}
	if len(table) != 7 || table[0][0] != "curve_method" {
		t.Fatalf("report csv: want the curve's header and 6 points:\n%s", out)
	}
	var curveRows []string
	for _, r := range table[1:] {
		curveRows = append(curveRows, strings.Join([]string{r[0], r[1], r[2], r[3], r[4], r[5], r[6]}, "/"))
	}
	if want := "ties/frozen/fixed/cli/2/0/1 ties/frozen/fixed/cli/2/1/1 ties/frozen/fixed/cli/4/0/1 ties/frozen/fixed/cli/4/1/1 ties/frozen/fixed/cli/8/0/1 ties/frozen/fixed/cli/8/1/1"; strings.Join(curveRows, " ") != want {
		t.Errorf("report csv curve %v, want %s", curveRows, want)
	}
	stored, _ := strconv.ParseFloat(table[1][10], 64)
	printed, _ := strconv.ParseFloat(rows[2][9], 64)
	if math.Abs(stored-printed) > 1e-4 || stored <= 0 {
		t.Errorf("report's normalized at 2 models %s, extend's %s", table[1][10], rows[2][9])
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
		{"unknown rule", []string{"--models", "a", "--tasks", "toy:succ", "--rules", "fixed,half"},
			`--rules: unknown scale rule "half" (known: fixed, mean, refit, sqrt)`},
		{"refit tasks mismatch", []string{"--models", "a,b", "--tasks", "toy:succ,toy:pred", "--refit-tasks", "toy:succ@tune"},
			"--refit-tasks: 1 tasks for 2 models; give one task per model"},
		{"refit task unknown", []string{"--models", "a", "--tasks", "toy:succ", "--refit-tasks", "toy:nosuch@tune"},
			`--refit-tasks toy:nosuch@tune: task toy:nosuch@tune: built-in task "toy:nosuch@tune": unknown toy task "nosuch" (want reverse, `},
	}
	dir := t.TempDir()
	recipe := filepath.Join(dir, "r.yml")
	os.WriteFile(recipe, []byte("trial: 0\nobjective: 1\nmethod: ties\nbase_model: /x\n"), 0o644)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runCLI(t, append([]string{"extend", recipe}, tt.args...)...)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
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

// TestExtendSubsetsRules runs extend with the Breadcrumbs protocol (3
// random subsets per size) and three scale rules on the toy family, and
// checks the stored curve: a row per size × rule × subset plus each
// size's aggregate, the subsets' members, the intervals present and
// ordered, refit at least as good as the rules it tries first, and each
// rule's cost.
func TestExtendSubsetsRules(t *testing.T) {
	fam, err := filepath.Abs("../../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	names := []string{"swapcase", "rot1", "succ", "rotleft", "parity", "swapends"}
	var models, tasks []string
	for _, n := range names {
		models = append(models, filepath.Join(fam, n))
		tasks = append(tasks, "toy:"+n)
	}
	// A recipe as freeze writes it, tuned on two models (k = 2).
	recipe := filepath.Join(dir, "recipe.yml")
	os.WriteFile(recipe, []byte(fmt.Sprintf(`study: tuned-on-2
trial: 1
objective: 0.8
method: ties
base_model: %[1]s/base
parameters: {lambda: 0.9}
model_parameters: {weight: 0.8, density: 0.5}
rules: {weight: mean, density: shared}
tuned:
  %[1]s/swapcase: {weight: 0.7, density: 0.5}
  %[1]s/rot1: {weight: 0.9, density: 0.5}
scale: fixed
`, fam)), 0o644)
	dbPath := filepath.Join(dir, "x.db")
	out := mustRunCLI(t, "extend", recipe, "--models", strings.Join(models, ","), "--tasks", strings.Join(tasks, ","),
		"--limit", "4", "--subsets", "3", "--rules", "fixed,mean,refit", "--refit-trials", "4", "--seed", "7", "--db", dbPath)
	for _, want := range []string{"evaluation cost by rule", "recipe fixed", "recipe mean", "recipe refit", "mean of 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("extend output lacks %q:\n%s", want, out)
		}
	}
	db, err := results.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	curve, err := db.Curve(context.Background())
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		rule           string
		models, subset int
	}
	pts := map[key]results.CurvePoint{}
	for _, p := range curve {
		if p.Method != "ties" || p.Variant != results.VariantFrozen || p.Study != "tuned-on-2" {
			t.Errorf("point %+v: want ties, frozen, study tuned-on-2", p)
		}
		pts[key{p.Rule, p.Models, p.Subset}] = p
	}
	// Sizes 2, 4 and 6 of 6 models: 3 subsets, 3 subsets, the one full
	// set; each with its aggregate (subset 0).
	wantSubsets := map[int]int{2: 3, 4: 3, 6: 1}
	if n := 3 * (4 + 4 + 2); len(curve) != n || len(pts) != n {
		t.Fatalf("%d points (%d distinct), want %d: 3 rules × (3+1, 3+1, 1+1)\n%s", len(curve), len(pts), n, out)
	}
	const eps = 1e-9
	for _, rule := range []string{"fixed", "mean", "refit"} {
		for size, n := range wantSubsets {
			agg, ok := pts[key{rule, size, 0}]
			if !ok {
				t.Fatalf("no aggregate of %s at %d", rule, size)
			}
			if agg.Subsets != n || agg.Members != "" {
				t.Errorf("%s at %d: aggregate of %d subsets (members %q), want %d", rule, size, agg.Subsets, agg.Members, n)
			}
			if !(agg.SubsetLo <= agg.Normalized+eps && agg.Normalized <= agg.SubsetHi+eps && agg.ItemLo <= agg.Normalized+eps && agg.Normalized <= agg.ItemHi+eps) {
				t.Errorf("%s at %d: intervals out of order: %+v", rule, size, agg)
			}
			if n > 1 && agg.SubsetHi-agg.SubsetLo <= 0 && agg.ItemHi-agg.ItemLo <= 0 {
				t.Errorf("%s at %d: no interval: %+v", rule, size, agg)
			}
			var sum float64
			members := map[string]bool{}
			merges := 0
			for s := 1; s <= n; s++ {
				p, ok := pts[key{rule, size, s}]
				if !ok {
					t.Fatalf("no point of %s at %d, subset %d", rule, size, s)
				}
				sum += p.Normalized
				merges += p.Merges
				members[p.Members] = true
				if m := strings.Split(p.Members, ","); len(m) != size {
					t.Errorf("%s at %d subset %d: members %q", rule, size, s, p.Members)
				}
				if !(p.ItemLo <= p.Normalized+eps && p.Normalized <= p.ItemHi+eps && p.ItemLo < p.ItemHi) {
					t.Errorf("%s at %d subset %d: items' interval [%f, %f] around %f", rule, size, s, p.ItemLo, p.ItemHi, p.Normalized)
				}
				if p.Items != 4*size*p.Merges {
					t.Errorf("%s at %d subset %d: %d items evaluated in %d merges, want %d a merge", rule, size, s, p.Items, p.Merges, 4*size)
				}
				wantMerges := 1
				if rule == "refit" {
					wantMerges = 4
					// refit tries fixed's and mean's factors first: on
					// the same subset it scores at least as well.
					for _, other := range []string{"fixed", "mean"} {
						if o := pts[key{other, size, s}]; o.Members != p.Members || p.Normalized < o.Normalized-eps {
							t.Errorf("refit at %d subset %d: %f (%s) below %s's %f (%s)", size, s, p.Normalized, p.Members, other, o.Normalized, o.Members)
						}
					}
				}
				if p.Merges != wantMerges {
					t.Errorf("%s at %d subset %d: %d merges, want %d", rule, size, s, p.Merges, wantMerges)
				}
			}
			if len(members) != n {
				t.Errorf("%s at %d: %d distinct subsets, want %d", rule, size, len(members), n)
			}
			if d := agg.Normalized - sum/float64(n); d > eps || d < -eps {
				t.Errorf("%s at %d: aggregate %f, mean of subsets %f", rule, size, agg.Normalized, sum/float64(n))
			}
			if agg.Merges != merges {
				t.Errorf("%s at %d: aggregate cost %d merges, subsets' %d", rule, size, agg.Merges, merges)
			}
		}
	}
	// mean scales differently from fixed past the tuned size (2): the
	// merges differ, so some score does.
	differ := false
	for size, n := range wantSubsets {
		for s := 1; s <= n && size > 2; s++ {
			differ = differ || pts[key{"fixed", size, s}].Normalized != pts[key{"mean", size, s}].Normalized
		}
	}
	if !differ {
		t.Errorf("mean scored as fixed everywhere past 2 models: the rule changed nothing")
	}
}
