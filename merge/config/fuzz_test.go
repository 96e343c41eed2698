package config

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds the merge config parser arbitrary documents. It must
// never panic or hang; an error is always an *Error naming the file; a
// parsed config holds only finite numbers and can be walked (parameter
// references, settings, normalisation) without a panic.
//
// Seeds: the example configs of examples/pico, the parser's test configs,
// and alias bombs. Run with
//
//	go test ./merge/config -run '^$' -fuzz '^FuzzParse$' -fuzztime 20s
func FuzzParse(f *testing.F) {
	var seeds []string
	for _, pattern := range []string{"../../examples/pico/*.yml", "testdata/*.yml", "testdata/bad/*.yml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, files...)
	}
	if len(seeds) < 5 {
		f.Fatalf("only %d seed files", len(seeds))
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, key := range []string{"merge_method", "modules", "parameters"} {
		f.Add([]byte(aliasBomb(3, key)))
		f.Add([]byte(aliasBomb(9, key)))
	}
	f.Add([]byte("merge_method: linear\nmodels: [{model: a, parameters: {weight: [{filter: mlp, value: [1, .nan]}, {value: 1}]}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yml")
		if err != nil {
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.File != "fuzz.yml" || !strings.HasPrefix(err.Error(), "fuzz.yml") {
				t.Fatalf("error %q is not an *Error naming the file", err)
			}
			return
		}
		if c.MergeMethod == "" || (c.Models == nil) == (c.Slices == nil) {
			t.Fatalf("parsed config without a method or with both or neither forms: %+v", c)
		}
		for _, r := range c.ParamRefs() {
			for _, l := range r.Setting.Leaves() {
				if !l.Value.IsStr && (math.IsNaN(l.Value.Num) || math.IsInf(l.Value.Num, 0)) {
					t.Fatalf("%s%s = %v accepted", r.Path, l.Suffix, l.Value.Num)
				}
			}
			_ = r.Setting.String()
			for _, x := range []float64{0, 0.5, 1} {
				if v, ok := r.Setting.Eval("model.layers.0.mlp.up_proj.weight", x); ok && !v.IsStr && math.IsNaN(v.Num) {
					t.Fatalf("%s evaluates to NaN at %v", r.Path, x)
				}
			}
		}
		slices, err := c.Normalize(func(string) (int, error) { return 4, nil })
		if err != nil {
			return
		}
		for i := range slices {
			for j := range slices[i].Sources {
				c.Lookup(slices, i, j, "weight", "model.layers.1.mlp.up_proj.weight", 0.5)
			}
			_ = c.BaseFor(slices, i)
		}
		_ = c.ModelRefs()
	})
}
