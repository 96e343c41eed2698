// Package optim holds the samplers and pruners a study may name: one
// table, read by the study parser (search/study) to check a study file's
// sampler and pruner, and by the runner (search) to build them.
//
// Each sampler or pruner is a method of the entries type in its own file
// (tpe.go, cmaes.go, median.go, …); Samplers and Pruners collect them, so
// adding one is one new file plus its test. The tables are built afresh
// on each call: there is no package-level mutable registry.
package optim

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/c-bata/goptuna"
)

// Names a study gets when its file names no sampler or pruner.
const (
	// DefaultSampler is the sampler of a study that names none.
	DefaultSampler = "tpe"
	// NoPruner is the pruner of a study that names none: every trial
	// is scored on its whole tune set at once.
	NoPruner = "none"
)

// Settings are what a sampler or pruner is built from.
type Settings struct {
	// Seed is the study's sampler seed (sampler: {seed: N}).
	Seed int64
	// Space is the study's numeric search space, defined up front for
	// the relative samplers; nil when the study searches several methods
	// (the space then differs between trials).
	Space map[string]interface{}
	// Startup is the number of complete trials before the median pruner
	// prunes (pruner: {startup: N}).
	Startup int
}

// Sampler is one sampler a study may name.
type Sampler struct {
	// Name is the sampler's name in a study file (sampler: {type: NAME}).
	Name string
	// Help says in a line what it does, for the README and messages.
	Help string
	// MinDimensions is the fewest numeric search dimensions the sampler
	// works with; the parser refuses a space with fewer.
	MinDimensions int
	// Discrete is set for a sampler that needs every parameter of the
	// space discrete (stepped floats, ints, choices); the parser
	// refuses a continuous one.
	Discrete bool
	// Options returns the study options that install the sampler.
	Options func(Settings) ([]goptuna.StudyOption, error)
}

// Pruner is one pruner a study may name.
type Pruner struct {
	// Name is the pruner's name in a study file (pruner: {type: NAME}).
	Name string
	// Help says in a line what it does.
	Help string
	// New returns the goptuna pruner, or nil for none (the trial is then
	// scored in one piece, not in chunks).
	New func(Settings) (goptuna.Pruner, error)
}

// Table is a set of samplers or pruners by name.
type Table[T any] struct {
	kind    string // "sampler" or "pruner", for messages
	entries map[string]T
}

// Lookup returns the entry called name, or an error naming the value and
// listing the known names.
func (t Table[T]) Lookup(name string) (T, error) {
	if e, ok := t.entries[name]; ok {
		return e, nil
	}
	var zero T
	return zero, &UnknownError{Kind: t.kind, Name: name, Known: t.Names()}
}

// Has reports whether there is an entry called name.
func (t Table[T]) Has(name string) bool {
	_, ok := t.entries[name]
	return ok
}

// Names lists the entries in alphabetical order.
func (t Table[T]) Names() []string {
	names := make([]string, 0, len(t.entries))
	for n := range t.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// UnknownError is the error of a name no entry has.
type UnknownError struct {
	Kind  string   // "sampler" or "pruner"
	Name  string   // the name asked for
	Known []string // the names there are
}

// Error renders the error as `unknown sampler "x"; known: a, b`.
func (e *UnknownError) Error() string {
	return fmt.Sprintf("unknown %s %q; known: %s", e.Kind, e.Name, strings.Join(e.Known, ", "))
}

// Samplers returns the table of every sampler.
func Samplers() Table[Sampler] {
	return collect[Sampler]("sampler", func(s Sampler) string { return s.Name })
}

// Pruners returns the table of every pruner.
func Pruners() Table[Pruner] {
	return collect[Pruner]("pruner", func(p Pruner) string { return p.Name })
}

// entries carries one exported method per sampler or pruner, each in its
// own file, returning its Sampler or Pruner.
type entries struct{}

// collect calls every method of entries that returns a T.
func collect[T any](kind string, name func(T) string) Table[T] {
	t := Table[T]{kind: kind, entries: map[string]T{}}
	v := reflect.ValueOf(entries{})
	want := reflect.TypeFor[T]()
	for i := range v.NumMethod() {
		m := v.Method(i)
		if m.Type().NumIn() != 0 || m.Type().NumOut() != 1 || m.Type().Out(0) != want {
			continue
		}
		e := m.Call(nil)[0].Interface().(T)
		n := name(e)
		if _, dup := t.entries[n]; dup || n == "" {
			panic(fmt.Sprintf("optim: %s %q defined twice or unnamed (method %s)", kind, n, v.Type().Method(i).Name))
		}
		t.entries[n] = e
	}
	return t
}
