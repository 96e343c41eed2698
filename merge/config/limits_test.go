package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mergetune/mergetune/merge/config/yamllimit"
	"gopkg.in/yaml.v3"
)

// aliasBomb returns a merge config of under a kilobyte whose value at key
// (merge_method, modules, models or a parameter) is a "billion laughs"
// list: level i is nine aliases to level i-1, so level depth stands for
// 9^(depth+1) scalars.
func aliasBomb(depth int, key string) string {
	var b strings.Builder
	b.WriteString("name: &a0 [x, x, x, x, x, x, x, x, x]\n")
	b.WriteString("chat_template: null\n")
	// the levels live in a comment-free list under a key the parser walks last
	levels := []string{}
	for i := 1; i <= depth; i++ {
		p := fmt.Sprintf("*a%d", i-1)
		levels = append(levels, fmt.Sprintf("&a%d [%s, %s, %s, %s, %s, %s, %s, %s, %s]", i, p, p, p, p, p, p, p, p, p))
	}
	top := fmt.Sprintf("*a%d", depth)
	switch key {
	case "parameters":
		fmt.Fprintf(&b, "parameters: {levels: [%s], weight: %s}\nmerge_method: linear\nmodels: [{model: a}]\n", strings.Join(levels, ", "), top)
	default:
		fmt.Fprintf(&b, "tokenizer_source: [%s]\n%s: %s\n", strings.Join(levels, ", "), key, top)
	}
	return b.String()
}

// TestAliasBombRefused: a YAML alias bomb used to stall Parse for minutes
// (describe expanded the whole node before truncating it: depth 7 took
// 20 s, depth 9 more than 10 minutes). It is now refused at once, with
// an error naming the file.
func TestAliasBombRefused(t *testing.T) {
	for _, depth := range []int{7, 9} {
		for _, key := range []string{"merge_method", "modules", "models", "slices", "parameters"} {
			t.Run(fmt.Sprintf("depth %d at %s", depth, key), func(t *testing.T) {
				src := aliasBomb(depth, key)
				if len(src) > 1024 {
					t.Fatalf("bomb of %d bytes", len(src))
				}
				done := make(chan error, 1)
				go func() {
					_, err := Parse([]byte(src), "bomb.yml")
					done <- err
				}()
				select {
				case err := <-done:
					var cerr *Error
					if !errors.As(err, &cerr) || cerr.File != "bomb.yml" || !strings.HasPrefix(err.Error(), "bomb.yml") {
						t.Fatalf("error %v does not name the file", err)
					}
					if !errors.Is(err, yamllimit.ErrExcessiveAliasing) {
						t.Errorf("error %v, want excessive aliasing", err)
					}
				case <-time.After(time.Minute):
					// Only a hang (the old expansion took minutes)
					// reaches this; the cost of the alias check is
					// counted, not timed, in yamllimit's tests.
					t.Fatal("Parse still running after a minute")
				}
			})
		}
	}
}

// TestDescribeBounded: describe renders a bounded prefix of a node without
// visiting the rest, so even a node that aliases expand to 9^21 scalars
// (which Parse refuses before describing anything) renders at once.
func TestDescribeBounded(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(aliasBomb(20, "modules")), &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	bomb := root.Content[len(root.Content)-1]
	done := make(chan string, 1)
	go func() { done <- describe(bomb) }()
	select {
	case got := <-done:
		want := `[[[[[[[[[[[[[[[[[[[[["x", "x", "x", "x", "x", "x", "x", "x", "x"], ["x", "x", "x", "x", "x", "x", "x", "x", "x"], ["x", …`
		if got != want {
			t.Errorf("describe =\n%s\nwant\n%s", got, want)
		}
	case <-time.After(time.Minute):
		// Only a hang (a walk of 9^21 nodes) reaches this; a generous
		// limit, since a busy machine slows every call.
		t.Fatal("describe still running after a minute")
	}
	// a long node written out: the same prefix rule
	src := "merge_method: linear\nmodules: [" + strings.Repeat("[1, 2, 3, 4], ", 100_000) + "0]\n"
	_, err := Parse([]byte(src), "big.yml")
	want := "big.yml:2: modules: multi-module configs are not supported yet (got modules [[1, 2, 3, 4], [1, 2, 3, 4], "
	if err == nil || !strings.HasPrefix(err.Error(), want) || len(err.Error()) > 300 {
		t.Errorf("err = %v", err)
	}
}

// TestNonFiniteRefused: .nan, .inf and -.inf were accepted as parameter
// values (lambda: .nan made every tensor NaN, exit 0). Every number of a
// merge config must be finite; the error names the file, line, key path
// and value.
func TestNonFiniteRefused(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"global lambda", "merge_method: ties\nmodels: [{model: a}]\nparameters:\n  lambda: .nan\n", "m.yml:4: parameters.lambda: .nan is not a finite number"},
		{"model weight", "merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: .NaN}\n", "m.yml:4: models[0].parameters.weight: .NaN is not a finite number"},
		{"gradient entry", "merge_method: slerp\nbase_model: a\nmodels: [{model: a}, {model: b}]\nparameters: {t: [0, .inf]}\n", "m.yml:4: parameters.t[1]: .inf is not a finite number"},
		{"conditional value", "merge_method: linear\nmodels: [{model: a, parameters: {weight: [{filter: mlp, value: -.Inf}, {value: 1}]}}]\n", "m.yml:2: models[0].parameters.weight[0].value: -.Inf is not a finite number"},
		{"passthrough scale", "merge_method: passthrough\nslices: [{sources: [{model: a, layer_range: [0, 1], parameters: {scale: .nan}}]}]\n", "m.yml:2: slices[0].sources[0].parameters.scale: .nan is not a finite number"},
		{"residual_weight", "merge_method: a\nslices: [{sources: [{model: a, layer_range: [0, 1]}], residual_weight: .nan}]\n", "m.yml:2: slices[0].residual_weight: .nan is not a finite number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "m.yml")
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n got: %v\nwant: %s…", err, tt.want)
			}
		})
	}
}

// TestLeaves: every value written in a setting, with its key path, as
// the parser names it in errors.
func TestLeaves(t *testing.T) {
	src := `merge_method: ties
models:
  - model: a
    parameters:
      weight: 0.5
      density: [1, 0.7, 0.1]
      gamma: {filter: mlp, value: [0.2, 0.3]}
      epsilon: [{filter: attn, value: 0.1}, {value: [0.05, 0.02]}]
      lambda: [mlp, 2]
`
	c := mustParse(t, src)
	var got []string
	for _, r := range c.ParamRefs() {
		for _, l := range r.Setting.Leaves() {
			got = append(got, r.Path+l.Suffix+"="+l.Value.String())
		}
	}
	want := []string{
		"models[0].parameters.density[0]=1", "models[0].parameters.density[1]=0.7", "models[0].parameters.density[2]=0.1",
		"models[0].parameters.epsilon[0].value=0.1", "models[0].parameters.epsilon[1].value[0]=0.05", "models[0].parameters.epsilon[1].value[1]=0.02",
		"models[0].parameters.gamma.value[0]=0.2", "models[0].parameters.gamma.value[1]=0.3",
		`models[0].parameters.lambda[0]="mlp"`, "models[0].parameters.lambda[1]=2",
		"models[0].parameters.weight=0.5",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("leaves =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if l := (Setting{}).Leaves(); l != nil {
		t.Errorf("unset leaves = %v", l)
	}
}
