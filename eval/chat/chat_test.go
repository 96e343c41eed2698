package chat

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/eval"
)

// TestFromModelDir renders real Hugging Face chat templates from
// tokenizer_config.json files (Qwen2's ChatML template; Llama 2's, as a
// list of named templates with special tokens as objects).
func TestFromModelDir(t *testing.T) {
	sys := eval.Message{Role: "system", Content: "Be brief."}
	user := eval.Message{Role: "user", Content: " rev abc= "}
	for _, tc := range []struct {
		dir  string
		msgs []eval.Message
		want string
	}{
		{"chatml", []eval.Message{user}, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n rev abc= <|im_end|>\n<|im_start|>assistant\n"},
		{"chatml", []eval.Message{sys, user}, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n rev abc= <|im_end|>\n<|im_start|>assistant\n"},
		{"llama2", []eval.Message{user}, "<s>[INST] rev abc= [/INST]"},
		{"llama2", []eval.Message{sys, user}, "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n rev abc= [/INST]"},
	} {
		tpl, err := FromModelDir(filepath.Join("testdata", tc.dir))
		if err != nil {
			t.Fatal(err)
		}
		got, err := tpl.Render(tc.msgs)
		if err != nil {
			t.Fatalf("%s: %v", tc.dir, err)
		}
		if got != tc.want {
			t.Errorf("%s %v:\n got %q\nwant %q", tc.dir, tc.msgs, got, tc.want)
		}
	}
}

func TestTemplateErrors(t *testing.T) {
	_, err := FromModelDir(filepath.Join("testdata", "none"))
	if !errors.Is(err, ErrNoTemplate) || !strings.Contains(err.Error(), "tokenizer_config.json") {
		t.Errorf("no chat_template: %v", err)
	}
	_, err = FromModelDir(filepath.Join("testdata", "paren"))
	if err == nil || !strings.Contains(err.Error(), filepath.Join("paren", "tokenizer_config.json")) {
		t.Errorf("unparsable template: %v, want an error naming the file", err)
	}
	// The Llama 2 template refuses roles that do not alternate.
	tpl, err := FromModelDir(filepath.Join("testdata", "llama2"))
	if err != nil {
		t.Fatal(err)
	}
	u := eval.Message{Role: "user", Content: "x"}
	if _, err := tpl.Render([]eval.Message{u, u}); err == nil || !strings.Contains(err.Error(), "must alternate") {
		t.Errorf("raise_exception: %v", err)
	}
}

// TestRenderBounds: loops, output and time are bounded; range still
// works within its budget.
func TestRenderBounds(t *testing.T) {
	u := []eval.Message{{Role: "user", Content: "x"}}
	for src, want := range map[string]string{
		"{% for i in range(3) %}{{ i }}{% endfor %}|{% for i in range(1, 7, 2) %}{{ i }}{% endfor %}": "012|135",
		"{% for i in range(1000000000) %}{% endfor %}":                                                "more than 100000 numbers",
		"{% for i in range(60000) %}{% for j in range(60000) %}{% endfor %}{% endfor %}":              "more than 100000 numbers",
		"{% for i in range(99999) %}{{ 'abcdefghijklmnopqrstuvwxyz' }}{% endfor %}":                   "exceeds 1048576 bytes",
	} {
		tpl, err := Parse("bounds", src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tpl.Render(u)
		text := got
		if err != nil {
			text = err.Error()
		}
		if (err == nil) != (want == "012|135") || !strings.Contains(text, want) {
			t.Errorf("%.50s: %.80q, %v; want %q", src, got, err, want)
		}
	}
}

// TestInvalidUTF8Template: a template that is not UTF-8 (a
// tokenizer_config.json's never is) is refused naming the byte; gonja
// skips the bad bytes, so "f\xf7(n)" called f and escaped the recursion
// check (FuzzTemplate found it).
func TestInvalidUTF8Template(t *testing.T) {
	_, err := Parse("bad.json", "{% macro f(n) %}{{ f\xf7\xf7(n) }}{% endmacro %}{{ f(1) }}")
	if err == nil || err.Error() != "chat template bad.json: not valid UTF-8 (byte 20)" {
		t.Errorf("err = %v", err)
	}
}

// TestRecursiveMacro: a template whose macros may recurse is refused (the
// renderer would overflow the stack); a non-recursive macro renders.
func TestRecursiveMacro(t *testing.T) {
	for src, bad := range map[string]bool{
		"{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}":                                                  true,
		"{%- macro a(x) -%}{{ b(x) }}{%- endmacro -%}{%- macro b(x) -%}{{ a (x) }}{%- endmacro -%}{{ a(1) }}": true,
		"{% macro g(x) %}<{{ x }}>{% endmacro %}{% macro f(x) %}{{ g(x) }}{% endmacro %}{{ f('y') }}":         false,
		// more than ASCII space between the name and "(" (found by
		// FuzzTemplate: the check missed it and the Go stack overflowed)
		"{% macro f(n) %}{{ f\u00a0(n) }}{% endmacro %}{{ f(1) }}":   true,
		"{% macro f(n) %}{{ f\u2003\t(n) }}{% endmacro %}{{ f(1) }}": true,
		// through an alias, or a macro passed to itself as an argument
		"{% macro f(n) %}{% set g = f %}{{ g(n) }}{% endmacro %}{{ f(1) }}": true,
		"{% macro f(h) %}{{ h(h) }}{% endmacro %}{{ f(f) }}":                true,
	} {
		tpl, err := Parse("macros", src)
		if bad {
			if err == nil || !strings.Contains(err.Error(), "calls itself") {
				t.Errorf("%s: %v, want refused", src, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got, err := tpl.Render(nil); err != nil || got != "<y>" {
			t.Errorf("%s: %q, %v", src, got, err)
		}
	}
}

// TestSandbox: every way a template could recurse without end, grow a
// value past memory or loop for hours gives an error (each of these
// crashed or hung the process before the sandbox: a stack overflow or an
// out-of-memory error ends a Go program, whatever recovers).
func TestSandbox(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "recursive for loop"},
		{"{% block a %}{{ self.a() }}{% endblock %}", "block"},
		{"{% include 'chat.go' %}", "include"},
		{"{% import 'chat.go' as x %}", "import"},
		{"{% set ns = namespace(a=1) %}{% set ns.a = ns %}{{ ns }}", "contains itself"},
		{"{% set ns = namespace() %}{% set ns.a = [ns] %}{{ ns|tojson }}", "contains itself"},
		{"{{ 'a' * 3000000000 }}", "past 8388608 bytes"},
		{"{{ ('ab' * 1000) * 1000000 }}", "past 8388608 bytes"},
		{"{{ 'a' | center(3000000000) }}", "past the bound"},
		{"{{ 'a'.center(3000000000) }}", "past the bound"},
		{"{% set s = 'a' * 4000 %}{{ s.replace('a', s) }}", "could make a value past"},
		{"{% set s = 'a' * 4000 %}{{ s | replace('a', s) }}", "could make a value past"},
		{"{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "hold more than"},
		{"{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", "hold more than"},
		{"{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l }}", "nested more than 200"},
		{"{% set l = range(300)|list %}{% for a in l %}{% for b in l %}{% for c in l %}{% endfor %}{% endfor %}{% endfor %}", "more than 100000 loop iterations"},
		{"{{ " + strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300) + " }}", "nested deeper than 200"},
		{strings.Repeat("{% if true %}", 250) + strings.Repeat("{% endif %}", 250), "nested deeper than 200"},
		{strings.Repeat("{%- if true -%}", 250) + strings.Repeat("{%+ endif %}", 250), "nested deeper than 200"},
		{strings.Repeat("{% set x %}", 250) + strings.Repeat("{% endset %}", 250), "nested deeper than 200"},
		{strings.Repeat("{% endif %}", 300) + "{{ " + strings.Repeat("[", 300) + strings.Repeat("]", 300) + " }}", "nested deeper than 200"},
		{"{{ " + strings.Repeat("1 ~ ", 100000) + "1 }}", "more than the 262144 a chat template may have"},
		{"{% macro\x10 f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "macro calls nested more than 100 deep"},
		{"{% macro f() %}x{% endmacro %}{% set l = range(1000)|list %}{% for a in l %}{% for b in l %}{% if f() %}{% endif %}{% endfor %}{% endfor %}", "more than 100000 loop"},
	} {
		var got string
		tpl, err := Parse("hostile", tc.src)
		if err == nil {
			got, err = tpl.Render(nil)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %.60q, %v; want an error with %q", tc.src, got, err, tc.want)
		}
	}
}

// TestSandboxKeepsJinja: what the sandbox rewrites or wraps still gives
// Jinja's results (products, filters, methods, loops, macros, call).
func TestSandboxKeepsJinja(t *testing.T) {
	nest := "{% macro n1(x) %}<{{ x }}>{% endmacro %}"
	for i := 2; i <= 90; i++ {
		nest += fmt.Sprintf("{%% macro n%d(x) %%}{{ n%d(x) }}{%% endmacro %%}", i, i-1)
	}
	src := nest + "{{ n90('d') }}|" + strings.Repeat("{% if true %}(", 150) + "{{ " + strings.Repeat("[", 50) + strings.Repeat("]", 50) + " }}" + strings.Repeat("{% endif %}", 150) + "|" +
		"{{ '-' * 3 }}|{{ 2 * 3 }}|{{ 1.5 * 2 }}|{{ 'a' * -1 }}|{{ 2 * 3 * 4 }}|" +
		"{{ 'ab' | upper | center(6) }}|{{ 'a,b'.split(',') | join('+') }}|" +
		"{% set l = [1] %}{% do l.append(2) %}{{ l | length }}|" +
		"{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}|" +
		"{% macro g(x) %}<{{ x }}>{% endmacro %}{{ g('y') }}|" +
		"{% macro w() %}[{{ caller() }}]{% endmacro %}{% call w() %}z{% endcall %}|" +
		"{% for i in range(3) %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% endfor %}"
	tpl, err := Parse("jinja", src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render([]eval.Message{{Role: "user", Content: "a"}, {Role: "assistant", Content: "b"}})
	want := "<d>|" + strings.Repeat("(", 150) + "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]|" + "---|6|3.0||24|  AB  |a+b|2|2|<y>|[z]|02"
	if err != nil || got != want {
		t.Errorf("got %q, %v\nwant %q", got, err, want)
	}
}
