package study

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/merge/methods"
)

// Suggester proposes values for named parameters: a goptuna trial in a
// running study, a fixed table in tests.
type Suggester interface {
	// Float proposes a float in [low, high], on a log scale when log is
	// set, on a grid of step when step > 0.
	Float(name string, low, high float64, log bool, step float64) (float64, error)
	// Int proposes an integer in [low, high], on a grid of step when step > 1.
	Int(name string, low, high, step int) (int, error)
	// Choice proposes one of choices.
	Choice(name string, choices []string) (string, error)
}

// Assignment is one point of a study's space resolved into merge settings.
type Assignment struct {
	Method string
	// Global holds the method's global parameters; Models[i] model i's
	// per-model parameters. Values are float64, bool or []float64 (a
	// gradient over the layers).
	Global map[string]any
	Models []map[string]any
}

// ParamNames returns the names under which prm's values are suggested:
// name (global, shared), name[model] (per_model), name[k] (per_layer,
// global parameter) or name[model][k] (per_layer, per-model parameter).
func (s *Study) ParamNames(prm Param) []string { return s.paramNames(prm) }

func (s *Study) paramNames(prm Param) []string {
	switch {
	case prm.Scope == ScopePerModel:
		out := make([]string, len(s.Models))
		for i, m := range s.Models {
			out[i] = fmt.Sprintf("%s[%s]", prm.Name, m.Name)
		}
		return out
	case prm.Scope == ScopePerLayer && prm.PerModel:
		var out []string
		for _, m := range s.Models {
			for k := range prm.Knots {
				out = append(out, fmt.Sprintf("%s[%s][%d]", prm.Name, m.Name, k))
			}
		}
		return out
	case prm.Scope == ScopePerLayer:
		out := make([]string, prm.Knots)
		for k := range prm.Knots {
			out[k] = fmt.Sprintf("%s[%d]", prm.Name, k)
		}
		return out
	}
	return []string{prm.Name}
}

// Sample asks sg for a value of every parameter the chosen method takes
// and resolves the study's fixed parameters and defaults around them.
func (s *Study) Sample(sg Suggester) (*Assignment, error) {
	method := s.Methods[0]
	if len(s.Methods) > 1 {
		m, err := sg.Choice("method", s.Methods)
		if err != nil {
			return nil, fmt.Errorf("suggest method: %w", err)
		}
		method = m
	}
	reg := methods.All()
	m := reg[method]
	a := &Assignment{Method: method, Global: map[string]any{}, Models: make([]map[string]any, len(s.Models))}
	for i := range a.Models {
		a.Models[i] = map[string]any{}
	}
	for name, v := range s.Fixed {
		d, ok := methodParam(m, name)
		if !ok {
			continue
		}
		if d.PerModel {
			for i := range a.Models {
				a.Models[i][name] = v
			}
		} else {
			a.Global[name] = v
		}
	}
	for _, prm := range s.Space {
		if _, ok := methodParam(m, prm.Name); !ok {
			continue
		}
		names := s.paramNames(prm)
		vals := make([]any, len(names))
		for i, n := range names {
			v, err := suggest(sg, prm, n)
			if err != nil {
				return nil, fmt.Errorf("suggest %s: %w", n, err)
			}
			vals[i] = v
		}
		switch prm.Scope {
		case ScopeGlobal:
			a.Global[prm.Name] = vals[0]
		case ScopeShared:
			for i := range a.Models {
				a.Models[i][prm.Name] = vals[0]
			}
		case ScopePerModel:
			for i := range a.Models {
				a.Models[i][prm.Name] = vals[i]
			}
		case ScopePerLayer:
			if prm.PerModel {
				for i := range a.Models {
					a.Models[i][prm.Name] = gradient(vals[i*prm.Knots : (i+1)*prm.Knots])
				}
			} else {
				a.Global[prm.Name] = gradient(vals)
			}
		}
	}
	for _, d := range m.Params {
		if !d.Required {
			continue
		}
		def := d.StartValue(len(s.Models))
		if d.PerModel {
			for i := range a.Models {
				if _, set := a.Models[i][d.Name]; !set {
					a.Models[i][d.Name] = def
				}
			}
		} else if _, set := a.Global[d.Name]; !set {
			a.Global[d.Name] = def
		}
	}
	return a, nil
}

func gradient(vals []any) []float64 {
	out := make([]float64, len(vals))
	for i, v := range vals {
		out[i] = toFloat(v)
	}
	return out
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case bool:
		if x {
			return 1
		}
	}
	return 0
}

func suggest(sg Suggester, prm Param, name string) (any, error) {
	switch prm.Type {
	case "float":
		return sg.Float(name, prm.Low, prm.High, prm.Log, prm.Step)
	case "int":
		step := int(prm.Step)
		v, err := sg.Int(name, int(prm.Low), int(prm.High), max(step, 1))
		return float64(v), err
	}
	c, err := sg.Choice(name, prm.Choices)
	if err != nil {
		return nil, err
	}
	return choiceValue(c), nil
}

// choiceValue turns a choice's text into the number or boolean it spells.
func choiceValue(c string) any {
	if f, err := strconv.ParseFloat(c, 64); err == nil {
		return f
	}
	if b, err := strconv.ParseBool(c); err == nil {
		return b
	}
	return c
}

// Start is the assignment merging n models with method's start settings
// (methods.Method.Start), every model given the same per-model values;
// global overrides or adds global parameters. An unknown method gives an
// assignment without parameters, which building its configuration
// refuses.
func Start(method string, n int, global map[string]any) *Assignment {
	a := &Assignment{Method: method, Global: map[string]any{}, Models: make([]map[string]any, n)}
	var g, per methods.Params
	if m := methods.All()[method]; m != nil {
		g, per = m.Start(n)
	}
	for k, v := range g {
		a.Global[k] = v
	}
	for k, v := range global {
		a.Global[k] = v
	}
	for i := range a.Models {
		a.Models[i] = map[string]any{}
		for k, v := range per {
			a.Models[i][k] = v
		}
	}
	return a
}

// startValue is the value a search starts parameter param of method
// from in a merge of n models: the method's declared start
// (methods.ParamDef.StartValue), 0 for a parameter it does not take.
func startValue(method, param string, n int) float64 {
	if d, ok := methodParam(methods.All()[method], param); ok {
		return d.StartValue(n)
	}
	return 0
}

// DefaultParams returns the first trial's parameters in goptuna's internal
// representation (a categorical as its index, log-scale values raw): the
// first method and the start value of each searched parameter, brought inside
// its range (a value outside it would be silently re-sampled).
func (s *Study) DefaultParams() map[string]float64 {
	method := s.Methods[0]
	out := map[string]float64{}
	if len(s.Methods) > 1 {
		out["method"] = 0
	}
	m := methods.All()[method]
	for _, prm := range s.Space {
		if _, ok := methodParam(m, prm.Name); !ok {
			continue
		}
		d := startValue(method, prm.Name, len(s.Models))
		if prm.Start != nil {
			d = *prm.Start
		}
		var v float64
		switch prm.Type {
		case "choice":
			best := math.Inf(1)
			for i, c := range prm.Choices {
				if dist := math.Abs(toFloat(choiceValue(c)) - d); dist < best {
					best, v = dist, float64(i)
				}
			}
		case "int":
			v = math.Round(min(max(d, prm.Low), prm.High))
		default:
			v = min(max(d, prm.Low), prm.High)
			if k := (v - prm.Low) / prm.Step; prm.Step > 0 && math.Abs(k-math.Round(k)) > 1e-9 {
				v = prm.Low + math.Round(k)*prm.Step
				v = min(v, prm.High)
			}
		}
		for _, n := range s.paramNames(prm) {
			out[n] = v
		}
	}
	return out
}

// FirstAssignment is the assignment of the study's first trial: the
// first method with each searched parameter at its start value
// (DefaultParams), as the run enqueues it.
func (s *Study) FirstAssignment() (*Assignment, error) {
	return s.Sample(internalSuggester(s.DefaultParams()))
}

// internalSuggester answers from goptuna-internal values (a choice as its
// index); a parameter it lacks takes the range's low end.
type internalSuggester map[string]float64

func (g internalSuggester) Float(name string, low, high float64, log bool, step float64) (float64, error) {
	if v, ok := g[name]; ok {
		return v, nil
	}
	return low, nil
}

func (g internalSuggester) Int(name string, low, high, step int) (int, error) {
	if v, ok := g[name]; ok {
		return int(math.Round(v)), nil
	}
	return low, nil
}

func (g internalSuggester) Choice(name string, choices []string) (string, error) {
	i := int(g[name])
	if i < 0 || i >= len(choices) {
		return "", fmt.Errorf("choice %s: index %d of %d", name, i, len(choices))
	}
	return choices[i], nil
}

// MergeConfig builds the merge configuration of an assignment over the
// study's models (Document), ready to merge; its Raw is the YAML a trial
// records, with header as a comment. file names it in messages.
func (s *Study) MergeConfig(a *Assignment, file, header string) (*config.Config, error) {
	paths := make([]string, len(s.Models))
	for i, m := range s.Models {
		paths[i] = m.Path
	}
	d, err := a.Document(s.BaseModel, paths, s.Dtype)
	if err != nil {
		return nil, err
	}
	return d.Config(file, header)
}

// Document is the mergekit configuration merging the models at paths
// onto base with the settings of a (a.Models[i] belongs to paths[i]):
// base is left out for a method that takes none.
func (a *Assignment) Document(base string, paths []string, dtype string) (*config.Document, error) {
	m := methods.All()[a.Method]
	if m == nil {
		return nil, fmt.Errorf("merge config: unknown method %q", a.Method)
	}
	if len(a.Models) != len(paths) {
		return nil, fmt.Errorf("merge config: %d models but %d parameter sets", len(paths), len(a.Models))
	}
	d := &config.Document{MergeMethod: a.Method, DType: dtype}
	if m.Base != methods.BaseNone {
		d.BaseModel = base
	}
	if len(a.Global) > 0 {
		d.Parameters = a.Global
	}
	for i, p := range paths {
		dm := config.DocumentModel{Model: p}
		if len(a.Models[i]) > 0 {
			dm.Parameters = a.Models[i]
		}
		d.Models = append(d.Models, dm)
	}
	return d, nil
}

func (p *parser) space(f *File, s *Study, reg methods.Registry) error {
	n := &f.Space
	if n.Kind == 0 {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return p.errf("space", "", "want a mapping of parameter names to ranges")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name := n.Content[i].Value
		field := "space." + name
		var fp FileParam
		dec := n.Content[i+1]
		if dec.Kind != yaml.MappingNode {
			return p.errf(field, "", "want a mapping such as {type: float, low: 0, high: 1}")
		}
		if err := checkKeys(dec, "type", "low", "high", "step", "log", "choices", "scope", "knots", "start"); err != "" {
			return p.errf(field+"."+err, "", "unknown field; known: type, low, high, step, log, choices, scope, knots, start")
		}
		if err := dec.Decode(&fp); err != nil {
			return p.errf(field, "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		def, ok := paramDef(reg, s.Methods, name)
		if !ok && name != "method" {
			return p.errf(field, "", "no method of %s takes this parameter", strings.Join(s.Methods, ", "))
		}
		if name == "method" {
			return p.errf(field, "", "list the methods under method: to search over them")
		}
		if _, fixed := f.Parameters[name]; fixed {
			return p.errf(field, "", "also fixed under parameters; keep one")
		}
		prm := Param{Name: name, Type: fp.Type, Step: fp.Step, Log: fp.Log, Scope: fp.Scope, Knots: fp.Knots, PerModel: def.PerModel}
		switch fp.Type {
		case "float", "int":
			if fp.Low == nil && fp.High == nil {
				low, high, log, ok := suggestedRange(reg, s.Methods, name)
				if ok && (fp.Type == "float" || low == math.Trunc(low) && high == math.Trunc(high)) {
					fp.Low, fp.High = &low, &high
					fp.Log = fp.Log || log && fp.Type == "float" && fp.Step == 0
					prm.Log = fp.Log
				}
			}
			if fp.Low == nil || fp.High == nil {
				return p.errf(field+".low", "", "a %s needs low and high (%s suggests no range for %s)", fp.Type, strings.Join(s.Methods, ", "), name)
			}
			prm.Low, prm.High = *fp.Low, *fp.High
			if !(prm.Low < prm.High) {
				return p.errf(field+".high", fmtNum(prm.High), "must be above low (%s)", fmtNum(prm.Low))
			}
			if fp.Type == "int" && (prm.Low != math.Trunc(prm.Low) || prm.High != math.Trunc(prm.High)) {
				return p.errf(field+".low", fmtNum(prm.Low), "an int range needs whole bounds")
			}
			if fp.Log && fp.Type == "int" {
				return p.errf(field+".log", "true", "log scale is for floats only")
			}
			if fp.Log && prm.Low <= 0 {
				return p.errf(field+".low", fmtNum(prm.Low), "a log-scale range must be above 0")
			}
			if fp.Log && fp.Step != 0 {
				return p.errf(field+".step", fmtNum(fp.Step), "a log-scale range cannot be stepped")
			}
			if fp.Step < 0 || (fp.Type == "int" && fp.Step != math.Trunc(fp.Step)) {
				return p.errf(field+".step", fmtNum(fp.Step), "want a positive step (whole for an int)")
			}
			if len(fp.Choices) > 0 {
				return p.errf(field+".choices", "", "only a choice has choices")
			}
		case "choice":
			if len(fp.Choices) == 0 {
				return p.errf(field+".choices", "", "a choice needs a non-empty list of choices")
			}
			for j, c := range fp.Choices {
				v, err := fixedValue(c)
				if _, isList := v.([]float64); err != nil || isList {
					return p.errf(fmt.Sprintf("%s.choices[%d]", field, j), fmt.Sprint(c), "want a number or a boolean")
				}
				prm.Choices = append(prm.Choices, fmt.Sprint(c))
			}
			if fp.Low != nil || fp.High != nil || fp.Log || fp.Step != 0 {
				return p.errf(field+".type", "choice", "a choice takes choices, not low/high/log/step")
			}
		case "":
			return p.errf(field+".type", "", "required: float, int or choice")
		default:
			return p.errf(field+".type", fp.Type, "want float, int or choice")
		}
		if fp.Start != nil {
			if err := p.start(field, prm, *fp.Start); err != nil {
				return err
			}
			v := *fp.Start
			prm.Start = &v
		}
		if prm.Scope == "" {
			prm.Scope = ScopeGlobal
			if def.PerModel {
				prm.Scope = ScopeShared
			}
		}
		switch prm.Scope {
		case ScopeGlobal:
			if def.PerModel {
				return p.errf(field+".scope", prm.Scope, "%s is a per-model parameter: use per_model, shared or per_layer", name)
			}
		case ScopePerModel, ScopeShared:
			if !def.PerModel {
				return p.errf(field+".scope", prm.Scope, "%s is a global parameter: use global or per_layer", name)
			}
		case ScopePerLayer:
			if prm.Knots == 0 {
				prm.Knots = 3
			}
			if prm.Knots < 2 {
				return p.errf(field+".knots", strconv.Itoa(prm.Knots), "per_layer needs at least 2 knots")
			}
		default:
			return p.errf(field+".scope", prm.Scope, "want global, per_model, shared or per_layer")
		}
		if prm.Scope != ScopePerLayer && fp.Knots != 0 {
			return p.errf(field+".knots", strconv.Itoa(fp.Knots), "knots are for scope per_layer")
		}
		s.Space = append(s.Space, prm)
	}
	sort.Slice(s.Space, func(a, b int) bool { return s.Space[a].Name < s.Space[b].Name })
	return nil
}

// start checks a parameter's start value (the first trial's, start: in
// the space entry): inside a range, on its step, or one of the choices.
func (p *parser) start(field string, prm Param, v float64) error {
	switch prm.Type {
	case "choice":
		for _, c := range prm.Choices {
			if toFloat(choiceValue(c)) == v {
				return nil
			}
		}
		return p.errf(field+".start", fmtNum(v), "not one of the choices (%s)", strings.Join(prm.Choices, ", "))
	case "int":
		if v != math.Trunc(v) {
			return p.errf(field+".start", fmtNum(v), "an int parameter starts from a whole number")
		}
	}
	if v < prm.Low || v > prm.High {
		return p.errf(field+".start", fmtNum(v), "outside the range [%s, %s]", fmtNum(prm.Low), fmtNum(prm.High))
	}
	if prm.Step > 0 {
		if k := (v - prm.Low) / prm.Step; math.Abs(k-math.Round(k)) > 1e-9 {
			return p.errf(field+".start", fmtNum(v), "not on the range's step (%s from %s)", fmtNum(prm.Step), fmtNum(prm.Low))
		}
	}
	return nil
}

// suggestedRange is the search range the first of ms that suggests one
// declares for parameter name (methods.ParamDef.Suggested).
func suggestedRange(reg methods.Registry, ms []string, name string) (low, high float64, log, ok bool) {
	for _, m := range ms {
		if d, found := methodParam(reg[m], name); found {
			if low, high, log, ok = d.Suggested(); ok {
				return low, high, log, true
			}
		}
	}
	return 0, 0, false, false
}

// SoupConfig builds the merge configuration of a uniform soup: a linear
// average, with equal weights, of the study's models at indices members
// (greedy soup's steps). Its Raw is the YAML a trial records, with header
// as a comment; file names it in messages.
func (s *Study) SoupConfig(members []int, file, header string) (*config.Config, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("soup config: no models")
	}
	a := &Assignment{Method: "linear", Global: map[string]any{}, Models: make([]map[string]any, len(members))}
	paths := make([]string, len(members))
	for i, m := range members {
		if m < 0 || m >= len(s.Models) {
			return nil, fmt.Errorf("soup config: no model %d (the study has %d)", m, len(s.Models))
		}
		paths[i] = s.Models[m].Path
		a.Models[i] = map[string]any{"weight": 1.0}
	}
	d, err := a.Document(s.BaseModel, paths, s.Dtype)
	if err != nil {
		return nil, err
	}
	return d.Config(file, header)
}
