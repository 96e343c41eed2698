package datasets

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mergetune/mergetune/merge/config/yamllimit"
)

// TestTemplateBounds checks that templates that would render without end,
// or build huge strings, fail fast with an error that names the task file,
// the field, the record and the bound, instead of exhausting memory or
// running for hours (issue 10, point 11).
func TestTemplateBounds(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "d.jsonl"), []byte(`{"q": "x", "a": "y"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, field, tmpl, want string
	}{
		{"huge range", "prompt", `{{range 100000000000}}xxxxxxxxxxxxxxxx{{end}}`, "renders more than 1048576 bytes"},
		{"empty huge range", "prompt", `{{range 100000000000}}{{end}}`, "more than 100000 loop iterations and template calls"},
		{"nested ranges", "prompt", `{{range 100000}}{{range 100000}}{{end}}{{end}}`, "more than 100000 loop iterations"},
		{"range in if", "prompt", `{{if .q}}{{range 100000000000}}{{end}}{{end}}`, "more than 100000 loop iterations"},
		{"doubling print", "prompt", `{{$s := "xy"}}{{range 64}}{{$s = print $s $s}}{{end}}{{$s}}`, "print returned 2097152 bytes, more than 1048576"},
		{"doubling printf", "prompt", `{{$s := "xy"}}{{range 64}}{{$s = printf "%s%s" $s $s}}{{end}}`, "printf returned"},
		{"growing js", "prompt", `{{$s := "<>"}}{{range 40}}{{$s = js $s}}{{end}}`, "js returned"},
		{"growing html", "prompt", `{{$s := "<>"}}{{range 40}}{{$s = html $s $s}}{{end}}`, "html returned"},
		{"printf width", "prompt", `{{printf "%0999999999d" 1}}`, `printf "%0999999999d": a width or precision over 10000`},
		{"printf precision", "prompt", `{{printf "%.2000000000f" 1.0}}`, "a width or precision over 10000"},
		{"printf star", "prompt", `{{printf "%*d" 999999999 1}}`, "a width or precision from the arguments (*) is not allowed"},
		{"recursion", "prompt", `{{define "r"}}{{template "r" .}}{{template "r" .}}{{end}}{{template "r" .}}`, "loop iterations and template calls"},
		{"target", "target", `{{range 100000000000}}xxxxxxxxxxxxxxxx{{end}}`, "renders more than 1048576 bytes"},
		{"choices", "choices", `["{{.a}}", "{{range 100000000000}}xxxxxxxxxxxxxxxx{{end}}"]`, "renders more than 1048576 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fields := map[string]string{"prompt": `"{{.q}}"`, "target": `"{{.a}}"`, "choices": `["{{.a}}", "z"]`}
			if tc.field == "choices" {
				fields["choices"] = tc.tmpl
			} else {
				fields[tc.field] = "'" + tc.tmpl + "'"
			}
			yml := "name: t\ndata: d.jsonl\nprompt: " + fields["prompt"] + "\ntarget: " + fields["target"] + "\nchoices: " + fields["choices"] + "\n"
			line := map[string]string{"prompt": "3", "target": "4", "choices": "5"}[tc.field]
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yml")
			if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			prefix := path + ":" + line + ": " + tc.field + ": record d.jsonl:1: "
			if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\nwant %s…%s…", err, prefix, tc.want)
			}
		})
	}
}

// TestTemplateDeadline checks the time bound with a short deadline: a loop
// that stays under the step limit but takes too long is stopped.
func TestTemplateDeadline(t *testing.T) {
	bt, err := newBoundedTemplate("prompt", `{{range 100000000}}{{end}}`, funcs())
	if err != nil {
		t.Fatal(err)
	}
	bt.st.maxSteps = 1 << 40
	bt.st.timeout = 20 * time.Millisecond
	// Unbounded, the loop would end without error; the error kind alone
	// shows that the deadline stopped it (no timing: a busy machine
	// makes any elapsed-time threshold fail at random).
	_, err = bt.render(Record{})
	if !errors.Is(err, errRenderLimit) || !strings.Contains(err.Error(), "rendering took longer than 20ms") {
		t.Errorf("error %v", err)
	}
	// The budget is per rendering: the next one starts afresh.
	bt2, _ := newBoundedTemplate("prompt", `{{range 3}}{{.}}{{end}}`, funcs())
	for range 3 {
		if got, err := bt2.render(Record{}); err != nil || got != "012" {
			t.Fatalf("render = %q, %v", got, err)
		}
	}
}

// TestTemplateBoundedFuncs checks that the bounded replacements of print,
// printf, println, html, js and urlquery behave as the originals on
// ordinary input.
func TestTemplateBoundedFuncs(t *testing.T) {
	tests := []struct{ tmpl, want string }{
		{`{{print "a" 1 "b"}}`, "a1b"},
		{`{{println "a" "b"}}`, "a b\n"},
		{`{{printf "%05.2f|%-4s|%%|%[2]d|%x" 3.14159 7 "hi"}}`, "03.14|%!s(int=7   )|%|7|6869"},
		{`{{printf "%3d. %s" 1 .q}}`, "  1. x"},
		{`{{html "<a>"}} {{js "'"}} {{urlquery "a b"}}`, "&lt;a&gt; \\' a+b"},
	}
	for _, tc := range tests {
		bt, err := newBoundedTemplate("prompt", tc.tmpl, funcs())
		if err != nil {
			t.Fatal(err)
		}
		if got, err := bt.render(Record{"q": "x"}); err != nil || got != tc.want {
			t.Errorf("%s = %q, %v; want %q", tc.tmpl, got, err, tc.want)
		}
	}
}

// TestAliasBomb checks that a task file whose aliases would expand to
// billions of nodes is refused at once, by the alias bound every YAML
// reader applies (yamllimit), before any field is read.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	// The refusal is yamllimit's error (whose cost, linear in the nodes
	// written, yamllimit's tests count): no field was read, so nothing
	// was expanded. No timing: a busy machine makes any elapsed-time
	// threshold fail at random; an expanding reader would not return.
	for _, tail := range []string{
		"name: t\ndata: d.jsonl\nprompt: x\nstop: *a9\n",
		"tasks: *a9\n",
	} {
		path := filepath.Join(t.TempDir(), "bomb.yml")
		if err := os.WriteFile(path, []byte(b.String()+tail), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadAll(path)
		if !errors.Is(err, yamllimit.ErrExcessiveAliasing) || !strings.HasPrefix(err.Error(), path+": ") {
			t.Errorf("error %v, want %s: excessive aliasing", err, path)
		}
	}
	path := filepath.Join(t.TempDir(), "alias.yml")
	os.WriteFile(path, []byte("tasks:\n  - &t {name: t, data: d.jsonl, prompt: x, stop: *t}\n"), 0o644)
	if _, err := LoadAll(path); !errors.Is(err, yamllimit.ErrExcessiveAliasing) {
		t.Errorf("self-referencing alias: %v, want excessive aliasing", err)
	}
}
