// Package config parses and validates a mergekit merge configuration file
// (the YAML given to `mergekit-yaml`), and implements mergekit's parameter
// resolution rules over it: ParameterSetting evaluation (scalars, gradients,
// step functions and filtered conditionals), the slice normalisation of the
// `models:` form, and the per-source / per-slice / global lookup order.
//
// Features that mergetune does not implement yet (multi-module configs,
// chat templates) are rejected at parse time with an error containing "not supported yet". LoRA references
// ("model+lora", SplitLoRA) and Hugging Face ids with a revision
// ("org/name@revision", on either side of a '+') are accepted.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Config is a parsed and validated merge configuration.
type Config struct {
	// File is the path the config was read from ("" for Parse without a
	// name); it prefixes every error and warning.
	File string
	// MergeMethod is the merge_method value as written (never empty).
	MergeMethod string
	// BaseModel is the top-level base_model, "" if unset.
	BaseModel string
	// Models holds the `models:` form (nil when `slices:` is used).
	Models []Model
	// Slices holds the `slices:` form (nil when `models:` is used).
	Slices []Slice
	// Parameters holds the top-level parameters.
	Parameters Params
	// DType is the normalised dtype: "float32", "float16", "bfloat16" or "".
	DType string
	// OutDType is the normalised out_dtype, with the same values as DType.
	OutDType string
	// TokenizerSource is "", "union", "base", or a model reference, merged
	// or not (see VocabSource and TokenizerRef).
	TokenizerSource string
	// Tokenizer is the tokenizer block, nil if unset (only one of it and
	// TokenizerSource is set).
	Tokenizer *Tokenizer
	// Raw is the file's bytes, verbatim.
	Raw []byte
	// Warnings holds non-fatal notes found while parsing, each prefixed
	// with the file name, line and key path.
	Warnings []string
}

// Model is one entry of the `models:` form.
type Model struct {
	// Model is the model reference (a path or a Hugging Face id).
	Model string
	// Parameters are the model's parameters (its source parameters).
	Parameters Params
}

// Slice is one output slice of the `slices:` form.
type Slice struct {
	// Sources are the input slices merged into this output slice.
	Sources []Source
	// BaseModel is the slice's base_model, "" if unset (see Config.BaseFor).
	BaseModel string
	// Parameters are the slice-level parameters.
	Parameters Params
}

// Source is one input slice of an output slice.
type Source struct {
	// Model is the model reference.
	Model string
	// LayerRange is the half-open layer range [start, end).
	LayerRange [2]int
	// Parameters are the source's (per-model) parameters.
	Parameters Params
}

// Params maps a parameter name to its setting.
type Params map[string]Setting

// Names returns the parameter names in sorted order.
func (p Params) Names() []string {
	names := make([]string, 0, len(p))
	for name := range p {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Error is a configuration error. Its message has the form
// "FILE:LINE: PATH: MSG", where LINE is omitted when unknown (0) and PATH is
// omitted when the error concerns the file as a whole.
type Error struct {
	// File is the file name ("<config>" for Parse without a name).
	File string
	// Line is the 1-based YAML line, 0 if unknown.
	Line int
	// Path is the key path, e.g. "models[1].parameters.density".
	Path string
	// Msg describes the problem.
	Msg string
	// Err is the underlying error, if any.
	Err error
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Load reads and parses the merge configuration at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err // the path is already the message's prefix
		}
		return nil, &Error{File: displayName(path), Msg: fmt.Sprintf("cannot read merge config: %v", msg), Err: err}
	}
	return Parse(data, path)
}

// displayName is the name used in messages for file.
func displayName(file string) string {
	if file == "" {
		return "<config>"
	}
	return file
}

// BaseFor returns the base model of slices[i]: the slice's base_model, else
// c.BaseModel. An out-of-range i yields c.BaseModel.
func (c *Config) BaseFor(slices []Slice, i int) string {
	if i >= 0 && i < len(slices) && slices[i].BaseModel != "" {
		return slices[i].BaseModel
	}
	return c.BaseModel
}

// Lookup resolves parameter name following mergekit's order (§2.3):
//
//  1. when source >= 0: slices[slice].Sources[source].Parameters;
//  2. slices[slice].Parameters;
//  3. module parameters (modules are not supported, so never set);
//  4. c.Parameters.
//
// At each level a setting that is present but evaluates to nothing (a list
// of conditionals none of which matches tensor) falls through to the next
// level. tensor is the name filters are matched against: the caller passes
// the model's input tensor name for per-model lookups and the output tensor
// name for global ones. t is the layer position in [0, 1]. Levels whose
// slice or source index is out of range are skipped. ok is false when no
// level sets the parameter; the caller then applies the default (level 5).
func (c *Config) Lookup(slices []Slice, slice, source int, name, tensor string, t float64) (Value, bool) {
	if slice >= 0 && slice < len(slices) {
		sl := slices[slice]
		if source >= 0 && source < len(sl.Sources) {
			if s, ok := sl.Sources[source].Parameters[name]; ok {
				if v, ok := s.Eval(tensor, t); ok {
					return v, true
				}
			}
		}
		if s, ok := sl.Parameters[name]; ok {
			if v, ok := s.Eval(tensor, t); ok {
				return v, true
			}
		}
	}
	if s, ok := c.Parameters[name]; ok {
		if v, ok := s.Eval(tensor, t); ok {
			return v, true
		}
	}
	return Value{}, false
}

// Normalize returns the output slices of the config.
//
// For the `models:` form it returns one slice whose sources are the models
// in order, each with layer_range [0, numLayers(model)) and its parameters as
// source parameters; if BaseModel is set but not listed among the models, the
// base is appended as the last source with no parameters (mergekit
// behaviour). The slice's BaseModel is c.BaseModel. All sources must have the
// same layer count.
//
// For the `slices:` form it returns copies of the slices as written, with a
// slice's empty base_model replaced by c.BaseModel; nothing is appended and
// numLayers is not called (it may be nil).
//
// numLayers returns the layer count of a model; it may return 0 for a model
// without layers. Parameter maps are shared with c, not copied.
func (c *Config) Normalize(numLayers func(model string) (int, error)) ([]Slice, error) {
	name := displayName(c.File)
	if c.Models == nil {
		out := make([]Slice, len(c.Slices))
		for i, sl := range c.Slices {
			out[i] = Slice{
				Sources:    append([]Source(nil), sl.Sources...),
				BaseModel:  c.BaseFor(c.Slices, i),
				Parameters: sl.Parameters,
			}
		}
		return out, nil
	}
	if numLayers == nil {
		return nil, &Error{File: name, Path: "models", Msg: "normalize: no layer-count function given"}
	}
	refs := make([]Model, 0, len(c.Models)+1)
	refs = append(refs, c.Models...)
	if c.BaseModel != "" && !c.listsModel(c.BaseModel) {
		refs = append(refs, Model{Model: c.BaseModel})
	}
	sources := make([]Source, len(refs))
	for i, m := range refs {
		n, err := numLayers(m.Model)
		if err != nil {
			return nil, &Error{File: name, Path: "models", Msg: fmt.Sprintf("layer count of %q: %v", m.Model, err), Err: err}
		}
		if n < 0 {
			return nil, &Error{File: name, Path: "models", Msg: fmt.Sprintf("layer count of %q is negative (%d)", m.Model, n)}
		}
		sources[i] = Source{Model: m.Model, LayerRange: [2]int{0, n}, Parameters: m.Parameters}
	}
	for _, s := range sources[1:] {
		if s.LayerRange[1] != sources[0].LayerRange[1] {
			return nil, &Error{File: name, Path: "models", Msg: fmt.Sprintf(
				"all models of a slice must have the same number of layers: %q has %d, %q has %d",
				sources[0].Model, sources[0].LayerRange[1], s.Model, s.LayerRange[1])}
		}
	}
	return []Slice{{Sources: sources, BaseModel: c.BaseModel}}, nil
}

// listsModel reports whether ref is one of c.Models.
func (c *Config) listsModel(ref string) bool {
	for _, m := range c.Models {
		if m.Model == ref {
			return true
		}
	}
	return false
}

// ModelRefs lists every distinct model reference whose weights the merge
// reads, in this order with duplicates dropped: the models of the
// `models:` form; for each slice, its sources then its base_model; the
// top-level base_model. A tokenizer source outside these (TokenizerRef)
// is not listed: only its tokenizer is read.
func (c *Config) ModelRefs() []string {
	return c.modelRefs()
}

// modelRefs implements ModelRefs.
func (c *Config) modelRefs() []string {
	var refs []string
	seen := map[string]bool{}
	add := func(ref string) {
		if ref != "" && !seen[ref] {
			seen[ref] = true
			refs = append(refs, ref)
		}
	}
	for _, m := range c.Models {
		add(m.Model)
	}
	for _, sl := range c.Slices {
		for _, s := range sl.Sources {
			add(s.Model)
		}
		add(sl.BaseModel)
	}
	add(c.BaseModel)
	return refs
}

// ParamRef is one parameter set somewhere in the config.
type ParamRef struct {
	// Name is the parameter name.
	Name string
	// Path is the key path, e.g. "models[1].parameters.density".
	Path string
	// PerModel is true when the parameter is set under a model or source
	// (levels 1), false under a slice or at top level.
	PerModel bool
	// Line is the YAML line of the parameter's value, 0 if unknown (for
	// a Config not built by Parse).
	Line int
	// Setting is the parameter's setting as written.
	Setting Setting
}

// ParamRefs lists every parameter set anywhere in the config with where it
// was set: top-level parameters first, then each model's, then for each
// slice its own parameters followed by its sources'; names are sorted within
// one parameters block.
func (c *Config) ParamRefs() []ParamRef {
	var refs []ParamRef
	add := func(p Params, prefix string, perModel bool) {
		for _, name := range p.Names() {
			refs = append(refs, ParamRef{Name: name, Path: prefix + "parameters." + name, PerModel: perModel, Line: p[name].line, Setting: p[name]})
		}
	}
	add(c.Parameters, "", false)
	for i, m := range c.Models {
		add(m.Parameters, fmt.Sprintf("models[%d].", i), true)
	}
	for i, sl := range c.Slices {
		add(sl.Parameters, fmt.Sprintf("slices[%d].", i), false)
		for j, s := range sl.Sources {
			add(s.Parameters, fmt.Sprintf("slices[%d].sources[%d].", i, j), true)
		}
	}
	return refs
}
