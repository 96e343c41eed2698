package optim

import (
	"fmt"
	"testing"

	"github.com/c-bata/goptuna"
)

// TestGridCoversEveryPoint: with a budget of the grid's size, the grid
// sampler evaluates every point of a stepped float × choice space exactly
// once, the enqueued start point included (it is not proposed again).
func TestGridCoversEveryPoint(t *testing.T) {
	space := map[string]interface{}{
		"lambda": goptuna.DiscreteUniformDistribution{Low: 0.1, High: 0.5, Q: 0.1}, // 5 values
		"method": goptuna.CategoricalDistribution{Choices: []string{"ties", "linear", "slerp"}},
	}
	e, err := Samplers().Lookup("grid")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := e.Options(Settings{Seed: 1, Space: space})
	if err != nil {
		t.Fatal(err)
	}
	opts = append(opts, goptuna.StudyOptionLogger(nil))
	st, err := goptuna.CreateStudy("grid", opts...)
	if err != nil {
		t.Fatal(err)
	}
	// the start point, as a study enqueues it: lambda 0.3, method slerp
	if err := st.EnqueueTrial(map[string]float64{"lambda": 0.30000000000000004, "method": 2}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var order []string
	objective := func(tr goptuna.Trial) (float64, error) {
		l, err := tr.SuggestDiscreteFloat("lambda", 0.1, 0.5, 0.1)
		if err != nil {
			return 0, err
		}
		m, err := tr.SuggestCategorical("method", []string{"ties", "linear", "slerp"})
		if err != nil {
			return 0, err
		}
		k := fmt.Sprintf("%.1f/%s", l, m)
		seen[k]++
		order = append(order, k)
		return l, nil
	}
	if err := st.Optimize(objective, 15); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 15 {
		t.Errorf("%d distinct points of 15: %v", len(seen), order)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("point %s evaluated %d times", k, n)
		}
	}
	if order[0] != "0.3/slerp" || order[1] != "0.1/ties" || order[2] != "0.1/linear" {
		t.Errorf("order starts %v; want the start point, then the grid in order", order[:3])
	}
}

// TestGridAxesRefusesContinuous: a continuous parameter has no grid.
func TestGridAxesRefusesContinuous(t *testing.T) {
	_, _, err := GridAxes(map[string]interface{}{"lambda": goptuna.UniformDistribution{Low: 0, High: 1}})
	if err == nil {
		t.Fatal("no error for a continuous parameter")
	}
}
