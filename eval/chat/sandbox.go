package chat

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/nikolalohinski/gonja/v2/builtins"
	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// The sandbox a chat template runs in. A template comes with the model,
// outside data, and Go can neither catch a stack overflow or an
// out-of-memory error nor stop a goroutine, so every way a template could
// recurse, grow a value or loop without end is closed or bounded here,
// by class rather than by example:
//
//   - tags: only those chat templates use (if, for, set, macro, call, filter,
//     with, do, break, continue, raw, autoescape); block, extends, include,
//     import, from and trans are unknown tags (they read files, or recurse
//     through self.block()); a "recursive" for loop is refused;
//   - recursion: a macro that may call itself is refused (recursiveMacro),
//     a call nested past MaxCalls fails while rendering (whatever slipped
//     past that check),
//     and so is a source past MaxSource bytes or nested past MaxNesting
//     brackets and tags (scanSource), which the parser would recurse on;
//   - time: every loop iteration, macro call and filter call is a step of a
//     budget (MaxSteps), and a rendering past MaxRenderTime is stopped at
//     its next step;
//   - size: every filter and string method is refused arguments that would
//     make a value past MaxState bytes, every product goes through mul (a
//     string times a count), and after each set and do statement the
//     template's variables are checked: no value contains itself, none is
//     nested deeper than MaxDepth, all together hold at most MaxState bytes.
const (
	// MaxSteps bounds the loop iterations, macro calls and filter calls of
	// one rendering.
	MaxSteps = 100000
	// MaxState bounds the bytes a template's variables hold together
	// (each value counts 8 bytes besides a string's bytes), and any one
	// value a filter, method or product makes.
	MaxState = 8 << 20
	// MaxDepth bounds how deeply a template's values nest.
	MaxDepth = 200
	// MaxSource bounds a template's source in bytes (real chat templates
	// take a few KB, tool-use ones up to about 20): gonja's parser and
	// renderer recurse once per level of an operator chain, attribute
	// chain or tag, and a few MB of them overflow the stack.
	MaxSource = 256 << 10
	// MaxNesting bounds how deeply a template's brackets and tags nest
	// (a parenthesis costs the parser about 2.5 KB of stack).
	MaxNesting = 200
	// MaxCalls bounds how deeply macro calls and call blocks nest while
	// rendering: the check for macros that call themselves reads the
	// source, and a template can slip past it (gonja takes control bytes
	// as spaces, "{% macro\x10 f(n) %}"); a call nested past this is refused
	// whatever path led to it, before the Go stack overflows.
	MaxCalls = 100
)

// guardKey names the rendering's guard in the template's context; it has
// a space, so no template can name it.
const guardKey = "mergetune guard"

// mulFilter is the filter every product of the template goes through; it
// has a space, so no template can name it.
const mulFilter = "mergetune mul"

// errStopped is returned at the first step after a rendering timed out.
var errStopped = errors.New("the rendering was stopped")

// guard is the state of one rendering's bounds.
type guard struct {
	steps int         // taken by the rendering goroutine only
	calls int         // macro calls and call blocks entered and not left, likewise
	work  int         // values visited by state checks, likewise
	stop  atomic.Bool // set by Render when the rendering timed out
	names []string    // every name the template uses, for state checks
}

// step takes one step of the budget.
func (g *guard) step() error {
	if g.stop.Load() {
		return errStopped
	}
	if g.steps++; g.steps > MaxSteps {
		return fmt.Errorf("more than %d loop iterations, macro calls and filter calls in one rendering", MaxSteps)
	}
	return nil
}

// guardOf returns the guard of the rendering that ctx belongs to.
func guardOf(ctx *exec.Context) (*guard, error) {
	v, _ := ctx.Get(guardKey)
	g, ok := v.(*guard)
	if !ok {
		return nil, errors.New("rendered outside Template.Render")
	}
	return g, nil
}

// checkState checks the values of the template's variables as seen from
// ctx: no cycle, no deeper than MaxDepth, at most MaxState bytes.
func (g *guard) checkState(ctx *exec.Context) error {
	if g.stop.Load() {
		return errStopped
	}
	s := sizer{onPath: map[unsafe.Pointer]bool{}}
	for _, n := range g.names {
		v, ok := ctx.Get(n)
		if !ok {
			continue
		}
		if err := s.walk(reflect.ValueOf(v), 0); err != nil {
			return fmt.Errorf("variable %s: %w", n, err)
		}
	}
	g.work += s.visits
	if g.work > 100*MaxSteps {
		return fmt.Errorf("the checks of the template's variables visited more than %d values", 100*MaxSteps)
	}
	if s.bytes > MaxState {
		return fmt.Errorf("the template's variables hold more than %d bytes", MaxState)
	}
	return nil
}

// checkValue checks one value as checkState checks all.
func checkValue(v any) error {
	s := sizer{onPath: map[unsafe.Pointer]bool{}}
	if err := s.walk(reflect.ValueOf(v), 0); err != nil {
		return err
	}
	if s.bytes > MaxState {
		return fmt.Errorf("a value of more than %d bytes", MaxState)
	}
	return nil
}

// sizer walks values, adding up their bytes and refusing cycles and deep
// nesting.
type sizer struct {
	onPath map[unsafe.Pointer]bool // maps and slices being walked
	bytes  int
	visits int
}

var valueType = reflect.TypeFor[*exec.Value]()

func (s *sizer) walk(v reflect.Value, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("values nested more than %d deep", MaxDepth)
	}
	s.visits++
	s.bytes += 8 // each value counts a word, besides a string's bytes
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			return s.walk(v.Elem(), depth)
		}
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		if v.Type() == valueType {
			return s.walk((*exec.Value)(v.UnsafePointer()).Val, depth)
		}
		return s.enter(v.UnsafePointer(), func() error { return s.walk(v.Elem(), depth+1) })
	case reflect.String:
		s.bytes += v.Len()
	case reflect.Slice:
		if v.Len() == 0 {
			return nil
		}
		return s.enter(v.UnsafePointer(), func() error { return s.elems(v, depth) })
	case reflect.Array:
		return s.elems(v, depth)
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		return s.enter(v.UnsafePointer(), func() error {
			it := v.MapRange()
			for it.Next() {
				if err := s.walk(it.Key(), depth+1); err != nil {
					return err
				}
				if err := s.walk(it.Value(), depth+1); err != nil {
					return err
				}
			}
			return nil
		})
	case reflect.Struct:
		for i := range v.NumField() {
			if err := s.walk(v.Field(i), depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *sizer) elems(v reflect.Value, depth int) error {
	for i := range v.Len() {
		if err := s.walk(v.Index(i), depth+1); err != nil {
			return err
		}
	}
	return nil
}

// enter walks a map, slice or pointer's contents with p on the path.
func (s *sizer) enter(p unsafe.Pointer, contents func() error) error {
	if s.onPath[p] {
		return errors.New("a value contains itself")
	}
	s.onPath[p] = true
	defer delete(s.onPath, p)
	return contents()
}

// tags are the tags a chat template may use, each with whether it always
// opens a body closed by an end tag (set does without "=", which
// scanSource sees).
var tags = map[string]bool{"autoescape": true, "break": false, "call": true, "continue": false, "do": false, "filter": true, "for": true, "if": true, "macro": true, "raw": true, "set": false, "with": true}

// filterNames and the method names below are gonja's; environment fails,
// and with it every Parse, where one is missing.
var filterNames = []string{"abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "pprint", "random", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string", "striptags", "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr"}

var (
	strMethods  = []string{"capitalize", "capwords", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format", "format_map", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper", "zfill"}
	dictMethods = []string{"clear", "copy", "get", "items", "keys", "pop", "setdefault", "update", "values"}
	listMethods = []string{"append", "copy", "reverse"}
)

// environment returns the sandbox's tags, filters and methods over gonja's
// builtins.
func environment() (*exec.Environment, error) {
	cs := map[string]parser.ControlStructureParser{}
	for name := range tags {
		p, ok := builtins.ControlStructures.Get(name)
		if !ok {
			return nil, fmt.Errorf("gonja has no %s tag", name)
		}
		cs[name] = p
	}
	cs["for"] = bodyTag(cs["for"], false, forBody)
	cs["macro"] = bodyTag(cs["macro"], true, macroBody)
	cs["call"] = bodyTag(cs["call"], true, callBody)
	cs["set"] = checkedTag(cs["set"])
	cs["do"] = checkedTag(cs["do"])

	filters := map[string]exec.FilterFunction{mulFilter: mul}
	for _, name := range filterNames {
		f, ok := builtins.Filters.Get(name)
		if !ok {
			return nil, fmt.Errorf("gonja has no %s filter", name)
		}
		filters[name] = boundedFilter(name, f)
	}
	methods := builtins.Methods
	var err error
	if methods.Str, err = boundedMethods(methods.Str, strMethods); err != nil {
		return nil, err
	}
	if methods.Dict, err = boundedMethods(methods.Dict, dictMethods); err != nil {
		return nil, err
	}
	if methods.List, err = boundedMethods(methods.List, listMethods); err != nil {
		return nil, err
	}
	return &exec.Environment{
		Context:           exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables),
		Filters:           exec.NewFilterSet(filters),
		Tests:             builtins.Tests,
		ControlStructures: exec.NewControlStructureSet(cs),
		Methods:           methods,
	}, nil
}

// tick is a step of the budget, put first in every loop, macro and call
// body; in a macro or call body it enters a call (calls 1), and a tick
// put last leaves it (calls -1). A body left by an error ends the
// rendering, so a missed leave only errs on the strict side.
type tick struct {
	loc   *tokens.Token
	calls int
}

func (t *tick) Position() *tokens.Token { return t.loc }
func (t *tick) String() string          { return "step" }

// Execute takes a step, entering or leaving a call.
func (t *tick) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	g, err := guardOf(r.Environment.Context)
	if err != nil {
		return err
	}
	if t.calls < 0 {
		g.calls--
		return nil
	}
	if g.calls += t.calls; g.calls > MaxCalls {
		return fmt.Errorf("line %d: macro calls nested more than %d deep", t.loc.Line, MaxCalls)
	}
	return g.step()
}

// ticked puts a step first in w; for a call body (macro, call block) the
// step enters the call and a last tick leaves it.
func ticked(w *nodes.Wrapper, loc *tokens.Token, call bool) {
	if w == nil {
		return
	}
	block := func(calls int) nodes.Node {
		return &nodes.ControlStructureBlock{Location: loc, Name: "step", ControlStructure: &tick{loc, calls}}
	}
	if !call {
		w.Nodes = append([]nodes.Node{block(0)}, w.Nodes...)
		return
	}
	w.Nodes = append(append([]nodes.Node{block(1)}, w.Nodes...), block(-1))
}

// bodyTag wraps the parser of a tag with a body (parsed as a T) to put a
// step first in that body (ticked; call says it is a call body); body
// returns it, or refuses the tag.
func bodyTag[T nodes.ControlStructure](p parser.ControlStructureParser, call bool, body func(T, *tokens.Token) (*nodes.Wrapper, error)) parser.ControlStructureParser {
	return func(doc, args *parser.Parser) (nodes.ControlStructure, error) {
		loc := doc.Current()
		cs, err := p(doc, args)
		if err != nil {
			return nil, err
		}
		c, ok := cs.(T)
		if !ok {
			return nil, fmt.Errorf("line %d: gonja gave a %T", loc.Line, cs)
		}
		w, err := body(c, loc)
		if err != nil {
			return nil, err
		}
		ticked(w, loc, call)
		return c, nil
	}
}

func forBody(f *controlStructures.ForControlStructure, loc *tokens.Token) (*nodes.Wrapper, error) {
	if f.Recursive {
		return nil, fmt.Errorf("line %d: a recursive for loop is not supported (it may call itself without end)", loc.Line)
	}
	return f.BodyWrapper, nil
}

func macroBody(m *controlStructures.MacroControlStructure, _ *tokens.Token) (*nodes.Wrapper, error) {
	return m.Wrapper, nil
}

func callBody(c *controlStructures.CallControlStructure, _ *tokens.Token) (*nodes.Wrapper, error) {
	return c.Body, nil
}

// checked is a set or do statement followed by a check of the template's
// variables.
type checked struct {
	nodes.ControlStructure
}

// Execute runs the statement, then checks the variables.
func (c checked) Execute(r *exec.Renderer, tag *nodes.ControlStructureBlock) error {
	inner, ok := c.ControlStructure.(exec.ControlStructure)
	if !ok {
		return fmt.Errorf("%s cannot be executed", c.ControlStructure)
	}
	if err := inner.Execute(r, tag); err != nil {
		return err
	}
	g, err := guardOf(r.Environment.Context)
	if err != nil {
		return err
	}
	return g.checkState(r.Environment.Context)
}

func checkedTag(p parser.ControlStructureParser) parser.ControlStructureParser {
	return func(doc, args *parser.Parser) (nodes.ControlStructure, error) {
		cs, err := p(doc, args)
		if err != nil {
			return nil, err
		}
		return checked{cs}, nil
	}
}

// checkArgs refuses a call whose arguments could make a value past
// MaxState: a count or width above it, or a string input that the string
// arguments could multiply past it (replace, format, join).
func checkArgs(in string, args []*exec.Value, kwargs map[string]*exec.Value) error {
	strs := 0
	check := func(v *exec.Value) error {
		switch {
		case v.IsInteger() && (v.Integer() > MaxState || v.Integer() < -MaxState):
			return fmt.Errorf("argument %d is past the bound of %d", v.Integer(), MaxState)
		case v.IsString():
			strs += len(v.String())
		}
		return nil
	}
	for _, a := range args {
		if err := check(a); err != nil {
			return err
		}
	}
	for _, a := range kwargs {
		if err := check(a); err != nil {
			return err
		}
	}
	if len(in) > 0 && (len(in)+1)*(strs+1) > MaxState {
		return fmt.Errorf("a %d-byte string with %d bytes of string arguments could make a value past %d bytes", len(in), strs, MaxState)
	}
	return nil
}

// boundedFilter is f with a step, checked arguments and a checked result.
func boundedFilter(name string, f exec.FilterFunction) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		g, err := guardOf(e.Environment.Context)
		if err == nil {
			err = g.step()
		}
		if err == nil {
			s := ""
			if in.IsString() {
				s = in.String()
			}
			err = checkArgs(s, params.Args, params.KwArgs)
		}
		if err != nil {
			return exec.AsValue(fmt.Errorf("filter %s: %w", name, err))
		}
		out := f(e, in, params)
		if out != nil && !out.IsError() && out.IsString() && len(out.String()) > MaxState {
			return exec.AsValue(fmt.Errorf("filter %s: a value of more than %d bytes", name, MaxState))
		}
		return out
	}
}

// boundedMethods is set's named methods with checked arguments, and the
// receiver and result checked after (dict.update and list.append mutate).
func boundedMethods[I any](set *exec.MethodSet[I], names []string) (*exec.MethodSet[I], error) {
	out := map[string]exec.Method[I]{}
	for _, name := range names {
		m, ok := set.Get(name)
		if !ok {
			return nil, fmt.Errorf("gonja has no %s method", name)
		}
		out[name] = func(self I, selfValue *exec.Value, args *exec.VarArgs) (any, error) {
			s, _ := any(self).(string)
			if err := checkArgs(s, args.Args, args.KwArgs); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			res, err := m(self, selfValue, args)
			if err != nil {
				return nil, err
			}
			if err := checkValue(selfValue); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if err := checkValue(res); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return res, nil
		}
	}
	return exec.NewMethodSet(out), nil
}

// mul is Jinja's product as gonja computes it (a float if either side is
// one, a string repeated, else integers), with a bound on the repeated
// string and a negative count giving "" as in Python.
func mul(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	g, err := guardOf(e.Environment.Context)
	if err == nil {
		err = g.step()
	}
	if err != nil {
		return exec.AsValue(err)
	}
	if len(params.Args) != 1 {
		return exec.AsValue(errors.New("a product needs two sides"))
	}
	right := params.Args[0]
	switch {
	case in.IsFloat() || right.IsFloat():
		return exec.AsValue(in.Float() * right.Float())
	case in.IsString():
		s, n := in.String(), right.Integer()
		if n <= 0 || s == "" {
			return exec.AsValue("")
		}
		if n > MaxState/len(s) {
			return exec.AsValue(fmt.Errorf("a %d-byte string times %d is past %d bytes", len(s), n, MaxState))
		}
		return exec.AsValue(strings.Repeat(s, n))
	}
	return exec.AsValue(in.Integer() * right.Integer())
}

var (
	binaryType = reflect.TypeFor[*nodes.BinaryExpression]()
	tokenType  = reflect.TypeFor[*tokens.Token]()
)

// boundProducts makes every product (a * b) of the parsed template go
// through mul: a * b becomes (a | mul(b)) * 1. gonja's product repeats a
// string any number of times, and parsed nodes keep their operands in
// unexported fields of the tags, so the tree is walked by reflection.
func boundProducts(root *nodes.Template) {
	seen := map[unsafe.Pointer]bool{}
	var visit func(v reflect.Value)
	visit = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Interface:
			if !v.IsNil() {
				visit(v.Elem())
			}
		case reflect.Pointer:
			if v.IsNil() || v.Type() == tokenType || seen[v.UnsafePointer()] {
				return
			}
			seen[v.UnsafePointer()] = true
			visit(v.Elem())
			if v.Type() == binaryType {
				b := (*nodes.BinaryExpression)(v.UnsafePointer())
				if b.Operator != nil && b.Operator.Token != nil && b.Operator.Token.Type == tokens.Multiply {
					one := *b.Operator.Token
					one.Type, one.Val = tokens.Integer, "1"
					b.Left = &nodes.FilteredExpression{
						Expression: b.Left,
						Filters:    []*nodes.FilterCall{{Token: b.Operator.Token, Name: mulFilter, Args: []nodes.Expression{b.Right}}},
					}
					b.Right = &nodes.Integer{Location: &one, Val: 1}
				}
			}
		case reflect.Struct:
			for i := range v.NumField() {
				visit(v.Field(i))
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				visit(v.Index(i))
			}
		case reflect.Map:
			it := v.MapRange()
			for it.Next() {
				visit(it.Value())
			}
		}
	}
	visit(reflect.ValueOf(root))
}

// scanSource lexes src once, before gonja's parser recurses on it: it
// refuses a source past MaxSource bytes, or whose brackets and tags nest
// deeper than MaxNesting, and returns every name src uses, for the state
// checks.
func scanSource(src string) ([]string, error) {
	if len(src) > MaxSource {
		return nil, fmt.Errorf("%d bytes, more than the %d a chat template may have", len(src), MaxSource)
	}
	seen := map[string]bool{}
	var names []string
	depth, tag, setBlock := 0, "", false
	for s := tokens.LexAll(src, config.New()); !s.End(); s.Next() {
		t := s.Current()
		switch t.Type {
		case tokens.LeftParenthesis, tokens.LeftBracket, tokens.LeftBrace:
			depth++
		case tokens.RightParenthesis, tokens.RightBracket, tokens.RightBrace:
			depth--
		case tokens.BlockBegin:
			tag = "?"
			continue
		case tokens.Name:
			if !seen[t.Val] {
				seen[t.Val] = true
				names = append(names, t.Val)
			}
			if tag == "?" {
				tag = t.Val
				setBlock = tag == "set"
				switch {
				case tags[tag]:
					depth++
				case strings.HasPrefix(tag, "end"):
					depth--
				}
			}
		case tokens.Assign:
			setBlock = false
		case tokens.BlockEnd:
			if setBlock {
				depth++
			}
			tag, setBlock = "", false
		}
		if tag == "?" {
			tag = ""
		}
		depth = max(depth, 0)
		if depth > MaxNesting {
			return nil, fmt.Errorf("line %d: brackets and tags nested deeper than %d", t.Line, MaxNesting)
		}
	}
	return names, nil
}
