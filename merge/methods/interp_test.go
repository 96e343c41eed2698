package methods

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
)

// interpOracleInputs returns the §12 oracle inputs, shape [2,3].
func interpOracleInputs() (base, a, b, c []float32) {
	return []float32{0.5, -1.0, 2.0, 0.25, 0.0, -0.75},
		[]float32{0.6, -1.2, 2.3, 0.3, 0.0, -0.86},
		[]float32{0.7, -1.1, 2.25, 0.2, 0.12, -0.9},
		[]float32{0.58, -1.25, 2.35, 0.35, 0.0, -0.75}
}

// interpTryRun calls m's Validate (if set) and Prepare on j, then its kernel
// over row-aligned chunks of about chunk elements, in increasing order.
func interpTryRun(m *Method, j *Job, chunk int) ([]float32, error) {
	if err := m.Check(j); err != nil {
		return nil, err
	}
	k, err := m.Prepare(context.Background(), j)
	if err != nil {
		return nil, err
	}
	n, r := j.Len(), j.RowLen()
	chunk = max(1, chunk/r) * r
	out := make([]float32, n)
	for off := 0; off < n; off += chunk {
		if err := k(off, out[off:min(off+chunk, n)]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// run merges j with m in row-aligned chunks of chunk elements; it panics
// on an error (tests that expect one use interpTryRun).
func run(m *Method, j *Job, chunk int) []float32 {
	out, err := interpTryRun(m, j, chunk)
	if err != nil {
		panic(err)
	}
	return out
}

// interpModel returns a model called name with tensor v and per-model parameters
// kv (name, value, name, value, …).
func interpModel(name string, v []float32, kv ...any) Model {
	p := Params{}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i].(string)] = kv[i+1].(float64)
	}
	return Model{Name: name, Input: Slice(v), Params: p}
}

// interpJob returns a [2,3] job with the method's defaults filled into the global
// and per-model parameters, as the engine does.
func interpJob(m *Method, base *Model, models []Model, global Params) *Job {
	j := &Job{Tensor: "model.layers.0.mlp.up_proj.weight", Shape: []int{2, 3}, Base: base, Models: models, Params: Params{}}
	for _, d := range m.Params {
		if d.PerModel {
			for i := range j.Models {
				if _, ok := j.Models[i].Params[d.Name]; !ok && !d.Required && !d.Optional {
					j.Models[i].Params[d.Name] = d.Default
				}
			}
			continue
		}
		if v, ok := global[d.Name]; ok {
			j.Params[d.Name] = v
		} else if !d.Required && !d.Optional {
			j.Params[d.Name] = d.Default
		}
	}
	for k, v := range global {
		j.Params[k] = v
	}
	return j
}

func interpPtr(m Model) *Model { return &m }

func interpScaled(v []float32, s float32) []float32 {
	out := make([]float32, len(v))
	for i := range v {
		out[i] = v[i] * s
	}
	return out
}

func interpClose(got, want []float32, rtol, atol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("len %d, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if !(math.Abs(g-w) <= atol+rtol*math.Abs(w)) {
			return fmt.Errorf("element %d = %.9g, want %.9g (got %v)", i, g, w, got)
		}
	}
	return nil
}

func TestInterpOracle(t *testing.T) {
	oBase, oA, oB, oC := interpOracleInputs()
	r := All()
	get := func(name string) *Method {
		m, err := r.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	type row struct {
		name   string
		method string
		base   *Model
		models []Model
		global Params
		want   []float32
	}
	rows := []row{
		{"linear A:.6 B:.4", "linear", nil,
			[]Model{interpModel("A", oA, "weight", 0.6), interpModel("B", oB, "weight", 0.4)}, nil,
			[]float32{0.63999999, -1.16000009, 2.27999997, 0.26000002, 0.048, -0.87600005}},
		{"linear A:1 B:.3 C:.5", "linear", nil,
			[]Model{interpModel("A", oA, "weight", 1.0), interpModel("B", oB, "weight", 0.3), interpModel("C", oC, "weight", 0.5)}, nil,
			[]float32{0.61111116, -1.19722235, 2.30555534, 0.29722226, 0.02, -0.83611113}},
		{"slerp t=.35 base=A other=B", "slerp", interpPtr(interpModel("A", oA)),
			[]Model{interpModel("B", oB)}, Params{"t": 0.35},
			[]float32{0.63543236, -1.16577423, 2.28402662, 0.26517093, 0.04203619, -0.87458849}},
		{"slerp t=.5 base, A (colinear)", "slerp", interpPtr(interpModel("base", oBase)),
			[]Model{interpModel("A", oA)}, Params{"t": 0.5},
			[]float32{0.55, -1.1, 2.15, 0.275, 0.0, -0.805}},
		{"slerp t=.3 base, 2·base", "slerp", interpPtr(interpModel("base", oBase)),
			[]Model{interpModel("2base", interpScaled(oBase, 2))}, Params{"t": 0.3},
			[]float32{0.65, -1.3, 2.6, 0.325, 0.0, -0.975}},
		{"nuslerp flatten", "nuslerp", nil,
			[]Model{interpModel("A", oA, "weight", 0.6), interpModel("B", oB, "weight", 0.4)}, nil,
			[]float32{0.64045727, -1.1608156, 2.28160977, 0.26017913, 0.0480396, -0.87662131}},
		{"nuslerp rows", "nuslerp", nil,
			[]Model{interpModel("A", oA, "weight", 0.6), interpModel("B", oB, "weight", 0.4)},
			Params{"nuslerp_flatten": 0, "nuslerp_row_wise": 0},
			[]float32{0.6402089, -1.1603725, 2.28073549, 0.26092577, 0.04820468, -0.87921101}},
		{"nuslerp row_wise", "nuslerp", nil,
			[]Model{interpModel("A", oA, "weight", 0.6), interpModel("B", oB, "weight", 0.4)},
			Params{"nuslerp_flatten": 0, "nuslerp_row_wise": 1},
			[]float32{0.64267546, -1.16163623, 2.28014064, 0.26104808, 0.04807945, -0.87605429}},
		{"nuslerp base flatten", "nuslerp", interpPtr(interpModel("base", oBase)),
			[]Model{interpModel("A", oA, "weight", 0.6), interpModel("B", oB, "weight", 0.4)}, nil,
			[]float32{0.64592433, -1.16618693, 2.2911675, 0.26013127, 0.0502647, -0.88119566}},
		{"multislerp A:.6 B:.4", "multislerp", nil,
			[]Model{interpModel("A", oA, "weight", 0.6), interpModel("B", oB, "weight", 0.4)}, nil,
			[]float32{0.64096016, -1.16046596, 2.28157997, 0.2597529, 0.04858176, -0.87687528}},
		{"multislerp A:.6 B:.4 base", "multislerp", interpPtr(interpModel("base", oBase)),
			[]Model{interpModel("A", oA, "weight", 0.6), interpModel("B", oB, "weight", 0.4)}, nil,
			[]float32{0.64586186, -1.16622758, 2.29117322, 0.26018286, 0.05019845, -0.88116556}},
		{"multislerp A,B,C base", "multislerp", interpPtr(interpModel("base", oBase)),
			[]Model{interpModel("A", oA, "weight", 1.0), interpModel("B", oB, "weight", 1.0), interpModel("C", oC, "weight", 1.0)}, nil,
			[]float32{0.63728428, -1.19194508, 2.31707597, 0.28218228, 0.04469378, -0.84647721}},
		{"karcher A,B,C", "karcher", nil,
			[]Model{interpModel("A", oA), interpModel("B", oB), interpModel("C", oC)}, nil,
			[]float32{0.62813646, -1.18410778, 2.30252075, 0.282922, 0.04071334, -0.83850408}},
		{"karcher A,B", "karcher", nil,
			[]Model{interpModel("A", oA), interpModel("B", oB)}, nil,
			[]float32{0.65100753, -1.15047801, 2.27664185, 0.24973521, 0.06061485, -0.88091469}},
		{"model_stock A,B", "model_stock", interpPtr(interpModel("base", oBase)),
			[]Model{interpModel("A", oA), interpModel("B", oB)}, nil,
			[]float32{0.63711536, -1.13711548, 2.2513783, 0.25, 0.05484615, -0.8688333}},
		{"model_stock A,B,C", "model_stock", interpPtr(interpModel("base", oBase)),
			[]Model{interpModel("A", oA), interpModel("B", oB), interpModel("C", oC)}, nil,
			[]float32{0.61874926, -1.17187405, 2.28124857, 0.28124982, 0.0374998, -0.83124954}},
		{"model_stock filter_wise A,B,C", "model_stock", interpPtr(interpModel("base", oBase)),
			[]Model{interpModel("A", oA), interpModel("B", oB), interpModel("C", oC)}, Params{"filter_wise": 1},
			[]float32{0.62353224, -1.17879689, 2.29257655, 0.26660174, 0.01992207, -0.79316449}},
		{"nearswap t=.05", "nearswap", interpPtr(interpModel("base", oBase)),
			[]Model{interpModel("A", oA)}, Params{"t": 0.05},
			[]float32{0.55000001, -1.04999995, 2.04999995, 0.30000001, 0.0, -0.80000001}},
	}
	for _, rw := range rows {
		for _, chunk := range []int{3, 6} {
			t.Run(fmt.Sprintf("%s/chunk%d", rw.name, chunk), func(t *testing.T) {
				m := get(rw.method)
				var warns []string
				j := interpJob(m, rw.base, rw.models, rw.global)
				j.Warn = func(f string, a ...any) { warns = append(warns, fmt.Sprintf(f, a...)) }
				got, err := interpTryRun(m, j, chunk)
				if err != nil {
					t.Fatal(err)
				}
				if err := interpClose(got, rw.want, 1e-5, 2e-6); err != nil {
					t.Error(err)
				}
				if len(warns) > 0 {
					t.Errorf("unexpected warnings %q", warns)
				}
			})
		}
	}
}

func TestInterpErrors(t *testing.T) {
	oBase, oA, oB, oC := interpOracleInputs()
	r := All()
	cases := []struct {
		name   string
		method string
		base   *Model
		models []Model
		global Params
		want   string // substring of the error
	}{
		{"linear Σw=0", "linear", nil,
			[]Model{interpModel("A", oA, "weight", 0.5), interpModel("B", oB, "weight", -0.5)}, nil,
			"linear: weights sum to 0 (A=0.5, B=-0.5)"},
		{"linear no models", "linear", nil, nil, nil, "linear: no input models"},
		{"slerp t=1.5", "slerp", interpPtr(interpModel("base", oBase)), []Model{interpModel("A", oA)}, Params{"t": 1.5},
			"slerp: t = 1.5"},
		{"slerp t=-0.1", "slerp", interpPtr(interpModel("base", oBase)), []Model{interpModel("A", oA)}, Params{"t": -0.1},
			"slerp: t = -0.1"},
		{"slerp two models", "slerp", interpPtr(interpModel("base", oBase)), []Model{interpModel("A", oA), interpModel("B", oB)},
			Params{"t": 0.5}, "slerp: needs exactly one model"},
		{"nuslerp three models", "nuslerp", nil,
			[]Model{interpModel("A", oA, "weight", 1.0), interpModel("B", oB, "weight", 1.0), interpModel("C", oC, "weight", 1.0)}, nil,
			"nuslerp: needs exactly two models"},
		{"nuslerp base and one model", "nuslerp", interpPtr(interpModel("base", oBase)),
			[]Model{interpModel("A", oA, "weight", 1.0)}, nil, "nuslerp: needs exactly two models"},
		{"multislerp Σw=0", "multislerp", nil,
			[]Model{interpModel("A", oA, "weight", 1.0), interpModel("B", oB, "weight", -1.0)}, nil,
			"multislerp: weights sum to 0"},
		{"karcher max_iter=-1", "karcher", nil, []Model{interpModel("A", oA), interpModel("B", oB)},
			Params{"max_iter": -1}, "karcher: max_iter = -1"},
		{"nearswap two models", "nearswap", interpPtr(interpModel("base", oBase)), []Model{interpModel("A", oA), interpModel("B", oB)},
			Params{"t": 0.05}, "nearswap: needs exactly one model"},
		{"nearswap no base", "nearswap", nil, []Model{interpModel("A", oA)}, Params{"t": 0.05},
			"nearswap: needs a base"},
		{"passthrough two models", "passthrough", nil, []Model{interpModel("A", oA), interpModel("B", oB)}, nil,
			"passthrough: needs exactly one input model, got 2"},
		{"model_stock one model", "model_stock", interpPtr(interpModel("base", oBase)), []Model{interpModel("A", oA)}, nil,
			"model_stock: needs at least two models"},
		{"model_stock no base", "model_stock", nil, []Model{interpModel("A", oA), interpModel("B", oB)}, nil,
			"model_stock: needs a base"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := r.Lookup(c.method)
			if err != nil {
				t.Fatal(err)
			}
			j := interpJob(m, c.base, c.models, c.global)
			if err := m.Check(j); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Check: error %v, want one containing %q", err, c.want)
			}
			// Prepare checks too, for an engine that skips Check.
			if _, err := m.Prepare(context.Background(), j); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Prepare: error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestInterpSingleInput(t *testing.T) {
	oBase, oA, _, _ := interpOracleInputs()
	r := All()
	cases := []struct {
		name   string
		method string
		base   *Model
		models []Model
		global Params
		want   []float32
	}{
		{"slerp base only", "slerp", interpPtr(interpModel("base", oBase)), nil, Params{"t": 0.3}, oBase},
		{"slerp one model, no base", "slerp", nil, []Model{interpModel("A", oA)}, Params{"t": 0.3}, oA},
		{"nuslerp base only", "nuslerp", interpPtr(interpModel("base", oBase)), nil, nil, oBase},
		{"nuslerp one model", "nuslerp", nil, []Model{interpModel("A", oA, "weight", 1.0)}, nil, oA},
		{"multislerp one model with base", "multislerp", interpPtr(interpModel("base", oBase)),
			[]Model{interpModel("A", oA, "weight", 1.0)}, nil, oA},
		{"karcher one model", "karcher", nil, []Model{interpModel("A", oA)}, nil, oA},
		{"model_stock base only", "model_stock", interpPtr(interpModel("base", oBase)), nil, nil, oBase},
		{"nearswap base only", "nearswap", interpPtr(interpModel("base", oBase)), nil, Params{"t": 0.1}, oBase},
		{"linear one model", "linear", nil, []Model{interpModel("A", oA, "weight", 0.25)}, nil, oA},
		{"passthrough", "passthrough", nil, []Model{interpModel("A", oA)}, nil, oA},
		{"passthrough scale", "passthrough", nil, []Model{interpModel("A", oA, "scale", 0.5)}, nil, interpScaled(oA, 0.5)},
		{"passthrough scale 0", "passthrough", nil, []Model{interpModel("A", oA, "scale", 0.0)}, nil, make([]float32, 6)},
	}
	for _, c := range cases {
		for _, chunk := range []int{3, 6} {
			t.Run(fmt.Sprintf("%s/chunk%d", c.name, chunk), func(t *testing.T) {
				m, err := r.Lookup(c.method)
				if err != nil {
					t.Fatal(err)
				}
				got := run(m, interpJob(m, c.base, c.models, c.global), chunk)
				if err := interpClose(got, c.want, 0, 0); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

func TestInterpParamDefs(t *testing.T) {
	r := All()
	want := map[string]struct {
		base    BaseUse
		rectify Rectify
		params  []ParamDef
	}{
		"linear":      {BaseNone, RectifyCommon, []ParamDef{{Name: "normalize", Default: 1, Range: boolean}, {Name: "weight", PerModel: true, Required: true}}},
		"slerp":       {BaseRequired, RectifyCommon, []ParamDef{{Name: "t", Required: true, Range: Range{HasLo: true, HasHi: true, Hi: 1}}}},
		"nuslerp":     {BaseOptional, RectifyCommon, []ParamDef{{Name: "weight", PerModel: true, Required: true}, {Name: "nuslerp_row_wise", Range: boolean}, {Name: "nuslerp_flatten", Default: 1, Range: boolean}}},
		"multislerp":  {BaseOptional, RectifyNone, []ParamDef{{Name: "weight", PerModel: true, Required: true}, {Name: "normalize_weights", Default: 1, Range: boolean}, {Name: "eps", Default: 1e-8, Range: Range{HasLo: true}}}},
		"karcher":     {BaseNone, RectifyNone, []ParamDef{{Name: "max_iter", Default: 10, Range: Range{HasLo: true, HasHi: true, Hi: 10000, Whole: true}}, {Name: "tol", Default: 1e-5, Range: Range{HasLo: true}}}},
		"model_stock": {BaseRequired, RectifyCommon, []ParamDef{{Name: "filter_wise", Range: boolean}}},
		"nearswap":    {BaseRequired, RectifyNone, []ParamDef{{Name: "t", Required: true, Range: Range{HasLo: true}}}},
		"passthrough": {BaseNone, RectifyNone, []ParamDef{{Name: "scale", PerModel: true, Optional: true}}},
	}
	for name, w := range want {
		m, err := r.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if m.Base != w.base || m.Rectify != w.rectify {
			t.Errorf("%s: base %v rectify %v, want %v %v", name, m.Base, m.Rectify, w.base, w.rectify)
		}
		if len(m.Params) != len(w.params) {
			t.Errorf("%s: params %+v, want %+v", name, m.Params, w.params)
			continue
		}
		for i, p := range w.params {
			g := m.Params[i]
			g.Search = Search{} // checked by TestStartValues
			if g != p {
				t.Errorf("%s: param %d = %+v, want %+v", name, i, g, p)
			}
		}
	}
}

func TestModelStockWarnsOnBadT(t *testing.T) {
	oBase, oA, _, _ := interpOracleInputs()
	m := modelStockMethod()
	// Opposite task vectors: cos = -1 → t = -2/(1-1) = -inf.
	neg := make([]float32, 6)
	for i := range oA {
		neg[i] = 2*oBase[i] - oA[i]
	}
	for _, fw := range []float64{0, 1} {
		var warns []string
		j := interpJob(m, interpPtr(interpModel("base", oBase)), []Model{interpModel("A", oA), interpModel("N", neg)}, Params{"filter_wise": fw})
		j.Warn = func(f string, a ...any) { warns = append(warns, fmt.Sprintf(f, a...)) }
		if _, err := interpTryRun(m, j, 3); err != nil {
			t.Fatal(err)
		}
		if len(warns) != 1 || !strings.Contains(warns[0], "outside [0, 1]") {
			t.Errorf("filter_wise=%v: warnings %q, want one about t outside [0, 1]", fw, warns)
		}
	}
}

// TestInterpStreamingChunks checks on a larger tensor that the streaming
// methods give the same result whatever the chunking, including chunks
// larger than one scan step.
func TestInterpStreamingChunks(t *testing.T) {
	const rows, cols = 300, 257
	n := rows * cols
	mk := func(seed uint64) []float32 {
		v := make([]float32, n)
		x := seed
		for i := range v {
			x = x*6364136223846793005 + 1442695040888963407
			v[i] = float32(int64(x>>40)%2000-1000) / 1000
		}
		return v
	}
	base, a, b, c := mk(1), mk(2), mk(3), mk(4)
	// Make the models fine-tunes of the base so that every method is in its usual regime.
	for i := range a {
		a[i] = base[i] + 0.1*a[i]
		b[i] = base[i] + 0.1*b[i]
		c[i] = base[i] + 0.1*c[i]
	}
	r := All()
	cases := []struct {
		method string
		base   *Model
		models []Model
		global Params
	}{
		{"linear", nil, []Model{interpModel("A", a, "weight", 0.6), interpModel("B", b, "weight", 0.4)}, nil},
		{"slerp", interpPtr(interpModel("base", base)), []Model{interpModel("A", mk(5))}, Params{"t": 0.3}},
		{"model_stock", interpPtr(interpModel("base", base)), []Model{interpModel("A", a), interpModel("B", b), interpModel("C", c)}, nil},
		{"model_stock", interpPtr(interpModel("base", base)), []Model{interpModel("A", a), interpModel("B", b), interpModel("C", c)}, Params{"filter_wise": 1}},
		{"nearswap", interpPtr(interpModel("base", base)), []Model{interpModel("A", a)}, Params{"t": 0.01}},
		{"passthrough", nil, []Model{interpModel("A", a, "scale", 1.5)}, nil},
		{"nuslerp", interpPtr(interpModel("base", base)), []Model{interpModel("A", a, "weight", 0.6), interpModel("B", b, "weight", 0.4)}, Params{"nuslerp_flatten": 0}},
		{"multislerp", interpPtr(interpModel("base", base)), []Model{interpModel("A", a, "weight", 0.6), interpModel("B", b, "weight", 0.4)}, nil},
		{"karcher", nil, []Model{interpModel("A", a), interpModel("B", b), interpModel("C", c)}, nil},
	}
	for _, cs := range cases {
		m, err := r.Lookup(cs.method)
		if err != nil {
			t.Fatal(err)
		}
		j := interpJob(m, cs.base, cs.models, cs.global)
		j.Shape = []int{rows, cols}
		ref := run(m, j, n)
		for _, chunk := range []int{cols, 7 * cols, 1 << 17} {
			got := run(m, j, chunk)
			if err := interpClose(got, ref, 0, 0); err != nil {
				t.Errorf("%s %v chunk %d: %v", cs.method, cs.global, chunk, err)
			}
		}
	}
}
