package search

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/merge"
	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/study"
)

// transferStudy writes a task arithmetic study over four toy task models
// with the given objective.transfer.
func transferStudy(t *testing.T, dir, transfer string) *study.Study {
	fam := family(t)
	var models, tasks []string
	for _, n := range []string{"swapcase", "rot1", "succ", "rotleft"} {
		models = append(models, fmt.Sprintf("  - {model: %s/%s, tasks: [%s]}", fam, n, n))
		tasks = append(tasks, "toy:"+n+"@tune")
	}
	text := fmt.Sprintf(`name: transfer
base_model: %s/base
models:
%s
method: task_arithmetic
parameters: {weight: 1}
space:
  lambda: {type: float, low: 0.2, high: 1.2}
tasks: [%s]
limit: 6
dtype: bfloat16
objective: {type: normalized, transfer: %s}
sampler: {type: random, seed: 2}
trials: 2
storage: study.db
work_dir: work
`, fam, strings.Join(models, "\n"), strings.Join(tasks, ", "), transfer)
	path := filepath.Join(dir, "transfer.yml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := study.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTransferObjective runs a study whose objective is the transfer
// objective (sizes k/2 and k, two subsets, the sqrt scale rule) and
// checks each trial: its recorded subsets are the seeded draw, and its
// objective equals the mean of the subsets' scores, each recomputed here
// by merging the subset by hand (λ × √(k/n), the members' paths) and
// scoring it on the members' tune tasks.
func TestTransferObjective(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := transferStudy(t, dir, "{sizes: [k/2, k], subsets: 2, seed: 5, rule: sqrt}")

	subs := TransferSubsets(s)
	if !reflect.DeepEqual(subs, TransferSubsets(s)) {
		t.Fatal("TransferSubsets differs between two calls")
	}
	if len(subs) != 3 || subs[0].Size != 2 || subs[1].Size != 2 || subs[2].Size != 4 || reflect.DeepEqual(subs[0].Members, subs[1].Members) {
		t.Fatalf("subsets %+v: want two distinct of 2 models and the one of 4", subs)
	}
	other := *s
	tr := *s.Transfer
	tr.Seed = 6
	other.Transfer = &tr
	if reflect.DeepEqual(TransferSubsets(&other)[:2], subs[:2]) {
		t.Errorf("seeds 5 and 6 draw the same subsets %+v", subs[:2])
	}

	sum, err := Run(ctx, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status.Complete != 2 {
		t.Fatalf("%d complete trials, want 2", sum.Status.Complete)
	}
	st, err := OpenStore(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.ensureStudy(s); err != nil {
		t.Fatal(err)
	}
	trials, err := st.Storage.GetAllTrials(st.StudyID)
	if err != nil || len(trials) != 2 {
		t.Fatalf("%d goptuna trials, want 2 (%v)", len(trials), err)
	}
	be, _, err := backends.All().Open(ctx, backends.Builtin, backends.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sc := Scoring(s, eval.BaselineDB(st.Results, s.Name))
	for _, tr := range trials {
		rec, ok, err := st.Results.Trial(ctx, s.Name, tr.Number)
		if err != nil || !ok || rec.State != results.TrialComplete {
			t.Fatalf("trial %d: %+v, %v", tr.Number, rec, err)
		}
		scores, err := TransferScores(tr.UserAttrs)
		if err != nil {
			t.Fatal(err)
		}
		if len(scores) != len(subs) {
			t.Fatalf("trial %d: %d transfer scores, want %d", tr.Number, len(scores), len(subs))
		}
		doc, err := config.ReadDocument([]byte(rec.MergeYAML), "trial")
		if err != nil {
			t.Fatal(err)
		}
		lambda, err := strconv.ParseFloat(fmt.Sprint(doc.Parameters["lambda"]), 64)
		if err != nil {
			t.Fatalf("trial %d: lambda %v: %v", tr.Number, doc.Parameters["lambda"], err)
		}
		var mean float64
		for i, ts := range scores {
			var names, paths []string
			for _, m := range subs[i].Members {
				names, paths = append(names, s.Models[m].Name), append(paths, s.Models[m].Path)
			}
			if ts.Size != subs[i].Size || !reflect.DeepEqual(ts.Members, names) {
				t.Errorf("trial %d score %d: %d models %v, want the draw's %d models %v", tr.Number, i, ts.Size, ts.Members, subs[i].Size, names)
			}
			got, digest := recomputeSubset(t, ctx, s, be, sc, lambda*math.Sqrt(4/float64(ts.Size)), names, paths, filepath.Join(dir, fmt.Sprintf("check-%d-%d", tr.Number, i)))
			// The merge evaluated in the trial is the one made here.
			if n := queryInt(t, s.Storage, `SELECT count(*) FROM mt_eval_runs WHERE model_digest = ? AND model_dir <> ?`, digest,
				filepath.Join(dir, fmt.Sprintf("check-%d-%d", tr.Number, i))); n == 0 {
				t.Errorf("trial %d, subset %v: no evaluation of the merge with digest %s", tr.Number, names, digest)
			}
			if math.Abs(got-ts.Score) > 1e-9 {
				t.Errorf("trial %d, subset %v: recorded score %v, recomputed %v", tr.Number, names, ts.Score, got)
			}
			mean += got / float64(len(scores))
		}
		if math.Abs(*rec.Objective-mean) > 1e-9 || math.Abs(tr.Value-mean) > 1e-9 {
			t.Errorf("trial %d: objective %v (goptuna %v), want the mean of its subsets' scores %v", tr.Number, *rec.Objective, tr.Value, mean)
		}
	}
}

// recomputeSubset merges the models at paths by task arithmetic at lambda
// (weight 1 each) and scores the merge on the tune tasks of the models
// named names; it returns the score and the merge's digest.
func recomputeSubset(t *testing.T, ctx context.Context, s *study.Study, be eval.Backend, sc eval.Scoring, lambda float64, names, paths []string, dir string) (float64, string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "merge_method: task_arithmetic\nbase_model: %s\ndtype: bfloat16\nparameters:\n  lambda: %s\nmodels:\n", s.BaseModel, strconv.FormatFloat(lambda, 'g', -1, 64))
	for _, p := range paths {
		fmt.Fprintf(&b, "  - model: %s\n    parameters:\n      weight: 1\n", p)
	}
	cfg, err := config.Parse([]byte(b.String()), "check.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := openCandidate(ctx, cfg, dir, merge.Options{Seed: s.Seed, Force: true}, be)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var accs []eval.TaskAccuracy
	for _, task := range s.Tune {
		for _, n := range names {
			if task.Name == "toy:"+n+"@tune" {
				r, err := eval.Evaluate(ctx, c, task, eval.Options{})
				if err != nil {
					t.Fatal(err)
				}
				accs = append(accs, eval.TaskAccuracy{Task: r.Task, Accuracy: r.Accuracy})
			}
		}
	}
	if len(accs) != len(names) {
		t.Fatalf("subset %v: scored %d tasks", names, len(accs))
	}
	v, err := sc.Objective(ctx, accs)
	if err != nil {
		t.Fatal(err)
	}
	return v, c.Digest()
}

// TestTransferRule: the transfer objective's scale rule is checked when
// the study runs, by the scale rules' table.
func TestTransferRule(t *testing.T) {
	for _, tc := range []struct{ rule, want string }{
		{"half", `objective.transfer.rule: value "half": unknown scale rule "half" (known: fixed, mean, refit, sqrt)`},
		{"refit", `objective.transfer.rule: value "refit": scale rule refit searches its own factor; the transfer objective takes a fixed one (fixed, mean or sqrt)`},
	} {
		dir := t.TempDir()
		s := transferStudy(t, dir, "{sizes: [k], rule: "+tc.rule+"}")
		_, err := Run(context.Background(), s, Options{})
		if err == nil || err.Error() != filepath.Join(dir, "transfer.yml")+": "+tc.want {
			t.Errorf("rule %s: %v, want %s", tc.rule, err, tc.want)
		}
	}
}
