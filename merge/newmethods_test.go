package merge

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/mergetune/mergetune/merge/safetensors"
	"github.com/mergetune/mergetune/merge/synth"
)

// TestRAMAndArceeFusionConfigs runs mergekit-style configs of the methods
// mergekit's registry added (ram, ramplus_tl, arcee_fusion) end to end:
// every tensor is written, no element moves further from the base than
// the fine-tunes do (beyond ramplus_tl's λ ≤ 1.05 and bf16 rounding), and
// some tensors move.
func TestRAMAndArceeFusionConfigs(t *testing.T) {
	shape := synth.Pico()
	opt := synth.Options{Shape: shape, DType: safetensors.BF16, Seed: 11}
	root := t.TempDir()
	ctx := context.Background()
	base := filepath.Join(root, "base")
	if err := synth.WriteBase(ctx, base, opt); err != nil {
		t.Fatal(err)
	}
	fts := []string{filepath.Join(root, "ft0"), filepath.Join(root, "ft1")}
	for i, d := range fts {
		if err := synth.WriteFineTune(ctx, d, opt, i); err != nil {
			t.Fatal(err)
		}
	}
	configs := map[string]string{
		"ram":          fmt.Sprintf("merge_method: ram\nbase_model: %s\nmodels:\n  - model: %s\n  - model: %s\ndtype: float32\n", base, fts[0], fts[1]),
		"ramplus_tl":   fmt.Sprintf("merge_method: ramplus_tl\nbase_model: %s\nmodels:\n  - model: %s\n  - model: %s\nparameters:\n  r: 0.05\n  alpha: 1.0\ndtype: bfloat16\n", base, fts[0], fts[1]),
		"arcee_fusion": fmt.Sprintf("merge_method: arcee_fusion\nbase_model: %s\nmodels:\n  - model: %s\n  - model: %s\ndtype: bfloat16\n", base, base, fts[0]),
	}
	b := readAll(t, base)
	ft := []map[string][]float32{readAll(t, fts[0]), readAll(t, fts[1])}
	for method, cfg := range configs {
		t.Run(method, func(t *testing.T) {
			res, out, err := mergeYAML(t, t.TempDir(), cfg, Options{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			if want := len(shape.Specs(safetensors.BF16)); res.Tensors != want {
				t.Errorf("%d tensors, want %d", res.Tensors, want)
			}
			got := readAll(t, out)
			moved := 0
			for name, v := range got {
				differs := false
				for e, x := range v {
					spread := 0.0
					for _, f := range ft {
						spread = max(spread, math.Abs(float64(f[name][e]-b[name][e])))
					}
					if math.Abs(float64(x-b[name][e])) > spread*1.06+0.004*math.Abs(float64(x)) {
						t.Fatalf("%s[%d] = %v, base %v: moved further than any fine-tune", name, e, x, b[name][e])
					}
					differs = differs || x != b[name][e]
				}
				if differs {
					moved++
				}
			}
			if moved == 0 {
				t.Error("no tensor differs from the base")
			}
		})
	}
}
