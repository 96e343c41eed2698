package eval

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/results"
)

// TestScoring checks the one scoring rule: weights (missing or 0 → 1),
// normalization by the task model's own accuracy (raw accuracy where that
// is 0), and a clear error for a task without a model or a baseline.
func TestScoring(t *testing.T) {
	models := map[string]string{"a": "ma", "b": "mb", "c": "mc"}
	bs := []results.Baseline{
		{Model: "ma", Task: "a", Accuracy: 0.5},
		{Model: "mb", Task: "b", Accuracy: 0.8},
		{Model: "mc", Task: "c", Accuracy: 0},
		{Model: "mb", Task: "a", Accuracy: 0.1}, // another model's score on a: not a's baseline
	}
	base := Scoring{TaskModel: func(task string) string { return models[task] }, Baseline: BaselineList(bs)}
	withW := base
	withW.Weights = map[string]float64{"a": 3, "c": 0}
	accs := []TaskAccuracy{{Task: "a", Accuracy: 0.4}, {Task: "b", Accuracy: 0.4}}
	for _, tc := range []struct {
		name      string
		sc        Scoring
		accs      []TaskAccuracy
		mean, nrm float64
		err       string
	}{
		{name: "unweighted", sc: base, accs: accs, mean: 0.4, nrm: (0.8 + 0.5) / 2},
		{name: "weighted", sc: withW, accs: accs, mean: 0.4, nrm: (3*0.8 + 0.5) / 4},
		{name: "weighted mean", sc: withW, accs: []TaskAccuracy{{Task: "a", Accuracy: 1}, {Task: "b", Accuracy: 0}}, mean: 0.75, nrm: 3 * 2.0 / 4},
		{name: "zero baseline keeps the raw accuracy", sc: base, accs: []TaskAccuracy{{Task: "c", Accuracy: 0.3}}, mean: 0.3, nrm: 0.3},
		{name: "no tasks", sc: base, accs: nil, mean: 0, nrm: 0},
		{name: "no model", sc: base, accs: []TaskAccuracy{{Task: "d", Accuracy: 0.3}}, mean: 0.3, err: "no model is tagged with task d"},
		{name: "no baseline", sc: Scoring{TaskModel: base.TaskModel, Baseline: BaselineList(nil)}, accs: accs, mean: 0.4,
			err: "no baseline of ma on a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.sc.Mean(tc.accs); math.Abs(got-tc.mean) > 1e-12 {
				t.Errorf("Mean = %v, want %v", got, tc.mean)
			}
			got, err := tc.sc.Normalized(context.Background(), tc.accs)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Normalized error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tc.nrm) > 1e-12 {
				t.Errorf("Normalized = %v, want %v", got, tc.nrm)
			}
			tc.sc.Normalize = true
			if obj, err := tc.sc.Objective(context.Background(), tc.accs); err != nil || obj != got {
				t.Errorf("Objective with Normalize = %v, %v; want %v", obj, err, got)
			}
			tc.sc.Normalize = false
			if obj, err := tc.sc.Objective(context.Background(), tc.accs); err != nil || obj != tc.sc.Mean(tc.accs) {
				t.Errorf("Objective without Normalize = %v, %v; want the mean", obj, err)
			}
		})
	}
	t.Run("lookup error", func(t *testing.T) {
		boom := errors.New("boom")
		sc := base
		sc.Baseline = func(context.Context, string, string) (results.Baseline, bool, error) {
			return results.Baseline{}, false, boom
		}
		if _, err := sc.Normalized(context.Background(), accs); !errors.Is(err, boom) {
			t.Fatalf("error = %v, want it to wrap the lookup's", err)
		}
	})
}
