package search

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"reflect"
	"sort"

	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/merge/config/yamllimit"
	"gopkg.in/yaml.v3"

	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/results/dsn"
	"github.com/mergetune/mergetune/search/study"
)

// Per-model parameter rules of a frozen recipe.
const (
	// RuleShared: every tuned model had the same value; new models get it.
	RuleShared = "shared"
	// RuleMean: new models get the mean of the tuned models' values
	// (element-wise for gradients).
	RuleMean = "mean"
)

// Recipe is a study's best settings frozen for reuse on more models: the
// global parameters as tuned, and for each per-model parameter one value
// every model gets, with the rule that produced it.
type Recipe struct {
	Study      string         `yaml:"study,omitempty"`
	Trial      int            `yaml:"trial"`
	Objective  float64        `yaml:"objective"`
	Method     string         `yaml:"method"`
	BaseModel  string         `yaml:"base_model"`
	Dtype      string         `yaml:"dtype,omitempty"`
	Storage    string         `yaml:"storage,omitempty"`
	Parameters map[string]any `yaml:"parameters,omitempty"`
	// ModelParameters are the per-model parameters every merged model
	// gets.
	ModelParameters map[string]any `yaml:"model_parameters,omitempty"`
	// Rules says how each of ModelParameters was derived (RuleShared,
	// RuleMean).
	Rules map[string]string `yaml:"rules,omitempty"`
	// Tuned are the tuned models' own per-model values, by model path.
	Tuned map[string]map[string]any `yaml:"tuned,omitempty"`
	// Scale is the scale rule extend gives the recipe to more models by
	// (ScaleRules; freeze writes DefaultScaleRule, and a recipe without
	// one follows it).
	Scale string `yaml:"scale,omitempty"`
	// Confirmed is the trial's score on ConfirmItems items when the best
	// trials were confirmed before freezing (Confirm), nil otherwise.
	Confirmed    *float64 `yaml:"confirmed,omitempty"`
	ConfirmItems int      `yaml:"confirm_items,omitempty"`
	// Confirmations are the trials re-scored before freezing, by tune
	// rank (not written to the file; the storage records them).
	Confirmations []results.Confirmation `yaml:"-"`
}

// FreezeYAML derives a recipe from a trial's recorded mergekit
// configuration.
func FreezeYAML(mergeYAML string) (*Recipe, error) {
	c, err := config.ReadDocument([]byte(mergeYAML), "trial configuration")
	if err != nil {
		return nil, fmt.Errorf("freeze: read merge configuration: %w", err)
	}
	r := &Recipe{Method: c.MergeMethod, BaseModel: c.BaseModel, Dtype: c.DType, Parameters: c.Parameters,
		ModelParameters: map[string]any{}, Rules: map[string]string{}, Tuned: map[string]map[string]any{}, Scale: DefaultScaleRule}
	names := map[string]bool{}
	for _, m := range c.Models {
		r.Tuned[m.Model] = m.Parameters
		for k := range m.Parameters {
			names[k] = true
		}
	}
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var vals []any
		for _, m := range c.Models {
			if v, ok := m.Parameters[k]; ok {
				vals = append(vals, v)
			}
		}
		same := true
		for _, v := range vals[1:] {
			same = same && reflect.DeepEqual(v, vals[0])
		}
		if same {
			r.ModelParameters[k], r.Rules[k] = vals[0], RuleShared
			continue
		}
		mean, err := meanOf(vals)
		if err != nil {
			return nil, fmt.Errorf("freeze: parameter %s: %w", k, err)
		}
		r.ModelParameters[k], r.Rules[k] = mean, RuleMean
	}
	return r, nil
}

// meanOf averages numbers, or gradient lists element-wise.
func meanOf(vals []any) (any, error) {
	var sum []float64
	scalar := true
	for _, v := range vals {
		var xs []float64
		switch x := v.(type) {
		case int:
			xs = []float64{float64(x)}
		case float64:
			xs = []float64{x}
		case []any:
			scalar = false
			for _, e := range x {
				switch f := e.(type) {
				case int:
					xs = append(xs, float64(f))
				case float64:
					xs = append(xs, f)
				default:
					return nil, fmt.Errorf("value %v: want numbers", v)
				}
			}
		default:
			return nil, fmt.Errorf("value %v: cannot average it; give every model the same value", v)
		}
		if sum == nil {
			sum = make([]float64, len(xs))
		}
		if len(xs) != len(sum) {
			return nil, fmt.Errorf("value %v: gradients of different lengths", v)
		}
		for i, x := range xs {
			sum[i] += x
		}
	}
	for i := range sum {
		sum[i] /= float64(len(vals))
	}
	if scalar {
		return sum[0], nil
	}
	return sum, nil
}

// Freeze derives the recipe of a study's best trial. It refuses a study
// whose file's definition differs from the recorded one (see FreezeWith).
func Freeze(ctx context.Context, s *study.Study) (*Recipe, error) {
	return FreezeWith(ctx, s, ReadOptions{})
}

// FreezeWith is Freeze with options: opt.Force freezes the recorded
// study's best trial even when the file's definition changed.
func FreezeWith(ctx context.Context, s *study.Study, opt ReadOptions) (_ *Recipe, err error) {
	defer func(storage string) { err = dsn.RedactError(err, storage) }(s.Storage)
	conf := opt.Confirm
	if conf == nil {
		conf = s.Confirm
	}
	var confirmed []results.Confirmation
	if conf != nil {
		if confirmed, err = Confirm(ctx, s, ConfirmOptions{Confirm: *conf, Force: opt.Force}); err != nil {
			return nil, err
		}
	}
	st, s, derr, err := openRead(ctx, s)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if derr != nil && !opt.Force {
		return nil, derr
	}
	if s.Search == study.SearchGreedySoup {
		return nil, fmt.Errorf("search: study %s is a greedy soup: its result is a subset of its models, not settings to reuse on more; take it with study best", s.Name)
	}
	best, err := bestOf(ctx, s, st.Results)
	if err != nil {
		return nil, err
	}
	if best == nil {
		return nil, fmt.Errorf("search: study %s: no complete trial to freeze", s.Name)
	}
	var chosen *results.Confirmation
	for i, c := range confirmed {
		if c.Chosen {
			chosen = &confirmed[i]
			rec, ok, err := st.Results.Trial(ctx, s.Name, c.Trial)
			if err != nil || !ok {
				return nil, fmt.Errorf("search: study %s: confirmed trial %d: %v", s.Name, c.Trial, err)
			}
			best = &rec
		}
	}
	r, err := FreezeYAML(best.MergeYAML)
	if err != nil {
		return nil, fmt.Errorf("search: study %s trial %d: %w", s.Name, best.Number, err)
	}
	r.Study, r.Trial, r.Objective, r.Storage = s.Name, best.Number, *best.Objective, results.RedactDSN(s.Storage)
	if chosen != nil {
		r.Confirmed, r.ConfirmItems, r.Confirmations = &chosen.Confirm, chosen.Items, confirmed
	}
	if s.Transfer != nil && s.Transfer.Rule != "" {
		// Tuned for transfer under a scale rule: extend by the same.
		r.Scale = s.Transfer.Rule
	}
	if r.BaseModel == "" {
		r.BaseModel = s.BaseModel
	}
	return r, nil
}

// Marshal writes the recipe as YAML with an explanatory header.
func (r *Recipe) Marshal() ([]byte, error) {
	out, err := yaml.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("recipe: %w", err)
	}
	hdr := fmt.Sprintf("# Frozen merge recipe: study %s, trial %d (objective %.4f).\n"+
		"# parameters are the tuned global settings; model_parameters are given to\n"+
		"# every model merged with it (rules: shared = the tuned value, mean = the\n"+
		"# mean over the tuned models); scale is how extend gives them to more\n"+
		"# models than were tuned (fixed, mean, sqrt, refit; none: fixed).\n"+
		"# Use it with: mergetune extend RECIPE.yml --models ... --tasks ...\n",
		r.Study, r.Trial, r.Objective)
	return append([]byte(hdr), out...), nil
}

// LoadRecipe reads a recipe file.
func LoadRecipe(path string) (*Recipe, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("recipe: %w", err)
	}
	if err := yamllimit.CheckBytes(data); err != nil {
		return nil, fmt.Errorf("recipe %s: %w", path, err)
	}
	var r Recipe
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("recipe %s: %w", path, err)
	}
	if r.Method == "" {
		return nil, fmt.Errorf("recipe %s: method: required", path)
	}
	if _, err := LookupScaleRule(r.Scale); err != nil {
		return nil, fmt.Errorf("recipe %s: scale: %w", path, err)
	}
	return &r, nil
}

// Config builds the merge configuration giving the recipe's settings to
// the models at paths (Assignment), ready to merge; file and header as
// for config.Document.Config.
func (r *Recipe) Config(paths []string, file, header string) (*config.Config, error) {
	d, err := r.Assignment(len(paths)).Document(r.BaseModel, paths, r.Dtype)
	if err != nil {
		return nil, err
	}
	return d.Config(file, header)
}

// Assignment gives the recipe's settings to n models.
func (r *Recipe) Assignment(n int) *study.Assignment {
	a := &study.Assignment{Method: r.Method, Global: map[string]any{}, Models: make([]map[string]any, n)}
	for k, v := range r.Parameters {
		a.Global[k] = v
	}
	for i := range a.Models {
		a.Models[i] = map[string]any{}
		for k, v := range r.ModelParameters {
			a.Models[i][k] = v
		}
	}
	return a
}
