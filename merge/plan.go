package merge

import (
	"fmt"

	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/merge/methods"
	"github.com/mergetune/mergetune/merge/safetensors"
)

// input is one source's tensor feeding an output tensor.
type input struct {
	source int    // index of the source in its slice
	ref    string // model reference
	name   string // input tensor name (the one per-model filters see)
	tensor *safetensors.Tensor
}

// task is the merge of one output tensor.
type task struct {
	name   string
	slice  int
	t      float64
	inputs []input
	shape  []int
	dtype  safetensors.DType
	job    *methods.Job
}

func (t *task) len() int {
	n := 1
	for _, d := range t.shape {
		n *= d
	}
	return n
}

// plan lists the output tensors: pre-weights (embeddings) from the first
// slice's sources at t=0, the layers of every slice in order with
// t = idx/(n-1), and post-weights (final norm, lm_head) from the last
// slice's sources at t=0.
func (e *engine) plan(slices []config.Slice) ([]*task, int, error) {
	var tasks []*task
	outLayer := 0
	var pre, post []*task
	for si, s := range slices {
		if len(s.Sources) == 0 {
			return nil, 0, fmt.Errorf("%s: slices[%d] has no sources", e.cfg.File, si)
		}
		n := s.Sources[0].LayerRange[1] - s.Sources[0].LayerRange[0]
		for k, src := range s.Sources {
			if m := src.LayerRange[1] - src.LayerRange[0]; m != n {
				return nil, 0, fmt.Errorf("%s: slices[%d].sources[%d] (%s) spans %d layers, but sources[0] spans %d: all sources of a slice must span the same number of layers",
					e.cfg.File, si, k, src.Model, m, n)
			}
			if have := e.models[src.Model].layers; n > 0 && src.LayerRange[1] > have {
				return nil, 0, fmt.Errorf("%s: slices[%d].sources[%d].layer_range [%d, %d] exceeds the %d layers of %s",
					e.cfg.File, si, k, src.LayerRange[0], src.LayerRange[1], have, src.Model)
			}
		}
		for idx := 0; idx < n; idx++ {
			t := 1.0
			if n > 1 {
				t = float64(idx) / float64(n-1)
			}
			ref := e.models[s.Sources[0].Model]
			inLayer := s.Sources[0].LayerRange[0] + idx
			for _, lt := range ref.layerTensors[inLayer] {
				tk := &task{name: layerTensorName(lt.prefix, outLayer, lt.suffix), slice: si, t: t}
				for k, src := range s.Sources {
					name := layerTensorName(lt.prefix, src.LayerRange[0]+idx, lt.suffix)
					in, err := e.lookup(src.Model, name, k)
					if err != nil {
						return nil, 0, err
					}
					tk.inputs = append(tk.inputs, in)
				}
				tasks = append(tasks, tk)
			}
			outLayer++
		}
	}
	first, last := 0, len(slices)-1
	for _, name := range e.outsideNames(slices) {
		si := last
		if isPreWeight(name) {
			si = first
		}
		tk := &task{name: name, slice: si, t: 0}
		for k, src := range slices[si].Sources {
			in, err := e.lookup(src.Model, name, k)
			if err != nil {
				return nil, 0, err
			}
			tk.inputs = append(tk.inputs, in)
		}
		if si == first {
			pre = append(pre, tk)
		} else {
			post = append(post, tk)
		}
	}
	all := append(append(pre, tasks...), post...)
	return all, outLayer, nil
}

// outsideNames lists the tensors outside the layers found in the sources
// of the first and last slices, in file order of the first model that has
// them. lm_head appears only when some model has it (tied heads).
func (e *engine) outsideNames(slices []config.Slice) []string {
	seen := map[string]bool{}
	var names []string
	add := func(s config.Slice, pre bool) {
		for _, src := range s.Sources {
			for _, n := range e.models[src.Model].outside {
				if isPreWeight(n) == pre && !seen[n] {
					seen[n] = true
					names = append(names, n)
				}
			}
		}
	}
	add(slices[0], true)
	add(slices[len(slices)-1], false)
	return names
}

// lookup finds tensor name in a model, falling back from a missing
// lm_head to the tied embedding.
func (e *engine) lookup(ref, name string, source int) (input, error) {
	m := e.models[ref]
	if t, ok := m.st.Tensor(name); ok {
		return input{source: source, ref: ref, name: name, tensor: t}, nil
	}
	if tied := tiedName(name); tied != "" {
		if t, ok := m.st.Tensor(tied); ok {
			return input{source: source, ref: ref, name: tied, tensor: t}, nil
		}
	}
	return input{}, fmt.Errorf("tensor %s is missing in model %s (%s)", name, ref, m.dir)
}

// tiedName is the tensor a missing one is tied to (lm_head → embeddings).
func tiedName(name string) string {
	switch name {
	case "lm_head.weight":
		return "model.embed_tokens.weight"
	}
	return ""
}

// layerTensor is one tensor of a layer, as prefix + index + suffix.
type layerTensor struct{ prefix, suffix string }

// indexLayers groups a model's tensors into layers and outside tensors.
func indexLayers(st *safetensors.Model) (layers map[int][]layerTensor, outside []string, count int) {
	layers = map[int][]layerTensor{}
	for _, n := range st.Names() {
		p, i, s, ok := splitLayer(n)
		if !ok {
			outside = append(outside, n)
			continue
		}
		layers[i] = append(layers[i], layerTensor{p, s})
		count = max(count, i+1)
	}
	return layers, outside, count
}
