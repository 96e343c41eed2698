package datasets

import (
	"errors"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// Bounds of one template rendering (a prompt, a target or a choice of one
// record): a task file is input, and a template such as
// {{range 100000000000}}x{{end}} must fail with an error, not exhaust
// memory or run for hours.
const (
	// MaxRenderedBytes bounds the text one rendering produces, and every
	// string a template function returns on the way.
	MaxRenderedBytes = 1 << 20
	// MaxRenderTime is a last resort against a rendering the bounds on
	// bytes and steps do not stop; it is far above what a bounded
	// rendering takes even on a loaded machine, so a task's result does
	// not depend on the machine's load.
	MaxRenderTime = 20 * time.Second
	// MaxRenderSteps bounds the loop iterations and template calls of one
	// rendering.
	MaxRenderSteps = 100_000
	// MaxTaskPromptBytes bounds the prompts of one task together.
	MaxTaskPromptBytes = 256 << 20
	// maxFormatWidth bounds a width or precision in a printf format.
	maxFormatWidth = 10_000
)

// stepFunc is the function called at the start of every range iteration
// and every template body; it counts the steps and checks the deadline.
const stepFunc = "renderStep"

// errRenderLimit is wrapped by the errors of a rendering that went past a
// bound.
var errRenderLimit = errors.New("template rendering exceeded its bounds")

// boundedTemplate is a parsed template whose execution is bounded in
// output size, steps and time (MaxRenderedBytes, MaxRenderSteps,
// MaxRenderTime). It is not safe for concurrent use.
type boundedTemplate struct {
	t  *template.Template
	st *renderState
}

// renderState is the budget of the rendering in progress.
type renderState struct {
	limit    int // bytes
	maxSteps int
	timeout  time.Duration

	steps    int
	deadline time.Time
	err      error // the first bound exceeded
}

// fail records the first bound exceeded and returns it.
func (s *renderState) fail(format string, args ...any) error {
	if s.err == nil {
		s.err = fmt.Errorf("%w: %s", errRenderLimit, fmt.Sprintf(format, args...))
	}
	return s.err
}

// step counts one loop iteration or template call.
func (s *renderState) step() (string, error) {
	s.steps++
	if s.steps > s.maxSteps {
		return "", s.fail("more than %d loop iterations and template calls", s.maxSteps)
	}
	if s.steps%64 == 0 && time.Now().After(s.deadline) {
		return "", s.fail("rendering took longer than %s", s.timeout)
	}
	return "", nil
}

// checkLen refuses a string longer than the output limit.
func (s *renderState) checkLen(fn, out string) (string, error) {
	if len(out) > s.limit {
		return "", s.fail("%s returned %d bytes, more than %d", fn, len(out), s.limit)
	}
	return out, nil
}

// boundedFuncs returns the functions that replace text/template's string
// builders with versions bounded by the output limit (print, printf,
// println, html, js, urlquery), and the step function.
func (s *renderState) boundedFuncs() template.FuncMap {
	return template.FuncMap{
		stepFunc: s.step,
		"print":  func(args ...any) (string, error) { return s.checkLen("print", fmt.Sprint(args...)) },
		"println": func(args ...any) (string, error) {
			return s.checkLen("println", fmt.Sprintln(args...))
		},
		"printf": func(format string, args ...any) (string, error) {
			if err := checkFormat(format); err != nil {
				return "", s.fail("printf %q: %v", format, err)
			}
			return s.checkLen("printf", fmt.Sprintf(format, args...))
		},
		"html": func(args ...any) (string, error) {
			return s.checkLen("html", template.HTMLEscaper(args...))
		},
		"js": func(args ...any) (string, error) {
			return s.checkLen("js", template.JSEscaper(args...))
		},
		"urlquery": func(args ...any) (string, error) {
			return s.checkLen("urlquery", template.URLQueryEscaper(args...))
		},
	}
}

// checkFormat refuses a printf format whose width or precision could make
// one verb's output huge before any limit sees it ("%0999999999d"), and
// widths or precisions taken from the arguments ("%*d").
func checkFormat(format string) error {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		// Flags, argument indexes, width and precision, up to the verb.
		for i++; i < len(format); i++ {
			c := format[i]
			if c == '*' {
				return errors.New("a width or precision from the arguments (*) is not allowed")
			}
			if c >= '0' && c <= '9' {
				n := 0
				for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
					n = min(n*10+int(format[i]-'0'), maxFormatWidth+1)
				}
				if n > maxFormatWidth {
					return fmt.Errorf("a width or precision over %d", maxFormatWidth)
				}
				i--
				continue
			}
			if !strings.ContainsRune(".+-# []", rune(c)) {
				break // the verb, or the second % of %%
			}
		}
	}
	return nil
}

// newBoundedTemplate parses text as the template name with funcs, and
// makes its execution bounded.
func newBoundedTemplate(name, text string, funcs template.FuncMap) (*boundedTemplate, error) {
	st := &renderState{limit: MaxRenderedBytes, maxSteps: MaxRenderSteps, timeout: MaxRenderTime}
	t, err := template.New(name).Funcs(funcs).Funcs(st.boundedFuncs()).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil && tt.Tree.Root != nil {
			addSteps(tt.Tree.Root, true)
		}
	}
	return &boundedTemplate{t: t, st: st}, nil
}

// addSteps puts a call of the step function at the start of every range
// body in the list l and, when top is set, at the start of l itself (a
// template's body: every template call then counts as a step).
func addSteps(l *parse.ListNode, top bool) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.RangeNode:
			addSteps(n.List, true)
			addSteps(n.ElseList, false)
		case *parse.IfNode:
			addSteps(n.List, false)
			addSteps(n.ElseList, false)
		case *parse.WithNode:
			addSteps(n.List, false)
			addSteps(n.ElseList, false)
		case *parse.ListNode:
			addSteps(n, false)
		}
	}
	if top {
		l.Nodes = append([]parse.Node{stepAction(l.Pos)}, l.Nodes...)
	}
}

// stepAction is the action {{renderStep}} at pos (it prints nothing).
func stepAction(pos parse.Pos) *parse.ActionNode {
	return &parse.ActionNode{NodeType: parse.NodeAction, Pos: pos, Pipe: &parse.PipeNode{
		NodeType: parse.NodePipe, Pos: pos, Cmds: []*parse.CommandNode{{
			NodeType: parse.NodeCommand, Pos: pos,
			Args: []parse.Node{&parse.IdentifierNode{NodeType: parse.NodeIdentifier, Pos: pos, Ident: stepFunc}},
		}},
	}}
}

// limitedWriter collects a rendering and fails past the output limit or
// the deadline.
type limitedWriter struct {
	sb strings.Builder
	st *renderState
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if w.sb.Len()+len(p) > w.st.limit {
		return 0, w.st.fail("renders more than %d bytes", w.st.limit)
	}
	if time.Now().After(w.st.deadline) {
		return 0, w.st.fail("rendering took longer than %s", w.st.timeout)
	}
	return w.sb.Write(p)
}

// render executes the template on rec within the bounds.
func (b *boundedTemplate) render(rec Record) (string, error) {
	st := b.st
	st.steps, st.err = 0, nil
	st.deadline = time.Now().Add(st.timeout)
	w := &limitedWriter{st: st}
	if err := b.t.Execute(w, rec); err != nil {
		if st.err != nil {
			return "", st.err
		}
		return "", err
	}
	return w.sb.String(), nil
}
