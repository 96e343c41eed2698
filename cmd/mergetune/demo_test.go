package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mergetune/mergetune/datasets/toy/family"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/ollama/ollamatest"
	"github.com/mergetune/mergetune/report"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search"
)

// demoTrials is the reduced budget of the demo test.
const demoTrials = 4

// TestDemo runs the demo with a reduced budget, checks its database and
// the report in every format, and renders the HTML report in a headless
// browser.
func TestDemo(t *testing.T) {
	// The demo extracts its built-in family into the user's cache
	// directory: a private one here.
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	t0 := time.Now()
	// Smaller sizes than the default 10 → 20, 40 (TestDemoSizes checks
	// those; .ci/clone-check runs the installed demo on them), every rule.
	out := mustRunCLI(t, "demo", "--out", dir, "--trials", "4", "--limit", "8", "--tune", "4", "--extend", "8,16")
	t.Logf("demo took %s", time.Since(t0).Round(time.Millisecond))
	htmlPath := filepath.Join(dir, "report.html")
	if !strings.Contains(out, "report: "+htmlPath) {
		t.Fatalf("demo output does not say where the report is:\n%s", out)
	}
	z := demoSizing{Tune: 4, Retune: []int{8, 16}}
	k := z.Tune
	sizes := len(z.curve())
	rules := search.ScaleRuleNames() // the default --rules: every rule
	for _, want := range []string{"==> baselines", fmt.Sprintf("==> study breadcrumbs-%d", k), fmt.Sprintf("==> study ties-%d", k),
		fmt.Sprintf("==> study task_arithmetic-%d", k), "==> extend ties", "==> winners", "==> transfer verdict",
		fmt.Sprintf("transfer holds at %d", k), fmt.Sprintf("rules %s", strings.Join(rules, ", "))} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "trial 1/4") {
		t.Errorf("per-trial progress printed when the output is not a terminal:\n%s", out)
	}
	dbPath := filepath.Join(dir, "mergetune.db")
	methods := map[string][]string{
		"breadcrumbs":     {"density", "gamma", "lambda", "weight"},
		"ties":            {"density", "lambda"},
		"task_arithmetic": {"lambda"},
	}

	t.Run("database", func(t *testing.T) {
		ctx := context.Background()
		d, err := report.Load(ctx, dbPath)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Studies) != 3 {
			t.Fatalf("%d studies, want 3", len(d.Studies))
		}
		for _, s := range d.Studies {
			method := strings.TrimSuffix(s.Name, fmt.Sprintf("-%d", k))
			if s.Settings == nil || s.Settings.Objective != "normalized" || len(s.Settings.Tune) != k ||
				!slices.Contains(s.Settings.Summary, results.Setting{Key: "sampler", Value: "tpe (seed 1)"}) {
				t.Errorf("study %s: recorded settings %+v (%s)", s.Name, s.Settings, s.SettingsErr)
			}
			if c := s.Counts(); c.Complete != demoTrials {
				t.Errorf("study %s: %+v, want %d complete trials", s.Name, c, demoTrials)
			}
			if got := strings.Join(s.ParamNames(), ","); got != strings.Join(methods[method], ",") {
				t.Errorf("study %s searched %s, want %v", s.Name, got, methods[method])
			}
			if s.Best == nil || len(s.Best.Holdout) != k || len(s.Best.Tune) != k {
				t.Errorf("study %s: best trial %+v lacks tune or holdout scores", s.Name, s.Best)
			}
			// base + k task models on k tune and k holdout tasks
			if len(s.Baselines) != (k+1)*2*k {
				t.Errorf("study %s: %d baselines, want %d", s.Name, len(s.Baselines), (k+1)*2*k)
			}
		}
		if n, m := len(d.BaselineSets[DemoBaselines]), z.largest(); n != (m+1)*m {
			t.Errorf("%d demo baselines, want %d models × %d tasks", n, m+1, m)
		}
		frozen, tuned := 0, 0
		byRule := map[string]int{}
		for _, p := range d.Curve {
			if p.Subset != 0 {
				continue // the demo's one subset per size, beside its aggregate
			}
			switch p.Variant {
			case results.VariantFrozen:
				frozen++
				byRule[p.Rule]++
				// Every rule's factor is recorded; at the tuned size the
				// fixed, mean and sqrt rules keep the tuned λ.
				if p.Factor <= 0 || (p.Models == k && p.Rule != "refit" && p.Factor != 1) {
					t.Errorf("frozen point %+v: factor %v", p, p.Factor)
				}
			case results.VariantTuned:
				tuned++
				if p.Models != k {
					t.Errorf("tuned point at %d models without --full", p.Models)
				}
			}
			// A rule's scale can break a merge (mean's ×k/N of TIES'
			// λ at 2 models): 0 is a score, but not at the tuned size.
			if p.Normalized < 0 || p.Normalized > 1.5 || (p.Models == k && p.Normalized == 0) {
				t.Errorf("curve point %+v: normalized out of range", p)
			}
		}
		if frozen != 3*len(rules)*sizes || tuned != 3 {
			t.Errorf("curve: %d frozen points (want 3 methods × %d rules at %v), %d tuned (want 3)", frozen, len(rules), z.curve(), tuned)
		}
		for _, r := range rules {
			if byRule[r] != 3*sizes {
				t.Errorf("rule %s: %d frozen points, want 3 methods at %v", r, byRule[r], z.curve())
			}
		}
		// Without --full the one size with a re-tuned point is the tuned
		// one: a verdict per method and rule there, with both intervals.
		vs := eval.CurveVerdicts(d.Curve)
		if len(vs) != 3*len(rules) {
			t.Errorf("%d transfer verdicts, want %d (one per method and rule at %d): %+v", len(vs), 3*len(rules), k, vs)
		}
		for _, v := range vs {
			if v.Models != k || !(v.Tuned.Lo < v.Tuned.Hi) || !(v.Frozen.Lo < v.Frozen.Hi) {
				t.Errorf("verdict %+v: want one at %d models with both items' intervals", v, k)
			}
		}
		rdb, err := results.Open(ctx, dbPath)
		if err != nil {
			t.Fatal(err)
		}
		defer rdb.Close()
		best, err := search.BestTrial(ctx, rdb, fmt.Sprintf("ties-%d", k))
		if err != nil || best == nil {
			t.Fatalf("best trial of ties-%d: %v, %v", k, best, err)
		}
		for _, f := range []string{fmt.Sprintf("studies/ties-%d.yml", k), "recipes/ties.yml", "recipes/breadcrumbs.yml", "recipes/task_arithmetic.yml"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Error(err)
			}
		}
	})

	data, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	page := string(data)
	var ids []string
	ids = append(ids, "comparison", "extend", "baselines", "plot-extend", "plot-compare-history")
	for m, params := range methods {
		s := "study-" + strings.ReplaceAll(m, "_", "-") + fmt.Sprintf("-%d", k)
		ids = append(ids, s, s+"-config", s+"-best", s+"-holdout", s+"-history", s+"-params", s+"-tasks", s+"-failures",
			s+"-plot-history", s+"-plot-tasks")
		for _, p := range params {
			ids = append(ids, s+"-plot-param-"+p)
		}
	}

	t.Run("html", func(t *testing.T) {
		for _, id := range ids {
			if !strings.Contains(page, `id="`+id+`"`) {
				t.Errorf("report lacks the element with id %q", id)
			}
		}
		for _, h := range []string{"Comparison of the studies", "Extend curve", "Configuration", "Best trials", "Optimisation history",
			"Parameters against the objective", "Per-task scores", "Failed and pruned trials"} {
			if !strings.Contains(page, h) {
				t.Errorf("report lacks the heading %q", h)
			}
		}
		// Every plot has data: points, lines or bars.
		svgs := regexp.MustCompile(`(?s)<svg [^>]*id="([^"]+)"[^>]*>(.*?)</svg>`).FindAllStringSubmatch(page, -1)
		if len(svgs) < 15 {
			t.Errorf("%d plots, want at least 15 (2 + 3 studies × (history, tasks) + 7 parameters)", len(svgs))
		}
		for _, m := range svgs {
			if n := strings.Count(m[2], `class="pt"`) + strings.Count(m[2], `class="series line"`) + strings.Count(m[2], `class="bar"`); n == 0 {
				t.Errorf("plot %s has no data elements", m[1])
			}
		}
		// Self-contained: nothing loaded from anywhere.
		for _, bad := range []string{"<script", "<link", "<img", "@import", "url(", "https://", `src="`} {
			if strings.Contains(page, bad) {
				t.Errorf("report is not self-contained: it contains %q", bad)
			}
		}
		if n := strings.Count(page, "http://") - strings.Count(page, `xmlns="http://www.w3.org/2000/svg"`); n != 0 {
			t.Errorf("report has %d http:// references", n)
		}
	})

	t.Run("markdown", func(t *testing.T) {
		md := filepath.Join(dir, "report.md")
		mustRunCLI(t, "report", dbPath, "--out", md, "--format", "md")
		text, err := os.ReadFile(md)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"## Comparison of the studies", "## Extend curve", "### Transfer verdict", fmt.Sprintf("## Study breadcrumbs-%d", k), "### Configuration",
			"### Best trials", "### Holdout", "### Failed and pruned trials", "| trial | objective | settings |"} {
			if !strings.Contains(string(text), want) {
				t.Errorf("markdown report lacks %q", want)
			}
		}
	})

	t.Run("csv", func(t *testing.T) {
		path := filepath.Join(dir, "trials.csv")
		mustRunCLI(t, "report", dbPath, "--out", path, "--format", "csv")
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1+3*demoTrials {
			t.Fatalf("%d csv rows, want a header and %d trials", len(rows), 3*demoTrials)
		}
		head := strings.Join(rows[0], ",")
		for _, want := range []string{"study", "objective", "param:lambda", "param:gamma", "acc:tune:toy:swapcase@tune", "ci_lo:holdout:toy:rot1"} {
			if !strings.Contains(head, want) {
				t.Errorf("csv header lacks %q: %s", want, head)
			}
		}
		// The curve beside the trials: 3 methods × the rules × the
		// sizes, one subset and its aggregate each, and the 3 tuned
		// points.
		cf, err := os.Open(report.CurveCSVPath(path))
		if err != nil {
			t.Fatal(err)
		}
		defer cf.Close()
		crows, err := csv.NewReader(cf).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if n := 3*len(rules)*sizes*2 + 3; len(crows) != 1+n || crows[0][0] != "curve_method" {
			t.Errorf("curve csv: %d rows, want a header and %d points; header %v", len(crows), n, crows[0])
		}
	})

	t.Run("browser", func(t *testing.T) {
		checkInBrowser(t, htmlPath, ids)
	})
}

// chromium is Debian's chromium; .ci/run installs it.
const chromium = "/usr/bin/chromium"

// checkInBrowser renders the report in headless chromium: the page must
// load without console errors, its DOM must hold every id, and the
// screenshot must be a real picture.
func checkInBrowser(t *testing.T, page string, ids []string) {
	bin := chromium
	if _, err := os.Stat(bin); err != nil {
		p, lerr := exec.LookPath("chromium")
		if lerr != nil {
			t.Fatalf("chromium is needed for the browser test (apt-get install chromium; .ci/run installs it): %v", err)
		}
		bin = p
	}
	dir := t.TempDir()
	run := func(extra ...string) (string, string) {
		t.Helper()
		args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run",
			"--user-data-dir=" + filepath.Join(dir, "profile-"+extra[0][2:8]), "--enable-logging=stderr", "--v=0"}
		args = append(args, extra...)
		args = append(args, "file://"+page)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, stderr.String())
		}
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(line, "Uncaught") || strings.Contains(line, "Failed to load resource") ||
				strings.Contains(line, "net::ERR_") || (strings.Contains(line, ":CONSOLE") && strings.Contains(line, "ERROR")) {
				t.Errorf("chromium reported an error loading the page: %s", line)
			}
		}
		return stdout.String(), stderr.String()
	}
	dom, _ := run("--dump-dom")
	for _, id := range ids {
		if !strings.Contains(dom, `id="`+id+`"`) {
			t.Errorf("the browser's DOM lacks the element with id %q", id)
		}
	}
	if n := strings.Count(dom, "<svg"); n < 15 {
		t.Errorf("the browser's DOM has %d plots, want at least 15", n)
	}
	shot := filepath.Join(dir, "report.png")
	run("--screenshot="+shot, "--window-size=1280,4000")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	if n := distinctColours(img); n < 16 {
		t.Errorf("screenshot has %d distinct colours: blank or broken page", n)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 4000 {
		t.Errorf("screenshot is %dx%d, want 1280x4000", b.Dx(), b.Dy())
	}
}

// distinctColours counts the colours of a grid of samples of img.
func distinctColours(img image.Image) int {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	return len(seen)
}

// TestDemoThroughOllama runs a minimal demo with every evaluation going
// through a real, private `ollama serve` (--host), and checks the studies
// completed and the report was written.
func TestDemoThroughOllama(t *testing.T) {
	srv := ollamatest.New(t, ollamatest.Options{ContextLength: 2048, NumParallel: 2})
	dir := t.TempDir()
	family, err := filepath.Abs(filepath.Join("..", "..", "datasets", "toy", "family"))
	if err != nil {
		t.Fatal(err)
	}
	// Small sizes and one rule: every model goes through the server
	// (TestDemo runs every rule with the built-in runner).
	const k = 2
	out, err := runCLI(t, "demo", "--out", dir, "--host", srv.Host(), "--trials", "2", "--limit", "4", "-q", "--family", family,
		"--tune", fmt.Sprint(k), "--extend", "4", "--rules", "fixed")
	if err != nil {
		log := srv.Log()
		log = log[max(0, len(log)-6000):]
		t.Fatalf("mergetune demo: %v\n%s\nollama serve's log, last lines:\n%s", err, out, log)
	}
	if !strings.Contains(out, filepath.Join(dir, "report.html")) {
		t.Fatalf("demo output does not say where the report is:\n%s", out)
	}
	ctx := context.Background()
	db, err := results.Open(ctx, filepath.Join(dir, "mergetune.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, m := range []string{"breadcrumbs", "ties", "task_arithmetic"} {
		name := fmt.Sprintf("%s-%d", m, k)
		trials, err := db.Trials(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		complete := 0
		for _, tr := range trials {
			if tr.State == results.TrialComplete {
				complete++
			}
		}
		if complete != 2 {
			t.Errorf("study %s: %d complete trials through Ollama, want 2", name, complete)
		}
	}
	runs, err := db.Baselines(ctx, fmt.Sprintf("breadcrumbs-%d", k))
	if err != nil || len(runs) == 0 {
		t.Fatalf("no baselines recorded: %v", err)
	}
}

// TestDemoInstalled builds mergetune as `go install` would and runs the
// demo from an empty working directory, far from any checkout, with a
// fresh home: the binary must bring its own model family, extract it into
// the user's cache directory and reuse it on the next run; with no cache
// directory at all it extracts the family into --out.
func TestDemoInstalled(t *testing.T) {
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin", "mergetune")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	name, err := family.DirName()
	if err != nil {
		t.Fatal(err)
	}
	// env is the environment without HOME and XDG_CACHE_HOME, plus extra.
	env := func(extra ...string) []string {
		var e []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
				e = append(e, kv)
			}
		}
		return append(e, extra...)
	}
	demo := func(t *testing.T, wd string, env []string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "demo", "--out", "out", "--trials", "1", "--limit", "2", "--workers", "1", "-q", "--tune", "2", "--extend", "4", "--rules", "fixed")
		cmd.Dir, cmd.Env = wd, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mergetune demo in %s: %v\n%s", wd, err, out)
		}
		report := filepath.Join(wd, "out", "report.html")
		if !strings.Contains(string(out), report) {
			t.Errorf("demo output does not say where the report is:\n%s", out)
		}
		if _, err := os.Stat(report); err != nil {
			t.Error(err)
		}
		return string(out)
	}
	mkdir := func(t *testing.T, dir string) string {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	t.Run("cache", func(t *testing.T) {
		home := mkdir(t, filepath.Join(tmp, "home"))
		cache := filepath.Join(home, "cache")
		wd := mkdir(t, filepath.Join(tmp, "empty"))
		e := env("HOME="+home, "XDG_CACHE_HOME="+cache)
		demo(t, wd, e)
		extracted := filepath.Join(cache, "mergetune", name)
		if err := family.Verify(extracted); err != nil {
			t.Fatalf("the family in the cache: %v", err)
		}
		if got := entries(t, filepath.Join(cache, "mergetune")); strings.Join(got, ",") != name {
			t.Errorf("the cache holds %v, want only %s", got, name)
		}
		if got := entries(t, wd); strings.Join(got, ",") != "out" {
			t.Errorf("the working directory holds %v, want only out", got)
		}
		// A second demo elsewhere reuses the extracted family as it is.
		before, err := os.Stat(filepath.Join(extracted, family.Base, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		demo(t, mkdir(t, filepath.Join(tmp, "empty2")), e)
		after, err := os.Stat(filepath.Join(extracted, family.Base, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(before, after) {
			t.Error("the second demo extracted the family again")
		}
	})

	t.Run("no cache directory", func(t *testing.T) {
		wd := mkdir(t, filepath.Join(tmp, "nohome"))
		demo(t, wd, env())
		if err := family.Verify(filepath.Join(wd, "out", name)); err != nil {
			t.Fatalf("without a cache directory the family belongs in --out: %v", err)
		}
	})
}

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestDemoFamilyFlag checks where the demo takes its family from: --family
// when given (and refused, naming the flag and the directory, when it is
// not a family), else the built-in one extracted into the cache.
func TestDemoFamilyFlag(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	name, err := family.DirName()
	if err != nil {
		t.Fatal(err)
	}
	checkout, err := filepath.Abs(filepath.Join("..", "..", "datasets", "toy", "family"))
	if err != nil {
		t.Fatal(err)
	}
	notFamily := t.TempDir()
	for _, tc := range []struct {
		flag, want, err string
	}{
		{"", filepath.Join(cache, "mergetune", name), ""},
		{checkout, checkout, ""},
		{notFamily, "", "--family " + notFamily + ": not the tiny model family (no base/config.json)"},
		{filepath.Join(notFamily, "missing"), "", "--family " + filepath.Join(notFamily, "missing") + ": not the tiny model family"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			got, err := demoFamily(context.Background(), tc.flag, t.TempDir())
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("demoFamily(%q) = %q, %v; want an error containing %q", tc.flag, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("demoFamily(%q) = %q, %v; want %q", tc.flag, got, err, tc.want)
			}
		})
	}
	// The demo refuses a --family that is not one before doing anything.
	out, err := runCLI(t, "demo", "--out", t.TempDir(), "--family", notFamily)
	if err == nil || !strings.Contains(err.Error(), "--family "+notFamily) {
		t.Fatalf("demo --family %s: %v\n%s", notFamily, err, out)
	}
}

// TestDemoSizes checks --tune and --extend: the sizes the frozen settings
// are merged at, and a clear error for each bad value before any work.
func TestDemoSizes(t *testing.T) {
	if z := demoSizes(); z.Tune != 10 || !slices.Equal(z.Retune, []int{20, 40}) || !slices.Equal(z.curve(), []int{2, 5, 10, 20, 40}) {
		t.Errorf("default sizes %v, curve %v: want 10 → 20, 40 over 2, 5, 10, 20, 40", z, z.curve())
	}
	for _, tc := range []struct {
		tune   int
		extend string
		curve  []int
		err    string
	}{
		{2, "4", []int{2, 4}, ""},
		{1, "2", []int{1, 2}, ""},
		{4, "8,16", []int{2, 4, 8, 16}, ""},
		{3, " 6 , 12 ", []int{2, 3, 6, 12}, ""},
		{0, "4", nil, "--tune 0: want at least 1 task"},
		{4, "", nil, `--extend "": want at least one number of tasks above --tune 4`},
		{4, "8,x", nil, `--extend "8,x": value "x": want ascending numbers of tasks above --tune 4`},
		{4, "16,8", nil, `--extend "16,8": value "8": want ascending numbers of tasks above --tune 4`},
		{4, "4", nil, `--extend "4": value "4": want ascending numbers of tasks above --tune 4`},
	} {
		z, err := parseDemoSizing(tc.tune, tc.extend)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("--tune %d --extend %q: error %v, want %q", tc.tune, tc.extend, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(z.curve(), tc.curve) {
			t.Errorf("--tune %d --extend %q: curve %v (%v), want %v", tc.tune, tc.extend, z.curve(), err, tc.curve)
		}
	}
	// Flags the demo refuses before writing anything.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--rules", "fixed,half"}, `--rules "fixed,half": unknown scale rule "half"`},
		{[]string{"--rules", ","}, `--rules ",": want at least one scale rule`},
		{[]string{"--extend", "20,60"}, `--extend "20,60": the family's extension order has`},
	} {
		dir := filepath.Join(t.TempDir(), "out")
		out, err := runCLI(t, append([]string{"demo", "--out", dir}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("demo %v: error %v, want %q\n%s", tc.args, err, tc.want, out)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("demo %v wrote %s before refusing", tc.args, dir)
		}
	}
}
