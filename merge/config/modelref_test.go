package config

import (
	"strings"
	"testing"
)

func TestSplitLoRA(t *testing.T) {
	tests := []struct {
		ref, model, lora, err string
	}{
		{ref: "org/model", model: "org/model"},
		{ref: "org/model+org/lora", model: "org/model", lora: "org/lora"},
		{ref: "./base + ./adapter", model: "./base", lora: "./adapter"},
		{ref: "a+b+c", err: `model reference "a+b+c" has 2 '+'`},
		{ref: "+lora", err: `"+lora" names no model before '+'`},
		{ref: "model+ ", err: `"model+ " names no adapter after '+'`},
	}
	for _, tt := range tests {
		err := CheckLoRARef(tt.ref)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("CheckLoRARef(%q) = %v, want an error containing %q", tt.ref, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("CheckLoRARef(%q) = %v", tt.ref, err)
		}
		if m, l := SplitLoRA(tt.ref); m != tt.model || l != tt.lora {
			t.Errorf("SplitLoRA(%q) = %q, %q, want %q, %q", tt.ref, m, l, tt.model, tt.lora)
		}
	}
}

// TestLoRAReference: a model+lora reference is kept whole, as one model of
// the config, wherever a model may be named.
func TestLoRAReference(t *testing.T) {
	src := `merge_method: ties
base_model: ./base
models:
  - model: ./base+./adapter
    parameters: {weight: 1, density: 0.5}
  - model: ./other
    parameters: {weight: 1, density: 0.5}
`
	c, err := Parse([]byte(src), "lora.yml")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(c.ModelRefs(), ",")
	if want := "./base+./adapter,./other,./base"; got != want {
		t.Errorf("ModelRefs = %s, want %s", got, want)
	}
}
