package results

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestStudySettings records a study's settings, replaces them, reads them
// back (SQLite and PostgreSQL), and finds none for an unknown study.
func TestStudySettings(t *testing.T) {
	for name, open := range map[string]func(*testing.T) *DB{
		"sqlite": func(t *testing.T) *DB {
			db, err := Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
		"postgres": openPostgresTemp,
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t)
			if _, ok, err := db.StudySettings(ctx, "toy"); ok || err != nil {
				t.Fatalf("settings of an unknown study: %v %v", ok, err)
			}
			set := StudySettings{Study: "toy", File: "toy.yml", Text: "name: toy\n", Methods: []string{"ties"}, Objective: "normalized",
				Weights: map[string]float64{"a": 2}, Models: []StudyModel{{Name: "a", Path: "/m/a", Tasks: []string{"a"}}},
				Tune: []string{"a"}, Holdout: []string{"a@holdout"}, TaskModels: map[string]string{"a": "a", "a@holdout": "a"},
				Summary: []Setting{{Key: "methods", Value: "ties"}}}
			if err := db.PutStudySettings(ctx, set); err != nil {
				t.Fatal(err)
			}
			set.Weights["a"] = 3 // recorded again: replaced
			if err := db.PutStudySettings(ctx, set); err != nil {
				t.Fatal(err)
			}
			got, ok, err := db.StudySettings(ctx, "toy")
			if err != nil || !ok || !reflect.DeepEqual(got, set) {
				t.Fatalf("settings read back: %+v %v %v\nwant %+v", got, ok, err, set)
			}
			if err := db.PutStudySettings(ctx, StudySettings{}); err == nil {
				t.Error("settings without a study name recorded")
			}
		})
	}
}

// TestCurveAndBestTrial round-trips curve points (a point recorded again
// is replaced) and checks BestTrial's rule: the highest objective among
// complete trials, the first listed on ties.
func TestCurveAndBestTrial(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pts := []CurvePoint{{Method: "ties", Variant: VariantFrozen, Study: "s", Models: 2, Rule: "fixed", Subsets: 1, Tasks: 2, Mean: 0.5, Normalized: 0.6, MergeTime: time.Second},
		{Method: "ties", Variant: VariantFrozen, Study: "s", Models: 2, Rule: "fixed", Subset: 1, Subsets: 3, Members: "a,b", Tasks: 2, Mean: 0.5,
			Normalized: 0.6, SubsetLo: 0.6, SubsetHi: 0.6, ItemLo: 0.4, ItemHi: 0.7, Merges: 1, Items: 12, Factor: 0.25},
		{Method: "ties", Variant: VariantFrozen, Study: "s", Models: 2, Rule: "mean", Subsets: 1, Tasks: 2, Mean: 0.5, Normalized: 0.61},
		{Method: "ties", Variant: VariantTuned, Study: "s", Models: 2, Rule: "fixed", Subsets: 1, Tasks: 2, Mean: 0.7, Normalized: 0.8}}
	if err := db.PutCurve(ctx, pts); err != nil {
		t.Fatal(err)
	}
	pts[0].Normalized = 0.65
	if err := db.PutCurve(ctx, pts[:1]); err != nil {
		t.Fatal(err)
	}
	got, err := db.Curve(ctx)
	if err != nil || len(got) != len(pts) || !slices.Equal(got, pts) {
		t.Fatalf("curve: %+v %v", got, err)
	}
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name string
		recs []TrialRecord
		want int // trial number, -1: none
	}{
		{"none", nil, -1},
		{"no complete", []TrialRecord{{Number: 0, State: TrialPruned, Objective: f(0.9)}}, -1},
		{"highest", []TrialRecord{{Number: 0, State: TrialComplete, Objective: f(0.5)}, {Number: 1, State: TrialComplete, Objective: f(0.7)},
			{Number: 2, State: TrialFailed, Objective: f(0.9)}}, 1},
		{"tie: first", []TrialRecord{{Number: 3, State: TrialComplete, Objective: f(0.7)}, {Number: 4, State: TrialComplete, Objective: f(0.7)}}, 3},
	} {
		best, ok := BestTrial(tc.recs)
		if (tc.want < 0) == ok || (ok && best.Number != tc.want) {
			t.Errorf("%s: best %d (%v), want %d", tc.name, best.Number, ok, tc.want)
		}
	}
}

// TestStudyBest: a sampling study's best is the first trial of the
// highest objective; a greedy soup's the last (its final soup); failed
// trials and trials without an objective never are.
func TestStudyBest(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	recs := []TrialRecord{
		{Number: 0, State: TrialComplete, Objective: f(0.5)},
		{Number: 1, State: TrialComplete, Objective: f(0.9)},
		{Number: 2, State: TrialComplete, Objective: f(0.4)},
		{Number: 3, State: TrialComplete, Objective: f(0.9)},
		{Number: 4, State: TrialFailed, Objective: f(1)},
		{Number: 5, State: TrialComplete},
	}
	for _, c := range []struct {
		name string
		set  *StudySettings
		want int
	}{
		{"no settings", nil, 1},
		{"sampling", &StudySettings{}, 1},
		{"greedy soup", &StudySettings{Search: SearchGreedySoup}, 3},
	} {
		best, ok := c.set.Best(recs)
		if !ok || best.Number != c.want {
			t.Errorf("%s: best trial %d (%v), want %d", c.name, best.Number, ok, c.want)
		}
		if _, ok := c.set.Best(recs[4:]); ok {
			t.Errorf("%s: a best among no complete trial with an objective", c.name)
		}
	}
}
