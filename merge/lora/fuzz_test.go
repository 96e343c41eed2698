package lora

import (
	"testing"

	"github.com/mergetune/mergetune/merge/methods"
)

// FuzzOpen opens adapters with arbitrary adapter_config.json contents and
// module names: Open must return an adapter or an error, never panic, and
// an adapter that fits a [2, 3] tensor must read it.
func FuzzOpen(f *testing.F) {
	f.Add(`{"r": 1, "lora_alpha": 2}`, "h.0.q_proj", ".lora_A.weight", ".lora_B.weight")
	f.Add(`{"r": 1, "lora_alpha": 2, "use_rslora": true, "fan_in_fan_out": true}`, "c_attn", ".lora_A.weight", ".lora_B.weight")
	f.Add(`{"r": 1, "lora_alpha": 2, "alpha_pattern": {"q_proj": 4, "(.*)": 1}, "rank_pattern": {"x": 2}}`, "q_proj", ".lora_embedding_A", ".lora_embedding_B")
	f.Add(`{"r": 1e300, "lora_alpha": -1}`, "lm_head", ".weight", ".bias")
	f.Add(`{"r": 1, "lora_alpha": 2, "layer_replication": null, "peft_type": "LORA"}`, "", ".lora_B.weight", ".lora_A.weight")
	f.Fuzz(func(t *testing.T, config, module, s1, s2 string) {
		dir := writeAdapter(t, config,
			map[string]methods.Slice{"base_model.model." + module + s1: {1, 2, 3}, "base_model.model." + module + s2: {4, 5}},
			map[string][]int{"base_model.model." + module + s1: {1, 3}, "base_model.model." + module + s2: {2, 1}})
		a, err := Open(dir)
		if err != nil {
			return
		}
		for _, tg := range a.Targets() {
			if tg.Fit([]int{2, 3}) != nil {
				continue
			}
			out := make([]float32, 6)
			tg.Apply(methods.Slice{1, 1, 1, 1, 1, 1}).Read(0, out)
			tg.Apply(methods.Slice{1, 1, 1, 1, 1, 1}).Read(4, out[:2])
		}
	})
}
