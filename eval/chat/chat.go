// Package chat renders a conversation into a prompt with a Hugging Face
// chat template: the Jinja template in a model's tokenizer_config.json
// (chat_template), rendered by github.com/nikolalohinski/gonja/v2. It
// renders the common templates (ChatML, Llama 2 and 3, Mistral, Gemma:
// namespace(), loop filters, .strip(), | trim, raise_exception); gonja
// cannot parse a parenthesised inline if-expression ("(a if c else b)"),
// and such a template is refused with an error naming its file. A
// template runs in a sandbox (sandbox.go): no files, no recursion, and
// bounded steps, values and output, so that a broken or hostile template
// gives an error, never a crash or a hang.
package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"

	"github.com/mergetune/mergetune/eval"
)

// ErrNoTemplate is wrapped by FromModelDir's error for a model whose
// tokenizer_config.json holds no chat_template.
var ErrNoTemplate = errors.New("no chat_template")

// Template is a parsed chat template with the special tokens it may use.
type Template struct {
	name  string // where it came from, for messages
	tpl   *exec.Template
	names []string // every name the template uses, for the sandbox's state checks
	// BOS and EOS are the bos_token and eos_token the template sees.
	BOS, EOS string
}

// Parse parses a chat template's Jinja source; name says where it came
// from (a file) in errors.
func Parse(name, src string) (*Template, error) {
	if !utf8.ValidString(src) {
		i := 0
		for i < len(src) {
			r, n := utf8.DecodeRuneInString(src[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return nil, fmt.Errorf("chat template %s: not valid UTF-8 (byte %d)", name, i)
	}
	names, err := scanSource(src)
	if err != nil {
		return nil, fmt.Errorf("chat template %s: %w", name, err)
	}
	if m := recursiveMacro(src); m != "" {
		return nil, fmt.Errorf("chat template %s: macro %s calls itself (directly or through other macros), which the Go renderer cannot bound", name, m)
	}
	tpl, err := parse(src)
	if err != nil {
		return nil, fmt.Errorf("chat template %s: %w", name, err)
	}
	return &Template{name: name, tpl: tpl, names: names}, nil
}

// templateID is the name a template has in its own loader, which holds
// nothing else: a template cannot read files.
const templateID = "/chat_template"

// parse parses src in the sandbox (sandbox.go), turning a panic of the
// parser into an error.
func parse(src string) (tpl *exec.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			tpl, err = nil, fmt.Errorf("the parser failed: %v", r)
		}
	}()
	env, err := environment()
	if err != nil {
		return nil, err
	}
	loader, err := loaders.NewMemoryLoader(map[string]string{templateID: src})
	if err != nil {
		return nil, err
	}
	tpl, err = exec.NewTemplate(templateID, config.New(), loader, env)
	if err != nil {
		return nil, err
	}
	boundProducts(tpl.Root())
	return tpl, nil
}

// Bounds of a rendering: a chat template comes with the model, outside
// data, and gonja bounds neither loops nor output.
const (
	// MaxRendered bounds the rendered prompt in bytes.
	MaxRendered = 1 << 20
	// MaxRangeItems bounds the numbers all range() calls of one
	// rendering yield together.
	MaxRangeItems = 100000
	// MaxRenderTime is a last resort against renderer paths the bounds
	// above do not cover; it is far above what a bounded rendering takes
	// even on a loaded machine, so a template's result does not depend on
	// the machine's load.
	MaxRenderTime = 20 * time.Second
)

// boundedRange is Jinja's range([start, ]stop[, step]) with a budget of
// numbers shared by one rendering's calls.
func boundedRange(budget *int) func(*exec.Evaluator, *exec.VarArgs) ([]int, error) {
	return func(_ *exec.Evaluator, params *exec.VarArgs) ([]int, error) {
		start, stop, step := 0, 0, 1
		ints := true
		for _, a := range params.Args {
			ints = ints && a.IsInteger()
		}
		switch n := len(params.Args); {
		case ints && n == 1:
			stop = params.Args[0].Integer()
		case ints && n == 2:
			start, stop = params.Args[0].Integer(), params.Args[1].Integer()
		case ints && n == 3:
			start, stop, step = params.Args[0].Integer(), params.Args[1].Integer(), params.Args[2].Integer()
		default:
			return nil, errors.New("range: want [start, ]stop[, step], all integers")
		}
		if step == 0 {
			return nil, errors.New("range: step 0")
		}
		var out []int
		for i := start; step > 0 && i < stop || step < 0 && i > stop; i += step {
			if *budget--; *budget < 0 {
				return nil, fmt.Errorf("range: more than %d numbers in one rendering", MaxRangeItems)
			}
			out = append(out, i)
		}
		return out, nil
	}
}

// macroDef matches a macro's definition and body.
var macroDef = regexp.MustCompile(`(?s)\{%[-+]?\s*macro\s+([A-Za-z_][A-Za-z0-9_]*)\s*\((.*?)\{%[-+]?\s*endmacro`)

// callFollows matches what follows a name that is called: anything but a
// name's characters, then "(" (gonja skips more than ASCII space between
// them).
var callFollows = regexp.MustCompile(`^[^\p{L}\p{N}_(]*\(`)

// recursiveMacro returns the name of a macro of src that may call itself,
// directly or through other macros ("" when none does): gonja has no
// recursion bound, and unbounded recursion overflows the Go stack, which
// no recover catches. (Hugging Face's recursive helper macros, such as
// json_to_python_type in tool-use templates, are refused with it.) The
// check is conservative: a macro body that names a macro at all (a call,
// or an alias such as "set g = f") is an edge of the call graph, and a
// macro named anywhere other than just before a call (passed as an
// argument, "f(f)") is refused too, since it may then call itself through
// a parameter.
func recursiveMacro(src string) string {
	calls := map[string][]string{}
	var names []string
	for _, m := range macroDef.FindAllStringSubmatch(src, -1) {
		names = append(names, m[1])
		calls[m[1]] = append(calls[m[1]], m[2])
	}
	edges := map[string][]string{}
	for _, n := range names {
		word := regexp.MustCompile(`\b` + n + `\b`)
		for _, loc := range word.FindAllStringIndex(src, -1) {
			if !callFollows.MatchString(src[loc[1]:]) {
				return n
			}
		}
		for _, o := range names {
			for _, body := range calls[o] {
				if word.MatchString(body) {
					edges[o] = append(edges[o], n)
				}
			}
		}
	}
	state := map[string]int{} // 1 on the path, 2 done
	var visit func(string) bool
	visit = func(n string) bool {
		switch state[n] {
		case 1:
			return true
		case 2:
			return false
		}
		state[n] = 1
		for _, o := range edges[n] {
			if visit(o) {
				return true
			}
		}
		state[n] = 2
		return false
	}
	for _, n := range names {
		if visit(n) {
			return n
		}
	}
	return ""
}

// Render returns the prompt of msgs, ending with the assistant turn's
// opening (add_generation_prompt) so that the model's answer follows. It
// fails past MaxRendered bytes, MaxRangeItems numbers from range(),
// the sandbox's MaxSteps, MaxState and MaxDepth, or MaxRenderTime (a
// rendering still running then is stopped at its next step).
func (t *Template) Render(msgs []eval.Message) (string, error) {
	list := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		list[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	budget := MaxRangeItems
	g := &guard{names: t.names}
	ctx := exec.NewContext(map[string]any{
		guardKey:                g,
		"range":                 boundedRange(&budget),
		"messages":              list,
		"add_generation_prompt": true,
		"bos_token":             t.BOS,
		"eos_token":             t.EOS,
		"raise_exception": func(msg string) (string, error) {
			return "", fmt.Errorf("the template raised: %s", msg)
		},
	})
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil { // gonja panics on some input
				done <- result{err: fmt.Errorf("the renderer failed: %v", r)}
			}
		}()
		w := &boundedWriter{max: MaxRendered, stop: &g.stop}
		err := t.tpl.Execute(w, ctx)
		if w.over {
			err = fmt.Errorf("the rendered prompt exceeds %d bytes", MaxRendered)
		}
		done <- result{w.buf.String(), err}
	}()
	timer := time.NewTimer(MaxRenderTime)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			return "", fmt.Errorf("chat template %s: %w", t.name, r.err)
		}
		return r.out, nil
	case <-timer.C:
		g.stop.Store(true) // the rendering ends at its next step or write
		return "", fmt.Errorf("chat template %s: rendering took over %v", t.name, MaxRenderTime)
	}
}

// tokenizerConfig holds the fields of tokenizer_config.json a chat
// template needs. chat_template is a string, or a list of named
// templates ({name, template}) of which "default" is used; a special
// token is a string or an object with its content.
type tokenizerConfig struct {
	ChatTemplate json.RawMessage `json:"chat_template"`
	BOS          json.RawMessage `json:"bos_token"`
	EOS          json.RawMessage `json:"eos_token"`
}

// FromModelDir reads the chat template of the model in dir from its
// tokenizer_config.json; a model without one gives an error wrapping
// ErrNoTemplate.
func FromModelDir(dir string) (*Template, error) {
	path := filepath.Join(dir, "tokenizer_config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	var cfg tokenizerConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("chat template: %s: %w", path, err)
	}
	src, err := templateSource(cfg.ChatTemplate)
	if err != nil {
		return nil, fmt.Errorf("chat template: %s: chat_template: %w", path, err)
	}
	if src == "" {
		return nil, fmt.Errorf("chat template: %s: %w (not an instruct model, or its template ships elsewhere)", path, ErrNoTemplate)
	}
	t, err := Parse(path, src)
	if err != nil {
		return nil, err
	}
	if t.BOS, err = specialToken(cfg.BOS); err != nil {
		return nil, fmt.Errorf("chat template: %s: bos_token: %w", path, err)
	}
	if t.EOS, err = specialToken(cfg.EOS); err != nil {
		return nil, fmt.Errorf("chat template: %s: eos_token: %w", path, err)
	}
	return t, nil
}

// templateSource reads chat_template: a string, or a list of {name,
// template} of which the one named "default" (else the only one).
func templateSource(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var list []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", errors.New("want a string or a list of {name, template}")
	}
	for _, e := range list {
		if e.Name == "default" {
			return e.Template, nil
		}
	}
	if len(list) == 1 {
		return list[0].Template, nil
	}
	return "", fmt.Errorf("%d named templates and none named \"default\"", len(list))
}

// specialToken reads a special token: a string, an object with its
// content, or null.
func specialToken(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var o struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return "", errors.New("want a string or an object with content")
	}
	return o.Content, nil
}

// boundedWriter collects a rendering and fails the write that would take
// it past max bytes, so that the renderer stops there instead of building
// the whole oversized prompt first.
type boundedWriter struct {
	buf  strings.Builder
	max  int
	over bool
	stop *atomic.Bool // set when the rendering timed out
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	if w.stop.Load() {
		return 0, errStopped
	}
	if w.buf.Len()+len(p) > w.max {
		w.over = true
		return 0, fmt.Errorf("the rendered prompt exceeds %d bytes", w.max)
	}
	return w.buf.Write(p)
}
