package study

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/search/optim"
)

func family(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// base is a valid study; tests replace or append lines.
func base(fam string) string {
	return fmt.Sprintf(`base_model: %[1]s/base
models:
  - {model: %[1]s/swapcase, tasks: [swapcase]}
  - {model: %[1]s/rot1, tasks: [rot1]}
method: ties
tasks: [toy:swapcase@tune, toy:rot1@tune]
limit: 5
trials: 4
`, fam)
}

func TestValidationErrors(t *testing.T) {
	fam := family(t)
	tests := []struct {
		name, replace, with, want string
	}{
		{"unknown method", "method: ties", "method: tie", `s.yml: method: value "tie": unknown merge method; known: arcee_fusion, breadcrumbs, breadcrumbs_ties, dare_linear, dare_ties, della, della_linear, karcher, linear, model_stock, multislerp, nearswap, nuslerp, passthrough, ram, ramplus_tl, sce, slerp, task_arithmetic, ties`},
		{"no trials", "trials: 4", "trials: 0", `s.yml: trials: value "0": the study's trial budget must be at least 1`},
		{"bad bounds", "trials: 4", "trials: 4\nspace:\n  lambda: {type: float, low: 2, high: 1}", `s.yml: space.lambda.high: value "1": must be above low (2)`},
		{"bad type", "trials: 4", "trials: 4\nspace:\n  lambda: {type: real, low: 0, high: 1}", `s.yml: space.lambda.type: value "real": want float, int or choice`},
		{"log at zero", "trials: 4", "trials: 4\nspace:\n  lambda: {type: float, low: 0, high: 1, log: true}", `s.yml: space.lambda.low: value "0": a log-scale range must be above 0`},
		{"global per-model", "trials: 4", "trials: 4\nspace:\n  weight: {type: float, low: 0, high: 1, scope: global}", `s.yml: space.weight.scope: value "global": weight is a per-model parameter: use per_model, shared or per_layer`},
		{"per-model global", "trials: 4", "trials: 4\nspace:\n  lambda: {type: float, low: 0, high: 1, scope: per_model}", `s.yml: space.lambda.scope: value "per_model": lambda is a global parameter: use global or per_layer`},
		{"unknown param", "trials: 4", "trials: 4\nspace:\n  gamma: {type: float, low: 0, high: 1}", `s.yml: space.gamma: no method of ties takes this parameter`},
		{"one knot", "trials: 4", "trials: 4\nspace:\n  density: {type: float, low: 0.1, high: 1, scope: per_layer, knots: 1}", `s.yml: space.density.knots: value "1": per_layer needs at least 2 knots`},
		{"fixed and searched", "trials: 4", "trials: 4\nparameters: {lambda: 1}\nspace:\n  lambda: {type: float, low: 0, high: 1}", `s.yml: space.lambda: also fixed under parameters; keep one`},
		{"bad sampler", "trials: 4", "trials: 4\nsampler: {type: bayes}", `s.yml: sampler.type: value "bayes": unknown sampler; known: ` + strings.Join(optim.Samplers().Names(), ", ")},
		{"bad pruner", "trials: 4", "trials: 4\npruner: hyperband", `s.yml: pruner.type: value "hyperband": unknown pruner; known: ` + strings.Join(optim.Pruners().Names(), ", ")},
		{"one chunk", "trials: 4", "trials: 4\npruner: {type: asha, chunks: 1}", `s.yml: pruner.chunks: value "1": need at least 2 chunks of the tune set`},
		{"bad quantize", "trials: 4", "trials: 4\nevaluator: {type: ollama, quantize: q3}", `s.yml: evaluator.quantize: value "q3": want q8_0 or q4_K_M (or nothing to keep F16/BF16)`},
		{"bad evaluator", "trials: 4", "trials: 4\nevaluator: vllm", `s.yml: evaluator.type: value "vllm": unknown evaluator; known: builtin, ollama, openai`},
		{"test split", "tasks: [toy:swapcase@tune, toy:rot1@tune]", "tasks: [toy:swapcase, toy:rot1@tune]", `s.yml: tasks[0]: value "toy:swapcase": task toy:swapcase is a holdout split; tune on a tune split (toy:<task>@tune, split: tune in the task file, or FILE@tune for a file with split: {holdout: F, seed: S})`},
		{"missing model", "models:\n", "models:\n  - {model: nowhere}\n", `s.yml: models[0].model: value "nowhere": no such model directory (nowhere)`},
		{"bad weight", "trials: 4", "trials: 4\nobjective: {type: mean, weights: {nosuch: 1}}", `s.yml: objective.weights.nosuch: value "1": no tune task has this name`},
		{"unknown field", "trials: 4", "trials: 4\nbudget: 3", `s.yml: (document): line 9: field budget is not a study field`},
		{"bad storage", "trials: 4", "trials: 4\nstorage: mysql://x", `s.yml: storage: value "mysql://x": want a SQLite file path or a postgres:// DSN`},
		{"no range to suggest", "trials: 4", "trials: 4\nspace:\n  int8_mask: {type: int}", `s.yml: space.int8_mask.low: a int needs low and high (ties suggests no range for int8_mask)`},
		{"half a range", "trials: 4", "trials: 4\nspace:\n  lambda: {type: float, low: 0.5}", `s.yml: space.lambda.low: a float needs low and high (ties suggests no range for lambda)`},
		{"huge limit", "limit: 5", "limit: 400000000", `s.yml: limit: value "400000000": must be 0 (all items) to 10000`},
		{"device task", "tasks: [toy:swapcase@tune, toy:rot1@tune]", "tasks: [/dev/zero, toy:rot1@tune]", `s.yml: tasks[0]: value "/dev/zero": /dev/zero is not a regular file or directory (Dc---------)`},
		{"password in storage", "trials: 4", "trials: 4\nstorage: mysql://root:s3cret@db/x", `s.yml: storage: value "mysql://root:xxxxx@db/x": want a SQLite file path or a postgres:// DSN`},
		{"unknown search mode", "trials: 4", "trials: 4\nsearch: grid", `s.yml: search: value "grid": unknown search mode; known: greedy_soup, sample`},
		{"greedy soup of ties", "trials: 4", "trials: 2\nsearch: greedy_soup", `s.yml: method: value "ties": greedy_soup averages models uniformly: method must be linear (or left out)`},
		{"greedy soup with a space", "method: ties", "method: linear\nsearch: greedy_soup\nspace:\n  weight: {type: float, low: 0.1, high: 1}", `s.yml: space: value "weight": greedy_soup searches no space: its steps are fixed by the models' own scores`},
		{"greedy soup budget", "method: ties", "method: linear\nsearch: greedy_soup", `s.yml: trials: value "4": greedy_soup takes one step per model (2); leave trials out`},
		{"greedy soup workers", "method: ties\ntasks: [toy:swapcase@tune, toy:rot1@tune]\nlimit: 5\ntrials: 4", "search: greedy_soup\ntasks: [toy:swapcase@tune, toy:rot1@tune]\nworkers: 2", `s.yml: workers: value "2": greedy_soup's steps depend on each other: workers must be 1`},
		{"greedy soup pruner", "method: ties\ntasks: [toy:swapcase@tune, toy:rot1@tune]\nlimit: 5\ntrials: 4", "search: greedy_soup\ntasks: [toy:swapcase@tune, toy:rot1@tune]\npruner: median", `s.yml: pruner: value "median": greedy_soup scores every step whole: pruner must be none`},
		{"grid over a continuous range", "trials: 4", "trials: 4\nsampler: grid\nspace:\n  lambda: {type: float, low: 0.1, high: 1}", `s.yml: space.lambda.step: the grid sampler needs every parameter discrete: give lambda a step (or make it an int or a choice)`},
		{"start outside", "trials: 4", "trials: 4\nspace:\n  lambda: {type: float, low: 0.1, high: 1, start: 2}", `s.yml: space.lambda.start: value "2": outside the range [0.1, 1]`},
		{"start off the step", "trials: 4", "trials: 4\nspace:\n  lambda: {type: float, low: 0.1, high: 1, step: 0.1, start: 0.25}", `s.yml: space.lambda.start: value "0.25": not on the range's step (0.1 from 0.1)`},
		{"start not a choice", "trials: 4", "trials: 4\nspace:\n  lambda: {type: choice, choices: [0.3, 0.5], start: 0.4}", `s.yml: space.lambda.start: value "0.4": not one of the choices (0.3, 0.5)`},
		{"untagged normalized", "  - {model: " + fam + "/rot1, tasks: [rot1]}", "  - {model: " + fam + "/rot1}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(base(fam), tt.replace, tt.with, 1)
			if tt.name == "untagged normalized" {
				text += "objective: normalized\n"
				tt.want = `s.yml: objective: value "normalized": normalized needs a model tagged with each tune task; none has task toy:rot1@tune (add tasks: [rot1] to its model)`
			}
			dir := t.TempDir()
			_, err := Parse([]byte(text), filepath.Join(dir, "s.yml"))
			if err == nil {
				t.Fatalf("no error; want %s", tt.want)
			}
			got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			got = strings.ReplaceAll(got, dir, filepath.Join(os.TempDir(), "DIR"))
			if got != tt.want {
				t.Errorf("error\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// fixed is a Suggester answering from a table (the low bound otherwise).
type fixed map[string]float64

func (f fixed) Float(name string, low, high float64, log bool, step float64) (float64, error) {
	if v, ok := f[name]; ok {
		return v, nil
	}
	return low, nil
}
func (f fixed) Int(name string, low, high, step int) (int, error) {
	if v, ok := f[name]; ok {
		return int(v), nil
	}
	return low, nil
}
func (f fixed) Choice(name string, choices []string) (string, error) {
	return choices[int(f[name])], nil
}

func TestSpaceToYAML(t *testing.T) {
	fam := family(t)
	tests := []struct {
		name, space string
		values      fixed
		want        []string // lines the YAML must contain, in order
	}{
		{"global and shared", `lambda: {type: float, low: 0.1, high: 2}
  density: {type: float, low: 0.1, high: 1}`,
			fixed{"lambda": 0.7, "density": 0.4},
			[]string{"merge_method: ties", "base_model: " + fam + "/base", "- model: " + fam + "/swapcase", "density: 0.4", "weight: 1", "- model: " + fam + "/rot1", "density: 0.4", "lambda: 0.7"}},
		{"per model", `weight: {type: float, low: 0.1, high: 1, scope: per_model}`,
			fixed{"weight[swapcase]": 0.3, "weight[rot1]": 0.6},
			[]string{"swapcase", "weight: 0.3", "rot1", "weight: 0.6"}},
		{"per layer, per-model parameter", `density: {type: float, low: 0.1, high: 1, scope: per_layer, knots: 3}`,
			fixed{"density[swapcase][0]": 0.2, "density[swapcase][1]": 0.5, "density[swapcase][2]": 0.9, "density[rot1][1]": 0.3},
			[]string{"swapcase", "density:", "- 0.2", "- 0.5", "- 0.9", "rot1", "density:", "- 0.1", "- 0.3", "- 0.1"}},
		{"per layer, global parameter", `lambda: {type: float, low: 0.5, high: 1.5, scope: per_layer, knots: 2}`,
			fixed{"lambda[0]": 0.6, "lambda[1]": 1.4},
			[]string{"lambda:", "- 0.6", "- 1.4"}},
		{"choice and int", `normalize: {type: choice, choices: [true, false]}
  int8_mask: {type: int, low: 0, high: 1}`,
			fixed{"normalize": 1, "int8_mask": 1},
			[]string{"int8_mask: 1", "normalize: false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := base(fam) + "space:\n  " + tt.space + "\n"
			s, err := Parse([]byte(text), filepath.Join(t.TempDir(), "s.yml"))
			if err != nil {
				t.Fatal(err)
			}
			a, err := s.Sample(tt.values)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := s.MergeConfig(a, "trial.yml", "")
			if err != nil {
				t.Fatal(err)
			}
			y := string(cfg.Raw)
			rest := y
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("YAML lacks %q (in order):\n%s", w, y)
				}
				rest = rest[i+len(w):]
			}
			if _, err := config.Parse([]byte(y), "trial.yml"); err != nil {
				t.Errorf("the merge engine rejects the YAML: %v\n%s", err, y)
			}
		})
	}
}

func TestDefaultParams(t *testing.T) {
	fam := family(t)
	text := strings.Replace(base(fam), "method: ties", "method: [breadcrumbs, linear]", 1) + `space:
  lambda: {type: float, low: 0.1, high: 0.8}
  density: {type: float, low: 0.1, high: 1, scope: per_layer, knots: 2}
  gamma: {type: float, low: 0.001, high: 0.1, log: true}
  weight: {type: float, low: 0.2, high: 1, scope: per_model}
`
	s, err := Parse([]byte(text), filepath.Join(t.TempDir(), "s.yml"))
	if err != nil {
		t.Fatal(err)
	}
	got := s.DefaultParams()
	want := map[string]float64{"method": 0, "lambda": 0.8, "gamma": 0.01,
		"density[swapcase][0]": 0.9, "density[swapcase][1]": 0.9, "density[rot1][0]": 0.9, "density[rot1][1]": 0.9,
		"weight[swapcase]": 1, "weight[rot1]": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("DefaultParams\n got %v\nwant %v", got, want)
	}
}

// TestStartValues checks that start: in a space entry sets the first
// trial's value (the breadcrumbs paper's start point), over the method's.
func TestStartValues(t *testing.T) {
	fam := family(t)
	text := strings.Replace(base(fam), "method: ties", "method: breadcrumbs", 1) + `space:
  lambda: {type: float, low: 0.01, high: 1, start: 0.2}
  density: {type: float, low: 0.05, high: 0.2, start: 0.15}
  gamma: {type: float, low: 0.001, high: 0.01, start: 0.006}
  weight: {type: choice, choices: [0.5, 1], start: 0.5}
`
	s, err := Parse([]byte(text), filepath.Join(t.TempDir(), "s.yml"))
	if err != nil {
		t.Fatal(err)
	}
	got := s.DefaultParams()
	want := map[string]float64{"lambda": 0.2, "density": 0.15, "gamma": 0.006, "weight": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("DefaultParams\n got %v\nwant %v", got, want)
	}
}

func TestExampleStudyLoads(t *testing.T) {
	s, err := Load("../../examples/studies/toy-breadcrumbs.yml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "toy-breadcrumbs" || len(s.Models) != 4 || len(s.Tune) != 4 || len(s.Holdout) != 4 || s.Trials != 10 {
		t.Errorf("example study: %+v", s)
	}
}

// TestSuggestedRange checks that a searched parameter written without
// low and high gets the range its method suggests.
func TestSuggestedRange(t *testing.T) {
	fam := family(t)
	text := strings.Replace(base(fam), "method: ties", "method: [breadcrumbs, linear]", 1) + `space:
  lambda: {type: float}
  gamma: {type: float}
  weight: {type: float, scope: per_model}
`
	s, err := Parse([]byte(text), filepath.Join(t.TempDir(), "s.yml"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range s.Space {
		got[p.Name] = fmt.Sprintf("%v..%v log %v", p.Low, p.High, p.Log)
	}
	want := map[string]string{"lambda": "0.1..1.5 log false", "gamma": "0.001..0.05 log true", "weight": "0.2..1 log false"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("space %v, want %v", got, want)
	}
}
