package optim

import (
	"errors"
	"slices"
	"testing"

	"github.com/c-bata/goptuna"
)

// TestTables: every sampler and pruner is found by its name, builds with
// the settings a study gives it, and an unknown name is an *UnknownError
// listing the known names.
func TestTables(t *testing.T) {
	space := map[string]interface{}{
		"lambda":  goptuna.UniformDistribution{Low: 0, High: 1},
		"density": goptuna.UniformDistribution{Low: 0.1, High: 1},
	}
	samplers := Samplers()
	for _, c := range []struct {
		name string
		min  int
	}{{"tpe", 0}, {"random", 0}, {"cmaes", 2}} {
		e, err := samplers.Lookup(c.name)
		if err != nil {
			t.Errorf("sampler %s: %v", c.name, err)
			continue
		}
		if e.Name != c.name || e.MinDimensions != c.min || e.Help == "" {
			t.Errorf("sampler %s: %+v, want name %s, min dimensions %d and a help line", c.name, e, c.name, c.min)
		}
		for _, set := range []Settings{{Seed: 1, Space: space}, {Seed: 2}} {
			opts, err := e.Options(set)
			if err != nil || len(opts) == 0 {
				t.Errorf("sampler %s, %+v: %d options, %v", c.name, set, len(opts), err)
			}
		}
	}
	pruners := Pruners()
	for _, c := range []struct {
		name  string
		prune bool
	}{{"none", false}, {"median", true}, {"asha", true}} {
		e, err := pruners.Lookup(c.name)
		if err != nil {
			t.Errorf("pruner %s: %v", c.name, err)
			continue
		}
		p, err := e.New(Settings{Startup: 2})
		if err != nil || (p != nil) != c.prune {
			t.Errorf("pruner %s: %v, %v; want a pruner: %v", c.name, p, err, c.prune)
		}
	}
	for _, c := range []struct {
		kind, name string
		lookup     func(string) error
		known      []string
	}{
		{"sampler", "bayes", func(n string) error { _, err := samplers.Lookup(n); return err }, samplers.Names()},
		{"pruner", "hyperband", func(n string) error { _, err := pruners.Lookup(n); return err }, pruners.Names()},
	} {
		err := c.lookup(c.name)
		var u *UnknownError
		if !errors.As(err, &u) || u.Kind != c.kind || u.Name != c.name || !slices.Equal(u.Known, c.known) {
			t.Errorf("%s %s: %v, want an UnknownError listing %v", c.kind, c.name, err, c.known)
		}
		if !slices.IsSorted(c.known) {
			t.Errorf("%s names %v are not sorted", c.kind, c.known)
		}
	}
}
