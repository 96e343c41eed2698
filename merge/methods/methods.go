// Package methods holds mergetune's merge methods: a registry of small
// functions, each merging one tensor at a time, in the style of mergekit.
//
// A method never sees a whole checkpoint. The engine hands it a Job (one
// output tensor, its inputs and its resolved parameters); the method's
// Prepare may scan the inputs (for norms, magnitude cut-offs, rescale
// factors) and returns a Kernel that fills the output chunk by chunk. Inputs
// stay memory-mapped in their on-disk dtype and are converted to float32 a
// chunk at a time, so peak memory does not grow with the tensor size for
// the streaming methods.
package methods

import (
	"context"
	"fmt"
	"sort"
)

// Input is one model's tensor, read as float32 a chunk at a time.
type Input interface {
	// Read converts elements [off, off+len(dst)) to float32 into dst.
	Read(off int, dst []float32)
}

// Slice is an in-memory Input, used by tests and by methods that
// materialise intermediate tensors.
type Slice []float32

// Read implements Input.
func (s Slice) Read(off int, dst []float32) { copy(dst, s[off:off+len(dst)]) }

// Params holds resolved numeric parameter values by name. Booleans are 0 or 1.
type Params map[string]float64

// Get returns the value of name, or def when it is not set.
func (p Params) Get(name string, def float64) float64 {
	if v, ok := p[name]; ok {
		return v
	}
	return def
}

// Bool reports whether name is set to a non-zero value, or def when unset.
func (p Params) Bool(name string, def bool) bool {
	if v, ok := p[name]; ok {
		return v != 0
	}
	return def
}

// Model is one input model's tensor with its per-model parameters.
type Model struct {
	Name   string // the model reference as written in the config, for messages
	Input  Input
	Params Params // per-model parameters, resolved (defaults filled in)
}

// Job is the merge of one output tensor.
type Job struct {
	Tensor  string // output tensor name
	Shape   []int  // output shape; every input has this shape (the engine rectifies)
	IsEmbed bool   // embed_tokens or lm_head
	Base    *Model // the base model, nil when the method takes none or none is given
	Models  []Model
	Params  Params // global parameters, resolved (defaults filled in)
	Seed    uint64 // seed of the random methods and of the tie order at magnitude cut-offs; with Tensor it fixes every draw
	// Masks, when set, replaces the random keep-masks of the random methods:
	// Masks(i) returns model i's mask (1 keep, 0 drop), of the tensor's length.
	// Tests use it to check the deterministic parts against fixed masks.
	Masks func(model int) []float32
	// Warn reports a non-fatal problem; it may be nil.
	Warn func(format string, args ...any)
	// Workers is how many goroutines a method may use for its passes over
	// this tensor (0 or 1: the calling goroutine only). The engine gives
	// large tensors several workers and runs small ones side by side.
	Workers int
}

// Len is the number of elements of the tensor.
func (j *Job) Len() int {
	n := 1
	for _, d := range j.Shape {
		n *= d
	}
	return n
}

// RowLen is the length of the last axis (1 for a scalar). Kernel chunks
// always start and end on row boundaries.
func (j *Job) RowLen() int {
	if len(j.Shape) == 0 {
		return 1
	}
	if r := j.Shape[len(j.Shape)-1]; r > 0 {
		return r
	}
	return 1
}

// Warnf calls Warn when it is set.
func (j *Job) Warnf(format string, args ...any) {
	if j.Warn != nil {
		j.Warn(format, args...)
	}
}

// Load reads a whole input into memory. Methods that cannot stream use it.
func Load(in Input, n int) []float32 {
	out := make([]float32, n)
	const chunk = 1 << 16
	for off := 0; off < n; off += chunk {
		end := min(off+chunk, n)
		in.Read(off, out[off:end])
	}
	return out
}

// Kernel writes output elements [off, off+len(out)). Unless its method is
// Parallel, the engine calls it with row-aligned chunks in increasing
// order of off, one call at a time, so it may keep running state between
// calls. A Parallel method's kernel must be safe for concurrent calls on
// disjoint chunks, in any order.
type Kernel func(off int, out []float32) error

// BaseUse says what a method does with the base model.
type BaseUse int

const (
	// BaseNone: the method takes no base; a base_model that is not listed
	// among the models is auto-appended as an ordinary input (mergekit).
	BaseNone BaseUse = iota
	// BaseOptional: the base is used when given.
	BaseOptional
	// BaseRequired: the method fails without a base.
	BaseRequired
)

// Rectify says how a method handles embedding matrices whose sizes differ.
type Rectify int

const (
	// RectifyNone: shapes must match exactly.
	RectifyNone Rectify = iota
	// RectifyCommon: every embedding is cut to the common top-left submatrix.
	RectifyCommon
	// RectifyToBase: larger embeddings are cut to the base's shape; a
	// non-embedding tensor of another shape skips that model with a warning.
	RectifyToBase
)

// ParamDef declares one parameter of a method: its name, how it is
// resolved and defaulted, and the values it accepts. The engine checks
// every value written in a config against Range before merging, and every
// resolved value again per tensor (Method.CheckParams).
type ParamDef struct {
	Name     string
	PerModel bool    // resolved per model (weight, density, …) rather than globally
	Required bool    // no default: an unset value is an error (never for the base)
	Optional bool    // no default either, but unset is fine: the name stays absent from Params
	Default  float64 // used when neither Required nor Optional and unset
	Range    Range   // the accepted values (the zero Range: any finite number)
	// Search is where a search starts the parameter and the range it
	// suggests for it (see StartValue and Suggested).
	Search Search
}

// Search says what a study or a benchmark uses for a parameter the user
// gives no value or range for. The zero Search starts from Default and
// suggests no range.
type Search struct {
	// Start replaces Default as the starting value when HasStart is set:
	// mergekit's documented examples (density 0.5, slerp's t 0.5), or a
	// value for a parameter that has no default (a task-vector weight 1).
	Start    float64
	HasStart bool
	// Share starts the parameter at 1/n for a merge of n models (an
	// interpolation's weight); it wins over Start.
	Share bool
	// Low and High bound the suggested search range when Low < High; Log
	// suggests a log scale.
	Low, High float64
	Log       bool
}

// StartValue is the value a search's first trial and `mergetune bench`
// give the parameter in a merge of n models: 1/n when Search.Share,
// Search.Start when set, else Default (0 for a Required or Optional
// parameter).
func (d ParamDef) StartValue(n int) float64 {
	switch {
	case d.Search.Share:
		return 1 / float64(max(n, 1))
	case d.Search.HasStart:
		return d.Search.Start
	}
	return d.Default
}

// Suggested returns the suggested search range of the parameter; ok is
// false when it has none.
func (d ParamDef) Suggested() (low, high float64, log, ok bool) {
	s := d.Search
	return s.Low, s.High, s.Log, s.Low < s.High
}

// Method is one merge method.
type Method struct {
	Name    string
	Params  []ParamDef
	Base    BaseUse
	Rectify Rectify
	// Validate checks resolved parameter values before any tensor is read;
	// it may be nil. It returns an error naming the parameter and value.
	Validate func(j *Job) error
	// Prepare readies the merge of one tensor and returns its kernel. It
	// returns ctx's error, promptly, when ctx is done while it works.
	Prepare func(ctx context.Context, j *Job) (Kernel, error)
	// Parallel says the kernel is safe for concurrent calls on disjoint
	// chunks, so the engine may split a large tensor across cores.
	Parallel bool
}

// Param returns the definition of the named parameter.
func (m *Method) Param(name string) (ParamDef, bool) {
	for _, p := range m.Params {
		if p.Name == name {
			return p, true
		}
	}
	return ParamDef{}, false
}

// Start returns the settings a merge of n models starts from when the
// user gives none (a search's reference point, a benchmark's merge):
// every parameter that is Required or declares a Search start, at
// StartValue(n), split into global and per-model ones. Parameters left
// out take their Default in the merge.
func (m *Method) Start(n int) (global, perModel Params) {
	global, perModel = Params{}, Params{}
	for _, d := range m.Params {
		if !d.Required && !d.Search.HasStart && !d.Search.Share {
			continue
		}
		if d.PerModel {
			perModel[d.Name] = d.StartValue(n)
		} else {
			global[d.Name] = d.StartValue(n)
		}
	}
	return global, perModel
}

// Registry maps method names to methods.
type Registry map[string]*Method

// Lookup returns the method called name, or an error listing the known ones.
func (r Registry) Lookup(name string) (*Method, error) {
	if m, ok := r[name]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("unknown merge method %q (known: %v)", name, r.Names())
}

// Names lists the registered methods in alphabetical order.
func (r Registry) Names() []string {
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// All returns a registry of every built-in method. Each method file adds
// its entry to the list below.
func All() Registry {
	r := Registry{}
	for _, m := range builtins() {
		r[m.Name] = checked(m)
	}
	return r
}
