package merge

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/merge/methods"
	"github.com/mergetune/mergetune/merge/safetensors"
	"gopkg.in/yaml.v3"
)

// oracleDir is the mergekit parity oracle kept in the repository
// (testdata/oracle: reference inputs and expected outputs computed with
// mergekit; its README.md describes the layout and the one deliberate
// difference).
func oracleDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("testdata", "oracle")
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatalf("the mergekit oracle is missing from the repository: %v", err)
	}
	return dir
}

type oracleCase struct {
	ID     string  `json:"id"`
	Method string  `json:"method"`
	Shape  []int   `json:"shape"`
	Base   *string `json:"base"`
	Models []struct {
		Tensor     string         `json:"tensor"`
		Parameters map[string]any `json:"parameters"`
		Mask       string         `json:"mask"`
	} `json:"models"`
	Parameters map[string]any    `json:"parameters"`
	Inputs     []string          `json:"inputs"`
	Expected   string            `json:"expected"`
	Outputs    map[string]string `json:"outputs"`
	Tolerance  struct {
		RTol float64 `json:"rtol"`
		ATol float64 `json:"atol"`
	} `json:"tolerance"`
	Quirk string `json:"quirk"`
}

// readTensors loads every tensor of a safetensors file as float32.
func readTensors(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	f, err := safetensors.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]float32{}
	for _, x := range f.Tensors() {
		out[x.Name] = x.Float32s()
	}
	return out
}

// writeModel writes a model directory holding one tensor named "w".
func writeModel(t *testing.T, dir string, shape []int, v []float32) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := safetensors.Create(dir, []safetensors.Spec{{Name: "w", DType: safetensors.F32, Shape: shape}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFloat32("w", 0, v); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOracle runs every case of testdata/oracle through the same path as
// `mergetune merge`: model directories without config.json, a YAML file,
// merge.RunFile, and the written safetensors output.
func TestOracle(t *testing.T) {
	dir := oracleDir(t)
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Cases []oracleCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Cases) < 100 {
		t.Fatalf("manifest holds %d cases", len(manifest.Cases))
	}
	for _, c := range manifest.Cases {
		t.Run(c.ID, func(t *testing.T) { runOracleCase(t, dir, c) })
	}
}

func runOracleCase(t *testing.T, dir string, c oracleCase) {
	tmp := t.TempDir()
	inputs := map[string][]float32{}
	for _, f := range c.Inputs {
		for k, v := range readTensors(t, filepath.Join(dir, f)) {
			inputs[k] = v
		}
	}
	models := map[string]string{} // tensor name -> model dir
	need := []string{}
	if c.Base != nil {
		need = append(need, *c.Base)
	}
	for _, m := range c.Models {
		need = append(need, m.Tensor)
	}
	for _, name := range need {
		if _, ok := models[name]; ok {
			continue
		}
		v, ok := inputs[name]
		if !ok {
			t.Fatalf("input %s not in %v", name, c.Inputs)
		}
		models[name] = filepath.Join(tmp, name)
		writeModel(t, models[name], c.Shape, v)
	}
	cfg := map[string]any{"merge_method": c.Method, "dtype": "float32"}
	if c.Base != nil {
		cfg["base_model"] = models[*c.Base]
	}
	var ms []map[string]any
	masks := map[string][]float32{}
	for _, m := range c.Models {
		entry := map[string]any{"model": models[m.Tensor]}
		if len(m.Parameters) > 0 {
			entry["parameters"] = m.Parameters
		}
		ms = append(ms, entry)
		if m.Mask != "" {
			masks[models[m.Tensor]] = inputs[m.Mask]
			if masks[models[m.Tensor]] == nil {
				t.Fatalf("mask %s missing", m.Mask)
			}
		}
	}
	cfg["models"] = ms
	if len(c.Parameters) > 0 {
		cfg["parameters"] = c.Parameters
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(tmp, "merge.yml")
	if err := os.WriteFile(cfgPath, y, 0o644); err != nil {
		t.Fatal(err)
	}
	opt := Options{Seed: 1}
	if len(masks) > 0 {
		opt.Masks = func(tensor, model string) []float32 { return masks[model] }
	}
	out := filepath.Join(tmp, "out")
	if _, err := RunFile(context.Background(), cfgPath, out, opt); err != nil {
		t.Fatalf("merge: %v\n%s", err, y)
	}
	got := readTensors(t, filepath.Join(out, "model.safetensors"))["w"]
	want := readTensors(t, filepath.Join(dir, c.Expected))
	if c.Quirk != "" {
		checkQuirk(t, c, inputs, got)
		return
	}
	compare(t, "result", got, want["result"], c.Tolerance.RTol, c.Tolerance.ATol)
	for name := range c.Outputs {
		if strings.HasPrefix(name, "keep_prob.") {
			model := strings.TrimPrefix(name, "keep_prob.")
			delta := sub(inputs[model], inputs[*c.Base])
			var p map[string]any
			for _, m := range c.Models {
				if m.Tensor == model {
					p = m.Parameters
				}
			}
			probs := methods.DellaProbs(c.Shape, delta, p["density"].(float64), p["epsilon"].(float64))
			compare(t, name, probs, want[name], c.Tolerance.RTol, c.Tolerance.ATol)
		}
	}
}

// checkQuirk: for breadcrumbs with gamma 0 mergekit zeroes every task
// vector; mergetune keeps each model's `density` largest magnitudes.
func checkQuirk(t *testing.T, c oracleCase, inputs map[string][]float32, got []float32) {
	if c.Method != "breadcrumbs" {
		t.Fatalf("unexpected quirk case %s", c.ID)
	}
	base := inputs[*c.Base]
	want := make([]float64, len(base))
	for _, m := range c.Models {
		d := sub(inputs[m.Tensor], base)
		k := int(math.Floor(m.Parameters["density"].(float64) * float64(len(d))))
		mags := make([]float64, len(d))
		for i, x := range d {
			mags[i] = math.Abs(float64(x))
		}
		thr := kthLargest(mags, k)
		for i, x := range d {
			if math.Abs(float64(x)) >= thr {
				want[i] += m.Parameters["weight"].(float64) * float64(x)
			}
		}
	}
	differs := 0
	for i := range got {
		w := float64(base[i]) + want[i]
		if math.Abs(float64(got[i])-w) > 1e-5+1e-5*math.Abs(w) {
			t.Fatalf("element %d: got %v, want %v (base + kept top-density deltas)", i, got[i], w)
		}
		if got[i] != base[i] {
			differs++
		}
	}
	if differs < len(got)/2 {
		t.Fatalf("only %d of %d elements moved from the base: the task vectors were dropped", differs, len(got))
	}
}

func kthLargest(v []float64, k int) float64 {
	s := append([]float64(nil), v...)
	for i := 0; i < k; i++ { // selection, small inputs only
		m := i
		for j := i + 1; j < len(s); j++ {
			if s[j] > s[m] {
				m = j
			}
		}
		s[i], s[m] = s[m], s[i]
	}
	return s[k-1]
}

func sub(a, b []float32) []float32 {
	out := make([]float32, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

func compare(t *testing.T, what string, got, want []float32, rtol, atol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, len(got), len(want))
	}
	bad := 0
	var first string
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > atol+rtol*math.Abs(float64(want[i])) {
			if bad == 0 {
				first = fmt.Sprintf("element %d: got %v, want %v", i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d of %d elements out of tolerance; first %s", what, bad, len(want), first)
	}
}
