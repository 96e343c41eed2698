package methods

import (
	"slices"
	"testing"
)

func TestTakers(t *testing.T) {
	r := All()
	cases := []struct {
		name string
		want []string
	}{
		{"t", []string{"nearswap", "slerp"}},
		{"select_topk", []string{"sce"}},
		{"wieght", nil},
	}
	for _, c := range cases {
		if got := r.Takers(c.name); !slices.Equal(got, c.want) {
			t.Errorf("Takers(%q) = %q, want %q", c.name, got, c.want)
		}
	}
	w := r.Takers("weight")
	for _, m := range []string{"linear", "ties", "task_arithmetic"} {
		if !slices.Contains(w, m) {
			t.Errorf("Takers(weight) = %q lacks %s", w, m)
		}
	}
	for _, m := range []string{"slerp", "karcher", "model_stock", "nearswap", "sce"} {
		if slices.Contains(w, m) {
			t.Errorf("Takers(weight) = %q holds %s, which takes no weight", w, m)
		}
	}
}
