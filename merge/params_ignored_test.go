package merge

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestParamsOtherMethodsTakeAreIgnored: a parameter the merge method does
// not take but another registered method does (mergekit's own test configs
// give `weight` to slerp, karcher, model_stock, nearswap and sce) is
// ignored with one warning per (method, parameter), as mergekit ignores
// it; a name no method takes is still refused, listing the known ones.
func TestParamsOtherMethodsTakeAreIgnored(t *testing.T) {
	good := ckpt{layers: 2, hidden: 4, vocab: 8, seed: 1, config: true}
	cases := []struct {
		name, cfg string
		warn      []string // each warning expected, once
		err       []string // the error expected instead
	}{
		{"slerp weight", `
merge_method: slerp
base_model: a
models:
  - {model: a, parameters: {weight: 0.6}}
  - {model: b, parameters: {weight: 0.4}}
parameters: {t: 0.35}`, []string{`"weight"`, "slerp"}, nil},
		{"karcher weight", `
merge_method: karcher
models:
  - {model: a, parameters: {weight: 0.6}}
  - {model: b, parameters: {weight: 0.4}}`, []string{`"weight"`, "karcher"}, nil},
		{"model_stock weight", `
merge_method: model_stock
base_model: a
models:
  - {model: b, parameters: {weight: 0.6}}
  - {model: c, parameters: {weight: 0.4}}`, []string{`"weight"`, "model_stock"}, nil},
		{"nearswap weight", `
merge_method: nearswap
base_model: a
models:
  - {model: a, parameters: {weight: 0.6}}
  - {model: b, parameters: {weight: 0.4}}
parameters: {t: 0.0001}`, []string{`"weight"`, "nearswap"}, nil},
		{"sce weight and density", `
merge_method: sce
base_model: a
models:
  - {model: b, parameters: {weight: 0.6, density: 0.5}}
  - {model: c, parameters: {weight: 0.4}}
parameters: {select_topk: 0.5}`, []string{`"weight"`, `"density"`, "sce"}, nil},
		{"slerp global weight in a slice", `
merge_method: slerp
base_model: a
slices:
  - sources:
      - {model: a, layer_range: [0, 2]}
      - {model: b, layer_range: [0, 2], parameters: {weight: 1}}
    parameters: {t: 0.5, weight: 0.3}`, []string{`"weight"`, "slerp"}, nil},
		{"misspelt name", `
merge_method: slerp
base_model: a
models:
  - {model: a, parameters: {wieght: 0.6}}
  - {model: b}
parameters: {t: 0.35}`, nil, []string{"merge.yml", "models[0].parameters.wieght", `unknown parameter "wieght" for merge_method slerp (known: t)`}},
		{"misspelt name among ignored ones", `
merge_method: karcher
models:
  - {model: a, parameters: {weight: 0.6}}
  - {model: b, parameters: {weight: 0.4, densty: 0.5}}`, nil, []string{"models[1].parameters.densty", `unknown parameter "densty" for merge_method karcher (known: max_iter, tol)`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, n := range []string{"a", "b", "c"} {
				m := good
				m.seed = i + 1
				m.write(t, filepath.Join(dir, n))
			}
			var mu sync.Mutex
			var warns []string
			opt := Options{Warn: func(msg string) { mu.Lock(); warns = append(warns, msg); mu.Unlock() }}
			res, _, err := mergeYAML(t, dir, c.cfg, opt)
			if c.err != nil {
				if err == nil {
					t.Fatalf("merge succeeded, want an error containing %q", c.err)
				}
				for _, w := range c.err {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("merge: %v", err)
			}
			for _, name := range c.warn[:len(c.warn)-1] {
				n := 0
				for _, w := range warns {
					if strings.Contains(w, name) && strings.Contains(w, "ignored") {
						n++
						if !strings.Contains(w, c.warn[len(c.warn)-1]) {
							t.Errorf("warning %q does not name the method %s", w, c.warn[len(c.warn)-1])
						}
					}
				}
				if n != 1 {
					t.Errorf("%d warnings about %s being ignored, want 1: %q", n, name, warns)
				}
			}
			if len(res.Warnings) != len(warns) {
				t.Errorf("Result.Warnings %q, Warn got %q", res.Warnings, warns)
			}
		})
	}
}
