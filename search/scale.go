package search

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/mergetune/mergetune/merge/methods"
	"github.com/mergetune/mergetune/search/study"
)

// DefaultScaleRule is the scale rule freeze records and a recipe without
// one follows: the tuned settings unchanged at every size.
const DefaultScaleRule = "fixed"

// DefaultRefitTrials is the refit rule's budget at each size and subset:
// merges tried for the one global scale.
const DefaultRefitTrials = 6

// ScaleRule says how a frozen recipe's settings, tuned on k task models,
// are given to a merge of n models: its λ (or, for a method without one,
// its per-model weights) is multiplied by a factor.
type ScaleRule struct {
	Name string
	// Doc says what the rule does, for help texts.
	Doc string
	// Factor is the multiplier at n of k models; nil for a rule that
	// searches it (Refit).
	Factor func(k, n int) float64
	// Refit searches the factor at each size and subset with a small
	// seeded 1-D budget (ExtendOptions.RefitTrials).
	Refit bool
}

// ScaleRules is the registry of scale rules, by name.
func ScaleRules() map[string]ScaleRule {
	return map[string]ScaleRule{
		"fixed": {Name: "fixed", Doc: "the tuned λ/weights at every size", Factor: func(k, n int) float64 { return 1 }},
		"mean": {Name: "mean", Doc: "per-model weight ∝ 1/N: the λ/weights tuned on k models scaled by k/N",
			Factor: func(k, n int) float64 { return float64(k) / float64(n) }},
		"sqrt": {Name: "sqrt", Doc: "the λ/weights scaled by √(k/N)",
			Factor: func(k, n int) float64 { return math.Sqrt(float64(k) / float64(n)) }},
		"refit": {Name: "refit", Doc: "re-tune only the global λ (scale factor) at each size, a small seeded 1-D budget", Refit: true},
	}
}

// ScaleRuleNames lists the registered scale rules, sorted.
func ScaleRuleNames() []string {
	var out []string
	for n := range ScaleRules() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// LookupScaleRule finds a scale rule by name; "" is DefaultScaleRule.
// An unknown name is an error listing the known ones.
func LookupScaleRule(name string) (ScaleRule, error) {
	if name == "" {
		name = DefaultScaleRule
	}
	r, ok := ScaleRules()[name]
	if !ok {
		return ScaleRule{}, fmt.Errorf("unknown scale rule %q (known: %s)", name, strings.Join(ScaleRuleNames(), ", "))
	}
	return r, nil
}

// ParseScaleRules parses a comma-separated list of scale rules.
func ParseScaleRules(list string) ([]ScaleRule, error) {
	var out []ScaleRule
	seen := map[string]bool{}
	for _, n := range ParseModelList(list) {
		r, err := LookupScaleRule(n)
		if err != nil {
			return nil, err
		}
		if !seen[r.Name] {
			seen[r.Name] = true
			out = append(out, r)
		}
	}
	return out, nil
}

// refitFactors are the refit rule's candidate factors at n of k models:
// the fixed, sqrt and mean rules' factors first, then seeded log-uniform
// draws in [min(1, k/n)/2, 2], trials in all.
func refitFactors(k, n, trials int, rng *rand.Rand) []float64 {
	r := float64(k) / float64(n)
	var out []float64
	seen := map[float64]bool{}
	for _, f := range []float64{1, math.Sqrt(r), r} {
		if len(out) < trials && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	lo, hi := math.Log(min(1, r)/2), math.Log(2)
	for len(out) < trials {
		out = append(out, math.Exp(lo+(hi-lo)*rng.Float64()))
	}
	return out
}

// ScaledAssignment gives the recipe's settings to n models with its λ
// multiplied by factor (scaleAssignment). A factor of 1 is the recipe
// unchanged.
func (r *Recipe) ScaledAssignment(n int, factor float64) (*study.Assignment, error) {
	a := r.Assignment(n)
	if err := scaleAssignment(a, factor); err != nil {
		return nil, fmt.Errorf("recipe %s: %w", r.Study, err)
	}
	return a, nil
}

// scaleAssignment multiplies an assignment's λ by factor, in place: its
// global lambda, else the method's starting lambda (its default) when it
// takes one, else every model's weight. A factor of 1 changes nothing.
// It is the one rule by which a scale rule's factor reaches a merge
// (extend's recipes, the transfer objective's subsets).
func scaleAssignment(a *study.Assignment, factor float64) error {
	if factor == 1 {
		return nil
	}
	if v, ok := a.Global["lambda"]; ok {
		s, err := scaleValue(v, factor)
		if err != nil {
			return fmt.Errorf("lambda: %w", err)
		}
		a.Global["lambda"] = s
		return nil
	}
	if m := methods.All()[a.Method]; m != nil {
		if d, ok := m.Param("lambda"); ok && !d.PerModel {
			a.Global["lambda"] = d.StartValue(len(a.Models)) * factor
			return nil
		}
	}
	for i, m := range a.Models {
		w, ok := m["weight"]
		if !ok {
			return fmt.Errorf("method %s has neither a lambda nor per-model weights to scale", a.Method)
		}
		s, err := scaleValue(w, factor)
		if err != nil {
			return fmt.Errorf("weight: %w", err)
		}
		a.Models[i]["weight"] = s
	}
	if len(a.Models) == 0 {
		return fmt.Errorf("method %s has neither a lambda nor per-model weights to scale", a.Method)
	}
	return nil
}

// scaleValue multiplies a number, or a gradient list element-wise.
func scaleValue(v any, f float64) (any, error) {
	switch x := v.(type) {
	case int:
		return float64(x) * f, nil
	case float64:
		return x * f, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			s, err := scaleValue(e, f)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case []float64:
		out := make([]float64, len(x))
		for i, e := range x {
			out[i] = e * f
		}
		return out, nil
	}
	return nil, fmt.Errorf("value %v: not a number to scale", v)
}
