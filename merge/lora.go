package merge

import (
	"context"
	"fmt"

	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/merge/lora"
	"github.com/mergetune/mergetune/merge/methods"
)

// openLoRA opens the adapter of a "model+lora" reference (none for a plain
// one) and checks that every tensor it changes is in the model, with the
// shape the change has.
func (e *engine) openLoRA(ctx context.Context, m *model, loc *locator) error {
	_, ref := config.SplitLoRA(m.ref)
	if ref == "" {
		return nil
	}
	dir, err := loc.dir(ctx, ref)
	if err != nil {
		return err
	}
	files, err := loc.adapter(ctx, dir)
	if err != nil {
		return err
	}
	a, err := lora.Open(files)
	if err != nil {
		return fmt.Errorf("%s: model %s: %w", e.cfg.File, m.ref, err)
	}
	a.Dir = dir // the adapter as given, not a converted twin: messages and the output overlap check name it
	for _, t := range a.Targets() {
		mt, ok := m.st.Tensor(t.Name)
		if !ok {
			return fmt.Errorf("%s: model %s: LoRA adapter %s changes tensor %s (key %s), which model %s (%s) does not hold",
				e.cfg.File, m.ref, a.Dir, t.Name, t.Key, ref, m.dir)
		}
		if err := t.Fit(mt.Shape); err != nil {
			return fmt.Errorf("%s: model %s: LoRA adapter %s: %w", e.cfg.File, m.ref, a.Dir, err)
		}
	}
	m.lora = a
	return nil
}

// withLoRA returns in, the tensor named name of the model ref, with the
// model's LoRA adapter applied when it changes that tensor.
func (e *engine) withLoRA(ref, name string, in methods.Input) methods.Input {
	if t := e.models[ref].lora.Target(name); t != nil {
		return t.Apply(in)
	}
	return in
}
