package config

import (
	"fmt"
	"strings"
)

// SplitLoRA splits a model reference of mergekit's "model+lora" form into
// the model and the LoRA adapter (a PEFT adapter directory or Hugging Face
// id) applied to it; lora is "" for a plain reference. Both parts are
// trimmed of surrounding spaces. The reference is assumed valid
// (CheckLoRARef).
func SplitLoRA(ref string) (model, lora string) {
	model, lora, _ = strings.Cut(ref, "+")
	return strings.TrimSpace(model), strings.TrimSpace(lora)
}

// CheckLoRARef returns an error unless ref has at most one "+" with a
// non-empty model and adapter on either side (mergekit refuses more than
// one "+" too).
func CheckLoRARef(ref string) error {
	switch n := strings.Count(ref, "+"); {
	case n == 0:
		return nil
	case n > 1:
		return fmt.Errorf("model reference %q has %d '+'; a LoRA reference is model+lora, with one '+'", ref, n)
	}
	model, lora := SplitLoRA(ref)
	switch {
	case model == "":
		return fmt.Errorf("LoRA model reference %q names no model before '+' (expected model+lora)", ref)
	case lora == "":
		return fmt.Errorf("LoRA model reference %q names no adapter after '+' (expected model+lora)", ref)
	}
	return nil
}
