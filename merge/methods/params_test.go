package methods

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRangeString(t *testing.T) {
	tests := []struct {
		r    Range
		want string
	}{
		{anyNumber, "any finite number"},
		{unitRange, "[0, 1]"},
		{density01, "(0, 1]"},
		{gammaRng, "[0, 1)"},
		{nonNeg, ">= 0"},
		{Range{HasLo: true, LoOpen: true}, "> 0"},
		{Range{HasHi: true, Hi: 2}, "<= 2"},
		{Range{HasHi: true, Hi: 2, HiOpen: true}, "< 2"},
		{Range{HasLo: true, HasHi: true, Hi: MaxIter, Whole: true}, "[0, 10000] (whole numbers)"},
		{Range{Whole: true}, "any whole number"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.r, got, tt.want)
		}
	}
}

// TestEveryParamRefusesNonFinite: no built-in parameter accepts NaN or
// ±Inf, so nothing non-finite reaches a kernel through a parameter.
func TestEveryParamRefusesNonFinite(t *testing.T) {
	for name, m := range All() {
		for _, d := range m.Params {
			for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
				err := d.Check(v)
				if err == nil || !strings.Contains(err.Error(), d.Name+" = "+num(v)+" is not a finite number") {
					t.Errorf("%s.%s: Check(%v) = %v", name, d.Name, v, err)
				}
			}
			if d.Required && d.Optional {
				t.Errorf("%s.%s: both Required and Optional", name, d.Name)
			}
			if !d.Required && !d.Optional {
				if err := d.Check(d.Default); err != nil {
					t.Errorf("%s.%s: the default is refused: %v", name, d.Name, err)
				}
			}
		}
	}
}

// TestParamRanges: values that used to pass silently are refused by
// Check and by Prepare, naming the parameter, the value and the model.
func TestParamRanges(t *testing.T) {
	base := &Model{Name: "base", Input: o12Base}
	cases := []struct {
		method string
		global Params
		model  Params
		want   string
	}{
		{"ties", Params{"lambda": math.NaN()}, Params{"weight": 1}, "ties: lambda = NaN is not a finite number (allowed: any finite number)"},
		{"task_arithmetic", nil, Params{"weight": math.NaN()}, "task_arithmetic: weight = NaN is not a finite number (allowed: any finite number) for model A"},
		{"della", nil, Params{"weight": 1, "density": 0.5, "epsilon": -0.9}, "della: epsilon = -0.9 is outside [0, 0.5) for model A"},
		{"della_linear", nil, Params{"weight": 1, "density": 1, "epsilon": -0.1}, "della_linear: epsilon = -0.1 is outside [0, 0.5) for model A"},
		{"sce", Params{"select_topk": -1}, nil, "sce: select_topk = -1 is outside [0, 1]"},
		{"sce", Params{"select_topk": 1.5}, nil, "sce: select_topk = 1.5 is outside [0, 1]"},
		{"dare_ties", nil, Params{"weight": 1, "density": -0.5}, "dare_ties: density = -0.5 is outside (0, 1] for model A"},
		{"task_arithmetic", nil, Params{"weight": 1, "density": 0}, "task_arithmetic: density = 0 is outside (0, 1] for model A"},
		{"ties", Params{"normalize": math.Inf(1)}, Params{"weight": 1}, "ties: normalize = +Inf is not a finite number (allowed: a boolean (true/false, or a finite number: non-zero is true))"},
		{"karcher", Params{"max_iter": 1e9}, nil, "karcher: max_iter = 1e+09 is outside [0, 10000] (whole numbers)"},
		{"karcher", Params{"max_iter": 2.5}, nil, "karcher: max_iter = 2.5 is not a whole number (allowed: [0, 10000] (whole numbers))"},
		{"karcher", Params{"tol": -1}, nil, "karcher: tol = -1 is outside >= 0"},
		{"passthrough", nil, Params{"scale": math.NaN()}, "passthrough: scale = NaN is not a finite number (allowed: any finite number) for model A"},
		{"nearswap", Params{"t": -0.5}, nil, "nearswap: t = -0.5 is outside >= 0"},
		{"multislerp", Params{"eps": -1}, Params{"weight": 1}, "multislerp: eps = -1 is outside >= 0"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.want, func(t *testing.T) {
			m := All()[c.method]
			j := &Job{Tensor: "w", Shape: []int{2, 3}, Params: Params{}, Models: []Model{{Name: "A", Input: o12A, Params: Params{}}}}
			if m.Base != BaseNone {
				j.Base = base
			}
			for k, v := range c.global {
				j.Params[k] = v
			}
			for k, v := range c.model {
				j.Models[0].Params[k] = v
			}
			fillDefaults(m, j)
			if err := m.Check(j); err == nil || err.Error() != c.want {
				t.Errorf("Check:\n got %v\nwant %s", err, c.want)
			}
			if _, err := m.Prepare(context.Background(), j); err == nil || err.Error() != c.want {
				t.Errorf("Prepare:\n got %v\nwant %s", err, c.want)
			}
		})
	}
}

// TestPassthroughScaleUnset: an unset scale copies the input; a scale of 0
// (no longer confused with "unset") zeroes it.
func TestPassthroughScaleUnset(t *testing.T) {
	m := All()["passthrough"]
	for _, tt := range []struct {
		params Params
		want   float32
	}{{Params{}, 1}, {Params{"scale": 0}, 0}, {Params{"scale": 2}, 2}} {
		j := &Job{Tensor: "w", Shape: []int{2, 3}, Params: Params{}, Models: []Model{{Name: "A", Input: o12A, Params: tt.params}}}
		fillDefaults(m, j)
		out, err := mergeChunks(t, m, j, 6)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range out {
			if v != o12A[i]*tt.want {
				t.Errorf("%v: out[%d] = %v, want %v", tt.params, i, v, o12A[i]*tt.want)
			}
		}
	}
}

// TestKarcherCancelled: a cancelled context stops karcher between
// iterations (it used to run every one of max_iter iterations, deaf to
// SIGINT).
func TestKarcherCancelled(t *testing.T) {
	const n = 1 << 18
	a, b := make(Slice, n), make(Slice, n)
	for i := range a {
		a[i] = float32(math.Sin(float64(i)))
		b[i] = float32(math.Cos(float64(i)))
	}
	m := All()["karcher"]
	j := &Job{Tensor: "w", Shape: []int{n}, Params: Params{"max_iter": MaxIter, "tol": 0},
		Models: []Model{{Name: "A", Input: a}, {Name: "B", Input: b}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := m.Prepare(ctx, j)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	// Run to the end, karcher returns no error: context.Canceled shows
	// that it stopped at the cancel. The minute only catches a hang; no
	// tighter time limit, since a busy machine slows every step.
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "karcher: w:") {
			t.Errorf("err = %v, want context.Canceled naming the tensor", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("karcher still running a minute after the cancel")
	}
}

// TestStartValues checks the values a search starts from and the ranges
// it suggests, for a merge of 4 models.
func TestStartValues(t *testing.T) {
	r := All()
	cases := []struct {
		method, param string
		start         float64
		low, high     float64 // 0, 0: no suggested range
		log           bool
	}{
		{"ties", "weight", 1, 0.2, 1, false},
		{"ties", "lambda", 1, 0.1, 1.5, false},
		{"ties", "density", 0.5, 0.1, 1, false},
		{"task_arithmetic", "int8_mask", 0, 0, 0, false},
		{"task_arithmetic", "density", 1, 0, 0, false},
		{"breadcrumbs", "density", 0.9, 0.1, 1, false},
		{"breadcrumbs_ties", "gamma", 0.01, 0.001, 0.05, true},
		{"della", "epsilon", DellaEpsilon, 0.01, 0.2, false},
		{"della_linear", "rescale", 1, 0, 0, false},
		{"linear", "weight", 0.25, 0, 1, false},
		{"nuslerp", "weight", 0.25, 0, 1, false},
		{"multislerp", "weight", 0.25, 0, 1, false},
		{"slerp", "t", 0.5, 0, 1, false},
		{"nearswap", "t", 0.5, 0, 0, false},
		{"ram", "epsilon", 1e-5, 0, 0, false},
		{"karcher", "max_iter", 10, 0, 0, false},
	}
	for _, c := range cases {
		m, err := r.Lookup(c.method)
		if err != nil {
			t.Fatal(err)
		}
		d, ok := m.Param(c.param)
		if !ok {
			t.Fatalf("%s takes no %s", c.method, c.param)
		}
		if got := d.StartValue(4); got != c.start {
			t.Errorf("%s %s: StartValue(4) = %v, want %v", c.method, c.param, got, c.start)
		}
		low, high, log, ok := d.Suggested()
		if want := c.low < c.high; ok != want || ok && (low != c.low || high != c.high || log != c.log) {
			t.Errorf("%s %s: Suggested() = %v, %v, log %v, %v; want %v, %v, log %v, %v", c.method, c.param, low, high, log, ok, c.low, c.high, c.log, want)
		}
	}
}

// TestStartValuesInRange checks that every declared start value and
// suggested range lies inside the parameter's accepted values.
func TestStartValuesInRange(t *testing.T) {
	for name, m := range All() {
		for _, d := range m.Params {
			for _, n := range []int{1, 2, 3} {
				if err := d.Check(d.StartValue(n)); err != nil {
					t.Errorf("%s: start of %d models: %v", name, n, err)
				}
			}
			if low, high, _, ok := d.Suggested(); ok {
				if err := d.Check(low); err != nil {
					t.Errorf("%s: suggested low: %v", name, err)
				}
				if err := d.Check(high); err != nil {
					t.Errorf("%s: suggested high: %v", name, err)
				}
			}
		}
	}
}

// TestMethodStart checks the settings a merge starts from.
func TestMethodStart(t *testing.T) {
	cases := []struct {
		method      string
		global, per Params
	}{
		{"linear", Params{}, Params{"weight": 0.5}},
		{"task_arithmetic", Params{}, Params{"weight": 1}},
		{"ties", Params{}, Params{"weight": 1, "density": 0.5}},
		{"breadcrumbs", Params{}, Params{"weight": 1, "density": 0.9}},
		{"slerp", Params{"t": 0.5}, Params{}},
		{"model_stock", Params{}, Params{}},
	}
	for _, c := range cases {
		m, err := All().Lookup(c.method)
		if err != nil {
			t.Fatal(err)
		}
		g, p := m.Start(2)
		if !reflect.DeepEqual(g, c.global) || !reflect.DeepEqual(p, c.per) {
			t.Errorf("%s: Start(2) = %v, %v; want %v, %v", c.method, g, p, c.global, c.per)
		}
	}
}
