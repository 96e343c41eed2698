package study

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/search/optim"
)

// TestSamplersAndPruners: every sampler and pruner of optim's table is
// accepted by name (the parser and the runner read the same table), a
// sampler's dimension floor is enforced, and an unknown name is an *Error
// naming the file, the field and the value and listing the known names.
func TestSamplersAndPruners(t *testing.T) {
	fam := family(t)
	file := filepath.Join(t.TempDir(), "s.yml")
	// two numeric dimensions (lambda, density) and a one-dimension space
	two := "space:\n  lambda: {type: float, low: 0.1, high: 1}\n  density: {type: float, low: 0.2, high: 1, scope: shared}\n"
	one := "space:\n  lambda: {type: float, low: 0.1, high: 1}\n"
	samplers, pruners := optim.Samplers(), optim.Pruners()
	for _, n := range []string{"tpe", "cmaes", "random"} {
		if !samplers.Has(n) {
			t.Fatalf("samplers %v lack %s", samplers.Names(), n)
		}
	}
	for _, n := range []string{"none", "median", "asha"} {
		if !pruners.Has(n) {
			t.Fatalf("pruners %v lack %s", pruners.Names(), n)
		}
	}
	for _, name := range samplers.Names() {
		e, _ := samplers.Lookup(name)
		two, one := two, one
		if e.Discrete {
			// a discrete sampler refuses a continuous range, and takes
			// the same space stepped
			if _, err := Parse([]byte(base(fam)+two+"sampler: "+name+"\n"), file); err == nil || !strings.Contains(err.Error(), ".step") {
				t.Errorf("sampler %s over continuous ranges: %v, want an error", name, err)
			}
			two = strings.ReplaceAll(two, "high: 1", "high: 1, step: 0.1")
			one = strings.ReplaceAll(one, "high: 1", "high: 1, step: 0.1")
		}
		s, err := Parse([]byte(base(fam)+two+"sampler: {type: "+name+", seed: 3}\n"), file)
		if err != nil {
			t.Errorf("sampler %s: %v", name, err)
			continue
		}
		if s.Sampler != name || s.SamplerSeed != 3 {
			t.Errorf("sampler %s: parsed %s seed %d", name, s.Sampler, s.SamplerSeed)
		}
		_, err = Parse([]byte(base(fam)+one+"sampler: "+name+"\n"), file)
		if e.MinDimensions > 1 && (err == nil || !strings.Contains(err.Error(), "sampler.type")) {
			t.Errorf("sampler %s on one dimension: %v, want an error (it needs %d)", name, err, e.MinDimensions)
		}
		if e.MinDimensions <= 1 && err != nil {
			t.Errorf("sampler %s on one dimension: %v", name, err)
		}
	}
	for _, name := range pruners.Names() {
		s, err := Parse([]byte(base(fam)+"pruner: {type: "+name+", chunks: 2}\n"), file)
		if err != nil || s.Pruner != name {
			t.Errorf("pruner %s: %v (parsed %q)", name, err, s.Pruner)
		}
	}
	s, err := Parse([]byte(base(fam)), file)
	if err != nil || s.Sampler != optim.DefaultSampler || s.Pruner != optim.NoPruner {
		t.Errorf("defaults: %v, sampler %q pruner %q; want %s, %s", err, s.Sampler, s.Pruner, optim.DefaultSampler, optim.NoPruner)
	}
	for _, c := range []struct{ text, field, value string }{
		{"sampler: bayes\n", "sampler.type", "bayes"},
		{"sampler: {type: hyperopt, seed: 1}\n", "sampler.type", "hyperopt"},
		{"pruner: hyperband\n", "pruner.type", "hyperband"},
		{"pruner: {type: patient}\n", "pruner.type", "patient"},
	} {
		_, err := Parse([]byte(base(fam)+c.text), file)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: %v, want a *study.Error", c.text, err)
			continue
		}
		known := samplers.Names()
		if strings.HasPrefix(c.field, "pruner") {
			known = pruners.Names()
		}
		if e.File != file || e.Field != c.field || e.Value != c.value || !strings.HasSuffix(e.Msg, "known: "+strings.Join(known, ", ")) {
			t.Errorf("%s: %#v, want file %s, field %s, value %s and the known names %v", c.text, e, file, c.field, c.value, known)
		}
	}
}
