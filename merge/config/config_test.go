package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
)

// mustParse parses src or fails the test.
func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse([]byte(src), "merge.yml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// layerT is the interpolation position of layer idx in a slice of n layers.
func layerT(idx, n int) float64 {
	if n == 1 {
		return 1
	}
	return float64(idx) / float64(n-1)
}

func near(a, b float64) bool { return math.Abs(a-b) < 5e-7 }

func TestLoadTIESExample(t *testing.T) {
	c, err := Load("testdata/ties.yml")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile("testdata/ties.yml")
	if string(c.Raw) != string(raw) {
		t.Errorf("Raw differs from the file bytes")
	}
	if c.File != "testdata/ties.yml" || c.MergeMethod != "ties" || c.BaseModel != "org/base-13b" || c.DType != "float16" || c.OutDType != "" {
		t.Errorf("header = %q %q %q %q %q", c.File, c.MergeMethod, c.BaseModel, c.DType, c.OutDType)
	}
	if c.Slices != nil || len(c.Models) != 3 {
		t.Fatalf("models = %d, slices = %v", len(c.Models), c.Slices)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings = %q", c.Warnings)
	}
	if got := c.Parameters.Names(); !reflect.DeepEqual(got, []string{"int8_mask", "normalize"}) {
		t.Errorf("top-level names = %v", got)
	}
	if got := c.Models[2].Parameters.Names(); !reflect.DeepEqual(got, []string{"density", "weight"}) {
		t.Errorf("models[2] names = %v", got)
	}
	slices, err := c.Normalize(func(string) (int, error) { return 40, nil })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		source int
		name   string
		tensor string
		layer  int
		want   float64
	}{
		{0, "density", "model.layers.20.mlp.up_proj.weight", 20, 0.6846154},
		{0, "density", "model.embed_tokens.weight", 0, 1},
		{0, "weight", "model.layers.3.self_attn.q_proj.weight", 3, 1},
		{1, "density", "model.layers.7.mlp.up_proj.weight", 7, 0.5},
		{1, "weight", "model.layers.39.mlp.up_proj.weight", 39, 1},
		{1, "weight", "model.layers.13.mlp.up_proj.weight", 13, 0.3},
		{2, "weight", "model.layers.5.mlp.down_proj.weight", 5, 0.5},
		{2, "weight", "model.layers.5.self_attn.o_proj.weight", 5, 0},
		{2, "density", "model.layers.5.self_attn.o_proj.weight", 5, 0.33},
		{0, "normalize", "model.layers.5.mlp.up_proj.weight", 5, 1}, // global fallback
		{-1, "int8_mask", "model.norm.weight", 0, 1},
	}
	for _, tt := range tests {
		v, ok := c.Lookup(slices, 0, tt.source, tt.name, tt.tensor, layerT(tt.layer, 40))
		if !ok || v.IsStr || !near(v.Num, tt.want) {
			t.Errorf("Lookup(source %d, %s, %s) = %v, %v; want %v", tt.source, tt.name, tt.tensor, v, ok, tt.want)
		}
	}
	// The base model is not listed, so it is auto-appended without parameters.
	if _, ok := c.Lookup(slices, 0, 3, "weight", "model.layers.0.mlp.up_proj.weight", 0); ok {
		t.Errorf("base model must have no weight")
	}
}

func TestLoadGradientSlerpExample(t *testing.T) {
	c, err := Load("testdata/gradient-slerp.yml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Models != nil || len(c.Slices) != 1 || len(c.Slices[0].Sources) != 2 {
		t.Fatalf("unexpected shape: models=%v slices=%+v", c.Models, c.Slices)
	}
	if got := c.Slices[0].Sources[1]; got.Model != "org/model-b" || got.LayerRange != [2]int{0, 40} {
		t.Errorf("sources[1] = %+v", got)
	}
	slices, err := c.Normalize(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(slices[0].Sources) != 2 {
		t.Errorf("slices form must not append the base: %+v", slices[0].Sources)
	}
	if got := c.BaseFor(slices, 0); got != "org/model-a" {
		t.Errorf("BaseFor = %q", got)
	}
	tests := []struct {
		tensor string
		layer  int
		want   float64
	}{
		{"model.layers.0.self_attn.q_proj.weight", 0, 0},
		{"model.layers.1.self_attn.q_proj.weight", 1, 0.0512821},
		{"model.layers.10.self_attn.q_proj.weight", 10, 0.4948718},
		{"model.layers.20.self_attn.q_proj.weight", 20, 0.3205128},
		{"model.layers.39.self_attn.q_proj.weight", 39, 1},
		{"model.layers.0.mlp.gate_proj.weight", 0, 1},
		{"model.layers.39.mlp.gate_proj.weight", 39, 0},
		{"model.layers.20.input_layernorm.weight", 20, 0.5},
		{"lm_head.weight", 0, 0.5},
	}
	for _, tt := range tests {
		v, ok := c.Lookup(slices, 0, -1, "t", tt.tensor, layerT(tt.layer, 40))
		if !ok || !near(v.Num, tt.want) {
			t.Errorf("t for %s = %v, %v; want %v", tt.tensor, v, ok, tt.want)
		}
	}
}

func TestLoadPassthroughExample(t *testing.T) {
	c, err := Load("testdata/passthrough.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := []Slice{
		{Sources: []Source{{Model: "org/model-a", LayerRange: [2]int{0, 24}}}},
		{Sources: []Source{{Model: "org/model-b", LayerRange: [2]int{20, 40}}}},
	}
	if !reflect.DeepEqual(c.Slices, want) {
		t.Errorf("slices = %+v", c.Slices)
	}
	slices, err := c.Normalize(func(string) (int, error) { return 0, errors.New("must not be called") })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(slices, want) {
		t.Errorf("normalized = %+v", slices)
	}
	total := 0
	for _, s := range slices {
		total += s.Sources[0].LayerRange[1] - s.Sources[0].LayerRange[0]
	}
	if total != 44 {
		t.Errorf("total layers = %d, want 44", total)
	}
	if got := c.ModelRefs(); !reflect.DeepEqual(got, []string{"org/model-a", "org/model-b"}) {
		t.Errorf("ModelRefs = %v", got)
	}
}

func TestEval(t *testing.T) {
	gradient := "[0, 0.5, 0.3, 0.7, 1]"
	tests := []struct {
		name    string
		setting string // YAML of the parameter value
		tensor  string
		t       float64
		want    Value
		ok      bool
	}{
		{"int", "2", "x", 0.3, Value{Num: 2}, true},
		{"float", "0.25", "x", 0.9, Value{Num: 0.25}, true},
		{"true", "true", "x", 0, Value{Num: 1}, true},
		{"false", "false", "x", 1, Value{Num: 0}, true},
		{"string", "sum", "x", 0.5, Value{Str: "sum", IsStr: true}, true},
		{"quoted number stays string", `"0.5"`, "x", 0.5, Value{Str: "0.5", IsStr: true}, true},
		{"gradient layer 0", gradient, "x", layerT(0, 40), Value{Num: 0}, true},
		{"gradient layer 1", gradient, "x", layerT(1, 40), Value{Num: 0.0512821}, true},
		{"gradient layer 10", gradient, "x", layerT(10, 40), Value{Num: 0.4948718}, true},
		{"gradient layer 20", gradient, "x", layerT(20, 40), Value{Num: 0.3205128}, true},
		{"gradient layer 39", gradient, "x", layerT(39, 40), Value{Num: 1}, true},
		{"density gradient", "[1, 0.7, 0.1]", "x", layerT(20, 40), Value{Num: 0.6846154}, true},
		{"single-element gradient", "[0.4]", "x", 0.7, Value{Num: 0.4}, true},
		{"bool list interpolates", "[true, false]", "x", 0.25, Value{Num: 0.75}, true},
		{"t clamped high", "[0, 1]", "x", 1.5, Value{Num: 1}, true},
		{"t clamped low", "[0, 1]", "x", -0.5, Value{Num: 0}, true},
		{"step start", "[a, b, c]", "x", 0, Value{Str: "a", IsStr: true}, true},
		{"step middle", "[a, b, c]", "x", 0.74, Value{Str: "b", IsStr: true}, true},
		{"step end", "[a, b, c]", "x", 1, Value{Str: "c", IsStr: true}, true},
		{"step mixed", "[1, b]", "x", 0.9, Value{Num: 1}, true},
		{"single conditional", "{filter: mlp, value: 0.3}", "model.layers.0.mlp.up_proj.weight", 0, Value{Num: 0.3}, true},
		{"single conditional no match", "{filter: mlp, value: 0.3}", "model.layers.0.self_attn.q_proj.weight", 0, Value{}, false},
		{"first match wins", "[{filter: proj, value: 1}, {filter: mlp, value: 2}]", "model.layers.0.mlp.up_proj.weight", 0, Value{Num: 1}, true},
		{"second match", "[{filter: self_attn, value: 1}, {filter: mlp, value: 2}]", "model.layers.0.mlp.up_proj.weight", 0, Value{Num: 2}, true},
		{"star matches all", "[{filter: '*', value: 7}, {value: 8}]", "lm_head.weight", 0, Value{Num: 7}, true},
		{"empty filter matches all", "[{filter: '', value: 7}]", "lm_head.weight", 0, Value{Num: 7}, true},
		{"null filter matches all", "[{filter: null, value: 7}]", "lm_head.weight", 0, Value{Num: 7}, true},
		{"fallback", "[{filter: mlp, value: 1}, {value: 0}]", "model.norm.weight", 0, Value{Num: 0}, true},
		{"no match", "[{filter: mlp, value: 1}, {filter: attn, value: 2}]", "model.norm.weight", 0, Value{}, false},
		{"filter is substring not glob", "[{filter: 'layers.*', value: 1}]", "model.layers.3.mlp.up_proj.weight", 0, Value{}, false},
		{"conditional gradient", "[{filter: mlp, value: [1, 0]}]", "model.layers.3.mlp.up_proj.weight", 0.25, Value{Num: 0.75}, true},
		{"conditional bool", "[{filter: mlp, value: true}]", "mlp", 0, Value{Num: 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, "merge_method: x\nmodels: [{model: a}]\nparameters:\n  p: "+tt.setting+"\n")
			v, ok := c.Parameters["p"].Eval(tt.tensor, tt.t)
			if ok != tt.ok || v.IsStr != tt.want.IsStr || v.Str != tt.want.Str || !near(v.Num, tt.want.Num) {
				t.Errorf("Eval(%q, %v) = %+v, %v; want %+v, %v", tt.tensor, tt.t, v, ok, tt.want, tt.ok)
			}
		})
	}
	if _, ok := (Setting{}).Eval("x", 0); ok {
		t.Errorf("zero Setting must not evaluate")
	}
}

func TestSettingConstructorsAndString(t *testing.T) {
	if v, ok := NumSetting(0.5).Eval("x", 0); !ok || v.Num != 0.5 {
		t.Errorf("NumSetting = %v %v", v, ok)
	}
	if v, ok := StrSetting("sum").Eval("x", 0); !ok || !v.IsStr || v.Str != "sum" {
		t.Errorf("StrSetting = %v %v", v, ok)
	}
	if v, ok := GradientSetting(0, 1).Eval("x", 0.5); !ok || v.Num != 0.5 {
		t.Errorf("GradientSetting = %v %v", v, ok)
	}
	if GradientSetting().IsSet() || !NumSetting(0).IsSet() {
		t.Errorf("IsSet wrong")
	}
	c := mustParse(t, "merge_method: x\nmodels: [{model: a}]\nparameters:\n  p: [{filter: mlp, value: [1, 0.5]}, {value: 0}]\n")
	if got, want := c.Parameters["p"].String(), `[{filter: "mlp", value: [1, 0.5]}, {value: 0}]`; got != want {
		t.Errorf("String = %s, want %s", got, want)
	}
}

// lookupConfig sets "p" at every level, each level only for tensors
// containing its own marker, so the order can be observed.
const lookupConfig = `merge_method: linear
base_model: org/base
slices:
  - sources:
      - model: org/a
        layer_range: [0, 4]
        parameters:
          p: [{filter: src, value: 1}]
      - model: org/b
        layer_range: [0, 4]
    parameters:
      p: [{filter: slice, value: 2}]
  - sources:
      - model: org/a
        layer_range: [4, 8]
parameters:
  p: [{filter: global, value: 4}]
  q: [0, 1]
`

func TestLookupOrder(t *testing.T) {
	c := mustParse(t, lookupConfig)
	slices, err := c.Normalize(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		slice, source int
		param, tensor string
		lt            float64
		want          float64
		ok            bool
	}{
		{"source level", 0, 0, "p", "src.slice.global", 0, 1, true},
		{"source falls through to slice", 0, 0, "p", "slice.global", 0, 2, true},
		{"slice falls through to global", 0, 0, "p", "global", 0, 4, true},
		{"nothing matches", 0, 0, "p", "other", 0, 0, false},
		{"source level skipped without source", 0, -1, "p", "src.slice.global", 0, 2, true},
		{"other source has no params", 0, 1, "p", "src.global", 0, 4, true},
		{"second slice has no slice params", 1, 0, "p", "slice.global", 0, 4, true},
		{"global gradient", 1, 0, "q", "x", 0.5, 0.5, true},
		{"unset name", 0, 0, "zz", "src", 0, 0, false},
		{"out-of-range slice uses global", 9, 0, "p", "src.slice.global", 0, 4, true},
	}
	for _, tt := range tests {
		v, ok := c.Lookup(slices, tt.slice, tt.source, tt.param, tt.tensor, tt.lt)
		if ok != tt.ok || !near(v.Num, tt.want) {
			t.Errorf("%s: Lookup = %v, %v; want %v, %v", tt.name, v, ok, tt.want, tt.ok)
		}
	}
	if got := c.BaseFor(slices, 1); got != "org/base" {
		t.Errorf("BaseFor fallback = %q", got)
	}
}

func TestSliceBaseModel(t *testing.T) {
	c := mustParse(t, `merge_method: ties
base_model: org/base
slices:
  - sources: [{model: org/a, layer_range: [0, 2]}]
    base_model: org/other
  - sources: [{model: org/a, layer_range: [2, 4]}]
`)
	slices, err := c.Normalize(nil)
	if err != nil {
		t.Fatal(err)
	}
	if slices[0].BaseModel != "org/other" || slices[1].BaseModel != "org/base" {
		t.Errorf("normalized bases = %q, %q", slices[0].BaseModel, slices[1].BaseModel)
	}
	if c.BaseFor(c.Slices, 0) != "org/other" || c.BaseFor(c.Slices, 1) != "org/base" {
		t.Errorf("BaseFor wrong")
	}
	if c.Slices[1].BaseModel != "" {
		t.Errorf("Normalize must not modify the config")
	}
	if got := c.ModelRefs(); !reflect.DeepEqual(got, []string{"org/a", "org/other", "org/base"}) {
		t.Errorf("ModelRefs = %v", got)
	}
}

func TestNormalizeModels(t *testing.T) {
	layers := map[string]int{"org/a": 32, "org/b": 32, "org/base": 32, "org/short": 30}
	numLayers := func(m string) (int, error) {
		n, ok := layers[m]
		if !ok {
			return 0, fmt.Errorf("no config.json for %s", m)
		}
		return n, nil
	}
	tests := []struct {
		name    string
		src     string
		want    []string // source models
		wantErr string
	}{
		{"base appended", "merge_method: ties\nbase_model: org/base\nmodels: [{model: org/a}, {model: org/b}]\n", []string{"org/a", "org/b", "org/base"}, ""},
		{"base listed", "merge_method: linear\nbase_model: org/base\nmodels: [{model: org/a}, {model: org/base}]\n", []string{"org/a", "org/base"}, ""},
		{"no base", "merge_method: linear\nmodels: [{model: org/a}, {model: org/b}]\n", []string{"org/a", "org/b"}, ""},
		{"layer mismatch", "merge_method: linear\nmodels: [{model: org/a}, {model: org/short}]\n", nil,
			`merge.yml: models: all models of a slice must have the same number of layers: "org/a" has 32, "org/short" has 30`},
		{"numLayers error", "merge_method: linear\nmodels: [{model: org/a}, {model: org/missing}]\n", nil,
			`merge.yml: models: layer count of "org/missing": no config.json for org/missing`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.src)
			slices, err := c.Normalize(numLayers)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(slices) != 1 {
				t.Fatalf("got %d slices", len(slices))
			}
			var got []string
			for _, s := range slices[0].Sources {
				got = append(got, s.Model)
				if s.LayerRange != [2]int{0, 32} {
					t.Errorf("%s layer range = %v", s.Model, s.LayerRange)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("sources = %v, want %v", got, tt.want)
			}
			if slices[0].BaseModel != c.BaseModel || slices[0].Parameters != nil {
				t.Errorf("slice = %+v", slices[0])
			}
		})
	}
	c := mustParse(t, "merge_method: linear\nmodels: [{model: org/a}]\n")
	if _, err := c.Normalize(nil); err == nil {
		t.Errorf("models form with nil numLayers must fail")
	}
}

func TestParamRefs(t *testing.T) {
	c, err := Load("testdata/ties.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := []ParamRef{
		{"int8_mask", "parameters.int8_mask", false, 21, Setting{}},
		{"normalize", "parameters.normalize", false, 20, Setting{}},
		{"density", "models[0].parameters.density", true, 6, Setting{}},
		{"weight", "models[0].parameters.weight", true, 7, Setting{}},
		{"density", "models[1].parameters.density", true, 10, Setting{}},
		{"weight", "models[1].parameters.weight", true, 11, Setting{}},
		{"density", "models[2].parameters.density", true, 14, Setting{}},
		{"weight", "models[2].parameters.weight", true, 16, Setting{}},
	}
	got := c.ParamRefs()
	for i := range got {
		got[i].Setting = Setting{} // TestLeaves checks the settings
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParamRefs =\n%+v\nwant\n%+v", got, want)
	}
	c = mustParse(t, lookupConfig)
	var paths []string
	for _, r := range c.ParamRefs() {
		paths = append(paths, fmt.Sprintf("%s/%v", r.Path, r.PerModel))
	}
	wantPaths := []string{"parameters.p/false", "parameters.q/false", "slices[0].parameters.p/false", "slices[0].sources[0].parameters.p/true"}
	if !reflect.DeepEqual(paths, wantPaths) {
		t.Errorf("paths = %v, want %v", paths, wantPaths)
	}
}

func TestParseAccepted(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, c *Config)
	}{
		{"torch prefix dtype", "merge_method: linear\nmodels: [{model: a}]\ndtype: torch.bfloat16\nout_dtype: float32\n", func(t *testing.T, c *Config) {
			if c.DType != "bfloat16" || c.OutDType != "float32" {
				t.Errorf("dtypes = %q %q", c.DType, c.OutDType)
			}
		}},
		{"null dtype", "merge_method: linear\nmodels: [{model: a}]\ndtype:\n", func(t *testing.T, c *Config) {
			if c.DType != "" {
				t.Errorf("dtype = %q", c.DType)
			}
		}},
		{"tokenizer base", "merge_method: ties\nbase_model: b\nmodels: [{model: a}]\ntokenizer_source: base\n", func(t *testing.T, c *Config) {
			if c.TokenizerSource != "base" || !reflect.DeepEqual(c.ModelRefs(), []string{"a", "b"}) {
				t.Errorf("tokenizer = %q, refs = %v", c.TokenizerSource, c.ModelRefs())
			}
		}},
		{"tokenizer model", "merge_method: ties\nbase_model: b\nmodels: [{model: a}]\ntokenizer_source: a\n", func(t *testing.T, c *Config) {
			if c.TokenizerSource != "a" {
				t.Errorf("tokenizer = %q", c.TokenizerSource)
			}
		}},
		{"name and nulls ignored", "merge_method: linear\nname: my-merge\nmodels: [{model: a, parameters: }]\nmodules:\ntokenizer:\nchat_template:\nparameters:\n", func(t *testing.T, c *Config) {
			if c.Parameters != nil || c.Models[0].Parameters != nil || len(c.Warnings) != 0 {
				t.Errorf("config = %+v", c)
			}
		}},
		{"residual_weight warns", "merge_method: passthrough\nslices:\n  - sources: [{model: a, layer_range: [0, 2]}]\n    residual_weight: 0.5\n", func(t *testing.T, c *Config) {
			want := []string{"merge.yml:4: slices[0].residual_weight: ignored (mergekit parses residual_weight but never uses it)"}
			if !reflect.DeepEqual(c.Warnings, want) {
				t.Errorf("warnings = %q", c.Warnings)
			}
		}},
		{"aliases", "merge_method: linear\nmodels:\n  - model: a\n    parameters: &p {weight: 0.5}\n  - model: b\n    parameters: *p\n", func(t *testing.T, c *Config) {
			if v, ok := c.Models[1].Parameters["weight"].Eval("x", 0); !ok || v.Num != 0.5 {
				t.Errorf("alias weight = %v %v", v, ok)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustParse(t, tt.src))
		})
	}
}

func TestBadConfigs(t *testing.T) {
	const allowedDT = `(allowed: float32, float16, bfloat16 (optionally prefixed with "torch."))`
	tests := []struct {
		file string
		want string // the full error message after "testdata/bad/<file>"
	}{
		{"unknown_model_key", `:7: models[1].parametrs: unknown key "parametrs" (allowed keys: model, parameters)`},
		{"unknown_top_key", `:2: merge_methd: unknown key "merge_methd" (allowed keys: merge_method, base_model, models, slices, modules, parameters, dtype, out_dtype, tokenizer_source, tokenizer, chat_template, name)`},
		{"unknown_slice_key", `:4: slices[0].weight: unknown key "weight" (allowed keys: sources, base_model, parameters, residual_weight)`},
		{"unknown_source_key", `:6: slices[0].sources[0].layers: unknown key "layers" (allowed keys: model, layer_range, parameters)`},
		{"unknown_cond_key", `:8: parameters.t[0].filtr: unknown key "filtr" (allowed keys: filter, value)`},
		{"missing_method", `: merge_method: missing; a merge config must name its merge method`},
		{"empty_method", `:1: merge_method: must not be empty`},
		{"both_forms", `:4: slices: only one of models or slices may be set (models is set on line 2)`},
		{"neither_form", `: one of models or slices is required`},
		{"modules", `:3: modules: multi-module configs are not supported yet (got modules {text_decoder: {models: [{model: "org/a"}]}}); use models or slices`},
		{"chat_template", `:4: chat_template: not supported yet (got "chatml")`},
		{"lora_ref", `:3: models[0].model: model reference "org/a+org/lora+org/more" has 2 '+'; a LoRA reference is model+lora, with one '+'`},
		{"revision_ref", `:2: base_model: model id "./base@main": repository id "./base": "." is not a valid name (letters, digits, '.', '_', '-'; no '--' or '..'); a revision is given to a Hugging Face id, as org/name@revision`},
		{"dtype_unknown", `:4: dtype: unknown dtype "fp16" ` + allowedDT},
		{"dtype_int64", `:4: out_dtype: "torch.int64" is not supported ` + allowedDT},
		{"layer_range_reversed", `:3: slices[0].sources[0].layer_range: [8, 4] is invalid: need 0 <= start < end (the range is half-open)`},
		{"layer_range_negative", `:3: slices[0].sources[0].layer_range: [-1, 4] is invalid: need 0 <= start < end (the range is half-open)`},
		{"layer_range_three", `:3: slices[0].sources[0].layer_range: must be a list of two integers [start, end), got [0, 4, 8]`},
		{"layer_range_float", `:3: slices[0].sources[0].layer_range: must be a list of two integers [start, end), got [0, 4.5]`},
		{"layer_range_missing", `:4: slices[0].sources[0]: missing layer_range (a source in slices needs layer_range: [start, end))`},
		{"empty_param_list", `:5: models[0].parameters.weight: empty list; a parameter list needs at least one value`},
		{"mixed_param_list", `:5: models[0].parameters.weight: list mixes plain values and {filter, value} conditionals: [0.5, {filter: "mlp", value: 1}]`},
		{"cond_without_value", `:6: models[0].parameters.weight[0]: conditional without value: {filter: "mlp"}`},
		{"bare_string_model", `:3: models[0]: expected a mapping, got the string "org/a"; write it as "- model: org/a"`},
		{"syntax_error", `: invalid YAML: yaml: line 2: did not find expected '-' indicator`},
		{"duplicate_key", `:6: models[0].parameters.weight: duplicate key "weight" (first set on line 5)`},
		{"unequal_spans", `:3: slices[0].sources: all sources of a slice must span the same number of layers: sources[0] (org/a) spans 4, sources[1] (org/b) spans 8`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := "testdata/bad/" + tt.file + ".yml"
			c, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", c)
			}
			if got, want := err.Error(), path+tt.want; got != want {
				t.Errorf("error\n got: %s\nwant: %s", got, want)
			}
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.File != path {
				t.Errorf("error is not a *Error for %s: %#v", path, err)
			}
		})
	}
}

func TestBadInline(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"empty", "", "<config>: empty merge config"},
		{"comments only", "# nothing\n", "<config>: empty merge config"},
		{"not a mapping", "- a\n", "<config>:1: expected a mapping of top-level keys (merge_method, models or slices, ...), got [\"a\"]"},
		{"two documents", "merge_method: a\nmodels: [{model: a}]\n---\nx: 1\n", "<config>:3: more than one YAML document; a merge config is a single document"},
		{"models not a list", "merge_method: a\nmodels: {model: a}\n", `<config>:2: models: expected a list of {model, parameters} entries, got {model: "a"}`},
		{"empty models", "merge_method: a\nmodels: []\n", "<config>:2: models: must not be empty"},
		{"model missing", "merge_method: a\nmodels: [{parameters: {weight: 1}}]\n", "<config>:2: models[0]: missing model"},
		{"model dict form", "merge_method: a\nmodels: [{model: {path: x, revision: y}}]\n", `<config>:2: models[0].model: model references in mapping form (path/revision/lora/override_architecture) are not supported yet (got {path: "x", revision: "y"}); use a plain path or Hugging Face id`},
		{"empty model", "merge_method: a\nmodels: [{model: ''}]\n", "<config>:2: models[0].model: model reference must not be empty"},
		{"source lora", "merge_method: a\nslices: [{sources: [{model: 'a+', layer_range: [0, 1]}]}]\n", `<config>:2: slices[0].sources[0].model: LoRA model reference "a+" names no adapter after '+' (expected model+lora)`},
		{"slice without sources", "merge_method: a\nslices: [{parameters: {t: 1}}]\n", "<config>:2: slices[0]: missing sources"},
		{"empty sources", "merge_method: a\nslices: [{sources: []}]\n", "<config>:2: slices[0].sources: must not be empty"},
		{"tokenizer base without base", "merge_method: a\nmodels: [{model: a}]\ntokenizer_source: base\n", `<config>:3: tokenizer_source: "base" requires a top-level base_model`},
		{"null param", "merge_method: a\nparameters: {weight: null}\nmodels: [{model: a}]\n", "<config>:2: parameters.weight: missing value (null)"},
		{"nested list", "merge_method: a\nparameters: {weight: [[1, 2]]}\nmodels: [{model: a}]\n", "<config>:2: parameters.weight: a parameter list may hold numbers, strings or {filter, value} conditionals, not [1, 2]"},
		{"nested conditional", "merge_method: a\nparameters: {weight: [{filter: x, value: {value: 1}}]}\nmodels: [{model: a}]\n", "<config>:2: parameters.weight[0].value: a conditional's value must be a scalar or a list of scalars, got {value: 1}"},
		{"params not mapping", "merge_method: a\nparameters: [1]\nmodels: [{model: a}]\n", "<config>:2: parameters: expected a mapping of parameter names to values, got [1]"},
		{"residual_weight string", "merge_method: a\nslices: [{sources: [{model: a, layer_range: [0, 1]}], residual_weight: lots}]\n", `<config>:2: slices[0].residual_weight: expected a number, got "lots"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "")
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got: %v\nwant: %s", err, tt.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "<config>") {
				t.Errorf("error does not start with the file name")
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yml")
	want := "testdata/does-not-exist.yml: cannot read merge config: no such file or directory"
	if err == nil || err.Error() != want || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}
