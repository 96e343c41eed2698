package config

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Document is a merge configuration of the `models:` form held as plain
// values: what mergetune's search, its frozen recipes and its benchmark
// build, record and read back. It is the one declaration of mergekit's
// schema as Go values; Parse reads the full schema (slices, conditionals,
// tokenizers) from the YAML node tree.
//
// Parameter values are float64, int, bool or string scalars, or lists of
// them ([]float64 or []any: a gradient when every entry is a number or a
// boolean, a step function when one is a string).
type Document struct {
	MergeMethod string          `yaml:"merge_method"`
	BaseModel   string          `yaml:"base_model,omitempty"`
	Models      []DocumentModel `yaml:"models"`
	Parameters  map[string]any  `yaml:"parameters,omitempty"`
	DType       string          `yaml:"dtype,omitempty"`
}

// DocumentModel is one entry of a Document's models.
type DocumentModel struct {
	Model      string         `yaml:"model"`
	Parameters map[string]any `yaml:"parameters,omitempty"`
}

// Marshal writes d as mergekit YAML. header, when not empty, is written
// first, each of its lines as a comment.
func (d *Document) Marshal(header string) ([]byte, error) {
	out, err := yaml.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("merge config %s: %w", d.MergeMethod, err)
	}
	if header == "" {
		return out, nil
	}
	var b bytes.Buffer
	for _, line := range strings.Split(header, "\n") {
		b.WriteString("# " + line + "\n")
	}
	b.Write(out)
	return b.Bytes(), nil
}

// ReadDocument reads a configuration of the `models:` form written by
// Marshal (a trial's recorded configuration) back into values. file names
// it in errors.
func ReadDocument(data []byte, file string) (*Document, error) {
	var d Document
	if err := yaml.Unmarshal(data, &d); err != nil {
		return nil, &Error{File: displayName(file), Msg: "invalid YAML: " + err.Error(), Err: err}
	}
	return &d, nil
}

// Config builds the validated Config of d directly from its values, with
// the checks Parse makes on the same text: a merge method, at least one
// model, well-formed model references, a known dtype and finite
// parameter values. Its Raw is d's YAML (Marshal with header), which the
// merge writes beside its output; File names it in messages.
func (d *Document) Config(file, header string) (*Config, error) {
	raw, err := d.Marshal(header)
	if err != nil {
		return nil, err
	}
	name := displayName(file)
	errf := func(path, format string, args ...any) error {
		return &Error{File: name, Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	c := &Config{File: file, MergeMethod: d.MergeMethod, Raw: raw}
	if strings.TrimSpace(d.MergeMethod) == "" {
		return nil, errf("merge_method", "must not be empty")
	}
	if d.BaseModel != "" {
		if c.BaseModel, err = buildRef(d.BaseModel); err != nil {
			return nil, errf("base_model", "%v", err)
		}
	}
	if len(d.Models) == 0 {
		return nil, errf("models", "must not be empty")
	}
	for i, m := range d.Models {
		path := fmt.Sprintf("models[%d]", i)
		ref, err := buildRef(m.Model)
		if err != nil {
			return nil, errf(path+".model", "%v", err)
		}
		ps, err := buildParams(m.Parameters, name, path+".parameters")
		if err != nil {
			return nil, err
		}
		c.Models = append(c.Models, Model{Model: ref, Parameters: ps})
	}
	if c.Parameters, err = buildParams(d.Parameters, name, "parameters"); err != nil {
		return nil, err
	}
	if d.DType != "" {
		if c.DType, err = normalizeDType(d.DType); err != nil {
			return nil, errf("dtype", "%v", err)
		}
	}
	return c, nil
}

// buildRef trims and checks a model reference as Parse does.
func buildRef(ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", fmt.Errorf("model reference must not be empty")
	}
	return ref, checkModelRef(ref)
}

// buildParams turns a parameters map into Params; nil for an empty map,
// as Parse gives for a missing block. Errors are *Error in file name.
func buildParams(m map[string]any, name, path string) (Params, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := Params{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, err := settingOf(m[k])
		if err != nil {
			return nil, &Error{File: name, Path: path + "." + k, Msg: err.Error()}
		}
		out[k] = s
	}
	return out, nil
}

// settingOf converts a Document parameter value to its Setting, as Parse
// reads the same value from YAML.
func settingOf(v any) (Setting, error) {
	var list []any
	switch x := v.(type) {
	case []float64:
		list = make([]any, len(x))
		for i, f := range x {
			list[i] = f
		}
	case []any:
		list = x
	default:
		val, err := valueOf(v, fmt.Sprint(v))
		if err != nil {
			return Setting{}, err
		}
		return Setting{kind: kindScalar, val: val}, nil
	}
	if len(list) == 0 {
		return Setting{}, fmt.Errorf("empty list; a parameter list needs at least one value")
	}
	s := Setting{kind: kindGradient, list: make([]Value, len(list))}
	for i, e := range list {
		val, err := valueOf(e, fmt.Sprint(e))
		if err != nil {
			return Setting{}, fmt.Errorf("[%d]: %w", i, err)
		}
		if val.IsStr {
			s.kind = kindStep
		}
		s.list[i] = val
	}
	return s, nil
}

// valueOf converts one scalar (number, boolean → 1/0, string) to a Value;
// text is the value as written, for the error. The parser and the
// Document builder share it, so both accept and refuse the same values.
func valueOf(v any, text string) (Value, error) {
	switch x := v.(type) {
	case bool:
		if x {
			return Value{Num: 1}, nil
		}
		return Value{Num: 0}, nil
	case int:
		return Value{Num: float64(x)}, nil
	case int64:
		return Value{Num: float64(x)}, nil
	case uint64:
		return Value{Num: float64(x)}, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return Value{}, fmt.Errorf("%s is not a finite number (every number of a merge config must be finite)", text)
		}
		return Value{Num: x}, nil
	case string:
		return Value{Str: x, IsStr: true}, nil
	case nil:
		return Value{}, fmt.Errorf("missing value (null)")
	}
	return Value{}, fmt.Errorf("unsupported value %s (%T): want a number, boolean, string or a list of them", text, v)
}
