package lora

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/merge/methods"
	"github.com/mergetune/mergetune/merge/safetensors"
)

// writeAdapter writes an adapter directory with the given config and F32
// tensors (name → shape, values).
func writeAdapter(t *testing.T, config string, tensors map[string]methods.Slice, shapes map[string][]int) string {
	return writeAdapterAs(t, safetensors.F32, config, tensors, shapes)
}

// writeAdapterAs is writeAdapter with the tensors stored as dtype.
func writeAdapterAs(t *testing.T, dtype safetensors.DType, config string, tensors map[string]methods.Slice, shapes map[string][]int) string {
	t.Helper()
	dir := t.TempDir()
	tmp := t.TempDir()
	var specs []safetensors.Spec
	for name, shape := range shapes {
		specs = append(specs, safetensors.Spec{Name: name, DType: dtype, Shape: shape})
	}
	slices.SortFunc(specs, func(a, b safetensors.Spec) int { return strings.Compare(a.Name, b.Name) })
	w, err := safetensors.Create(tmp, specs, 0)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range tensors {
		if err := w.WriteFloat32(name, 0, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(tmp, "model.safetensors"), filepath.Join(dir, WeightsFile)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestApplyHandComputed checks W + B·A·scale against values worked out by
// hand: A = [[1, 2, 3]], B = [[1], [2]] (r = 1), so B·A = [[1, 2, 3],
// [2, 4, 6]]; lora_alpha 2 gives scale 2, alpha_pattern 4 for q_proj
// gives 4 (but not for xq_proj: a pattern matches whole name segments);
// a [3, 2] tensor (GPT-2's Conv1D) takes the transpose, whatever
// fan_in_fan_out says; reads may start mid-row; the factors may be
// stored as float32, bfloat16 or float16.
func TestApplyHandComputed(t *testing.T) {
	pre := "base_model.model."
	tensors := map[string]methods.Slice{}
	shapes := map[string][]int{}
	for _, m := range []string{"h.0.q_proj", "h.0.xq_proj", "h.0.c_attn"} {
		tensors[pre+m+".lora_A.weight"] = methods.Slice{1, 2, 3}
		shapes[pre+m+".lora_A.weight"] = []int{1, 3}
		tensors[pre+m+".lora_B.weight"] = methods.Slice{1, 2}
		shapes[pre+m+".lora_B.weight"] = []int{2, 1}
	}
	for _, dtype := range []safetensors.DType{safetensors.F32, safetensors.BF16, safetensors.F16} {
		dir := writeAdapterAs(t, dtype, `{"peft_type": "LORA", "r": 1, "lora_alpha": 2, "alpha_pattern": {"q_proj": 4}}`, tensors, shapes)
		a, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		checkHandComputed(t, a)
	}
}

func checkHandComputed(t *testing.T, a *Adapter) {
	t.Helper()
	w := methods.Slice{10, 20, 30, 40, 50, 60}
	tests := []struct {
		name  string
		shape []int
		off   int
		want  []float32
	}{
		{"h.0.xq_proj.weight", []int{2, 3}, 0, []float32{12, 24, 36, 44, 58, 72}},
		{"h.0.q_proj.weight", []int{2, 3}, 0, []float32{14, 28, 42, 48, 66, 84}},
		{"h.0.q_proj.weight", []int{2, 3}, 2, []float32{42, 48, 66}},
		{"h.0.c_attn.weight", []int{3, 2}, 0, []float32{12, 24, 34, 48, 56, 72}},
		{"h.0.c_attn.weight", []int{3, 2}, 3, []float32{48, 56, 72}},
	}
	for _, tt := range tests {
		tg := a.Target(tt.name)
		if tg == nil {
			t.Fatalf("no target %s", tt.name)
		}
		if err := tg.Fit(tt.shape); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(tt.want))
		tg.Apply(w).Read(tt.off, got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s from %d = %v, want %v", tt.name, tt.off, got, tt.want)
		}
	}
	if a.Target("h.0.k_proj.weight") != nil || (*Adapter)(nil).Target("x") != nil {
		t.Error("a tensor the adapter leaves alone has a target")
	}
}

// TestFanInFanOutSquare: a square layer follows fan_in_fan_out.
func TestFanInFanOutSquare(t *testing.T) {
	pre := "base_model.model.c_proj"
	dir := writeAdapter(t, `{"r": 1, "lora_alpha": 1, "fan_in_fan_out": true}`,
		map[string]methods.Slice{pre + ".lora_A.weight": {1, 2}, pre + ".lora_B.weight": {3, 4}},
		map[string][]int{pre + ".lora_A.weight": {1, 2}, pre + ".lora_B.weight": {2, 1}})
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tg := a.Target("c_proj.weight")
	if err := tg.Fit([]int{2, 2}); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 4)
	tg.Apply(methods.Slice{0, 0, 0, 0}).Read(0, got)
	// B·A = [[3, 6], [4, 8]]; transposed [[3, 4], [6, 8]]
	if want := []float32{3, 4, 6, 8}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), ConfigFile) {
		t.Errorf("no config: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"r": 1, "lora_alpha": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "adapter_model.bin"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "holds adapter_model.bin only") {
		t.Errorf("bin only: %v", err)
	}
	for _, cfg := range []string{`{"r": 1, "lora_alpha": 1, "alpha_pattern": {"(": 2}}`, `{"r": 0.5, "lora_alpha": 1}`, `{"r": 1}`, `{"r": 1, "lora_alpha": 1, "layer_replication": [[0, 2]]}`, `[`} {
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), ConfigFile) {
			t.Errorf("config %s: error %v does not name %s", cfg, err, ConfigFile)
		}
	}
}
