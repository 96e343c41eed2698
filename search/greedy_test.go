package search

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/study"
)

// TestGreedySoup runs a greedy soup on the toy family, scored on one task
// (succ) with its fine-tune, the fine-tune of the opposed task (pred) and
// two unrelated ones. It checks, from the records alone: the steps try the
// models in order of their own tune score (their baselines), best first;
// a step is kept exactly when the soup's score does not drop, so the
// opposed model, which lowers it, is dropped; status notes each step;
// and the best trial (study best) is the final soup.
func TestGreedySoup(t *testing.T) {
	fam := family(t)
	dir := t.TempDir()
	text := strings.ReplaceAll(`name: soup
search: greedy_soup
base_model: FAM/base
models:
  - model: FAM/upper
  - model: FAM/pred
  - model: FAM/succ
  - model: FAM/swapcase
tasks: [toy:succ@tune]
holdout: [toy:succ]
limit: 20
dtype: bfloat16
storage: study.db
work_dir: work
`, "FAM", fam)
	path := filepath.Join(dir, "study.yml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := study.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Trials != 4 || s.Methods[0] != "linear" {
		t.Fatalf("greedy soup study: %d trials, method %v; want 4, linear", s.Trials, s.Methods)
	}
	ctx := context.Background()
	sum, err := Run(ctx, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rdb, err := results.Open(ctx, s.Storage)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	own := map[string]float64{} // model directory → its own succ accuracy
	for _, m := range s.Models {
		b, ok, err := rdb.Baseline(ctx, "soup", m.Name, s.Tune[0].Name)
		if err != nil || !ok {
			t.Fatalf("baseline of %s: %v %v", m.Name, ok, err)
		}
		own[m.Path] = b.Accuracy
	}
	st := sum.Status
	if st.Complete != 4 || len(st.Trials) != 4 {
		t.Fatalf("status: %d complete of %d trials, want 4 of 4", st.Complete, len(st.Trials))
	}
	var soup []string // the soup so far, model directories
	var soupScore float64
	var lastKept int
	dropped := map[string]bool{}
	seen := map[string]bool{}
	for k, r := range st.Trials {
		var doc struct {
			MergeMethod string `yaml:"merge_method"`
			Models      []struct {
				Model      string             `yaml:"model"`
				Parameters map[string]float64 `yaml:"parameters"`
			} `yaml:"models"`
		}
		if err := yaml.Unmarshal([]byte(r.MergeYAML), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.MergeMethod != "linear" || len(doc.Models) != len(soup)+1 {
			t.Fatalf("step %d: %s over %d models, want linear over %d (soup %v):\n%s", k, doc.MergeMethod, len(doc.Models), len(soup)+1, soup, r.MergeYAML)
		}
		added := doc.Models[len(doc.Models)-1].Model
		for i, m := range doc.Models {
			if i < len(soup) && m.Model != soup[i] {
				t.Errorf("step %d: model %d is %s, want the soup's %s", k, i, m.Model, soup[i])
			}
			if m.Parameters["weight"] != 1 {
				t.Errorf("step %d: %s weight %v, want 1 (a uniform average)", k, m.Model, m.Parameters["weight"])
			}
		}
		if seen[added] {
			t.Errorf("step %d: %s tried twice", k, added)
		}
		seen[added] = true
		// order: no model not yet tried scores higher on its own
		for _, m := range s.Models {
			if !seen[m.Path] && own[m.Path] > own[added] {
				t.Errorf("step %d tries %s (own %.3f) before %s (own %.3f)", k, added, own[added], m.Path, own[m.Path])
			}
		}
		keep := k == 0 || *r.Objective >= soupScore
		if keep {
			soup, soupScore, lastKept = append(soup, added), *r.Objective, r.Number
		} else {
			dropped[added] = true
		}
		note := st.Notes[r.Number]
		if want := map[bool]string{true: " kept", false: " dropped"}[keep]; !strings.Contains(note, want) {
			t.Errorf("step %d (%s, objective %.3f, soup %.3f): note %q, want %q", k, filepath.Base(added), *r.Objective, soupScore, note, want)
		}
	}
	if !dropped[filepath.Join(fam, "pred")] {
		t.Errorf("pred, the opposed task's model, was kept in the soup %v", soup)
	}
	if len(soup) < 1 || soup[0] != filepath.Join(fam, "succ") {
		t.Errorf("soup %v does not start from succ's own fine-tune", soup)
	}
	if st.Best == nil || st.Best.Number != lastKept {
		t.Fatalf("best trial %v, want the final soup (trial %d)", st.Best, lastKept)
	}
	if len(sum.Holdout) != 1 || sum.RecipeHoldout != nil {
		t.Errorf("holdout %+v, recipe holdout %+v; want the final soup's one task, no recipe", sum.Holdout, sum.RecipeHoldout)
	}
	rs, err := ReadStatus(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Best == nil || rs.Best.Number != lastKept || rs.Best.MergeYAML != st.Best.MergeYAML {
		t.Errorf("study best reads trial %v, want %d", rs.Best, lastKept)
	}
	if _, err := Freeze(ctx, s); err == nil || !strings.Contains(err.Error(), "greedy soup") {
		t.Errorf("freeze of a greedy soup: %v, want an error saying it is one", err)
	}
	set, ok, err := rdb.StudySettings(ctx, "soup")
	if err != nil || !ok || set.Search != study.SearchGreedySoup {
		t.Fatalf("recorded settings: %+v, %v, %v; want search %s", set.Search, ok, err, study.SearchGreedySoup)
	}
	if rb, ok := set.Best(st.Trials); !ok || rb.Number != lastKept {
		t.Errorf("the report's best (recorded settings) is trial %d, want the final soup %d", rb.Number, lastKept)
	}
	var b strings.Builder
	rs.Write(&b)
	if !strings.Contains(b.String(), "+pred dropped") {
		t.Errorf("status does not show pred's step as dropped:\n%s", b.String())
	}
	t.Logf("status:\n%s", b.String())
}

// TestGreedySoupResumes stops a greedy soup after its second step and runs
// it again: the run resumes at the third step (no step repeated, none
// skipped) and ends with the same soup as an uninterrupted run.
func TestGreedySoupResumes(t *testing.T) {
	fam := family(t)
	soupOf := func(t *testing.T, stopAfter int) (string, []string) {
		dir := t.TempDir()
		text := strings.ReplaceAll(`name: soup
search: greedy_soup
base_model: FAM/base
models:
  - model: FAM/upper
  - model: FAM/pred
  - model: FAM/succ
tasks: [toy:succ@tune]
limit: 12
storage: study.db
work_dir: work
`, "FAM", fam)
		path := filepath.Join(dir, "study.yml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := study.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if stopAfter > 0 {
			ctx, cancel := context.WithCancel(context.Background())
			n := 0
			_, err := Run(ctx, s, Options{Progress: func(Progress) {
				if n++; n == stopAfter {
					cancel()
				}
			}})
			cancel()
			if err == nil {
				t.Fatal("the stopped run returned no error")
			}
		}
		sum, err := Run(context.Background(), s, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var added []string
		for _, r := range sum.Status.Trials {
			if r.State == results.TrialComplete {
				added = append(added, sum.Status.Notes[r.Number])
			}
		}
		return sum.Status.Best.MergeYAML[strings.Index(sum.Status.Best.MergeYAML, "\n"):], added
	}
	want, wantSteps := soupOf(t, 0)
	got, gotSteps := soupOf(t, 2)
	if got != want {
		t.Errorf("resumed soup:\n%s\nuninterrupted:\n%s", got, want)
	}
	if strings.Join(gotSteps, "|") != strings.Join(wantSteps, "|") || len(gotSteps) != 3 {
		t.Errorf("resumed steps %q, uninterrupted %q", gotSteps, wantSteps)
	}
}
