package gguf

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ollama/ollama/convert"
	"github.com/ollama/ollama/fs/ggml"

	"github.com/mergetune/mergetune/merge/safetensors"
	"github.com/mergetune/mergetune/merge/vec"
)

// tensor is a merged tensor as Ollama's converter sees it (a
// convert.Tensor): its GGUF name, shape and storage kind. The converter
// installs its repacker on it; its data is written by the merge, so
// WriteTo writes nothing.
type tensor struct {
	entry    *entry
	repacker convert.Repacker
}

var _ convert.Tensor = (*tensor)(nil)

func (t *tensor) Name() string { return t.entry.gguf }

func (t *tensor) Shape() []uint64 {
	s := make([]uint64, len(t.entry.shape))
	for i, d := range t.entry.shape {
		s[i] = uint64(d)
	}
	return s
}

// Kind is the storage kind the converter gives a safetensors tensor of
// this name, shape and dtype (convert's tensorBase.Kind and
// safetensor.Kind, v0.17.4): float32 for vectors and a few named tensors,
// bf16 for a bf16 matrix outside the vision towers, else f16.
func (t *tensor) Kind() uint32 {
	name := t.entry.gguf
	f32 := strings.HasSuffix(name, ".ffn_gate_inp.weight") ||
		strings.HasSuffix(name, ".bias") ||
		strings.HasSuffix(name, ".shortconv.conv.weight") ||
		strings.HasSuffix(name, ".ssm_conv1d.weight") ||
		slices.Contains([]string{"token_types.weight", "v.positional_embedding_vlm", "v.tile_position_embd.weight",
			"v.pre_tile_position_embd.weight", "v.post_tile_position_embd.weight", "s.position_embd"}, name) ||
		strings.HasSuffix(name, "rel_pos_h") || strings.HasSuffix(name, "rel_pos_w") ||
		len(t.entry.shape) == 1
	if f32 {
		return uint32(ggml.TensorTypeF32)
	}
	if t.entry.dtype == safetensors.BF16 &&
		!strings.HasPrefix(name, "v.") && !strings.HasPrefix(name, "s.") && !strings.HasPrefix(name, "mm.") &&
		!strings.Contains(name, "ffn_gate_inp_shexp.weight") {
		return uint32(ggml.TensorTypeBF16)
	}
	return uint32(ggml.TensorTypeF16)
}

func (t *tensor) SetRepacker(r convert.Repacker) { t.repacker = r }

// WriteTo writes nothing: the merge writes the data (WriteFloat32).
func (t *tensor) WriteTo(io.Writer) (int64, error) { return 0, nil }

func (t *tensor) Clone() convert.Tensor {
	c := *t
	return &c
}

// storage is the GGUF type a tensor is written in: the converter's kind,
// with its 16-bit matrices in typ when set. For q8_0 it is the type
// Ollama's `create --quantize q8_0` gives the tensor of the converter's
// file (server/quantization.go's newType, v0.17.4): q8_0 for the weight
// matrices outside the vision towers, norms and a few special tensors,
// f16 for one whose rows are not whole q8_0 blocks, else unchanged.
func storage(t *tensor, typ string) (ggml.TensorType, error) {
	k := ggml.TensorType(t.Kind())
	if k == ggml.TensorTypeF32 || typ == "" {
		return k, nil
	}
	switch typ {
	case "f32":
		return ggml.TensorTypeF32, nil
	case "f16":
		return ggml.TensorTypeF16, nil
	case "bf16":
		return ggml.TensorTypeBF16, nil
	case "q8_0":
		if !quantizable(t.entry.gguf, len(t.entry.shape)) {
			return k, nil
		}
		if t.entry.cols%vec.Q8_0Block != 0 {
			return ggml.TensorTypeF16, nil
		}
		return ggml.TensorTypeQ8_0, nil
	}
	return 0, fmt.Errorf("gguf: unknown type %q", typ)
}

// quantizable reports whether Ollama's quantizer quantizes the tensor
// name of dims dimensions (server/quantization.go's newType, v0.17.4).
func quantizable(name string, dims int) bool {
	if !strings.HasSuffix(name, "weight") || dims < 2 || strings.HasPrefix(name, "v.") || strings.Contains(name, "mm.") ||
		name == "position_embd.weight" || name == "token_types.weight" {
		return false
	}
	for _, s := range []string{"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_inp_shexp.weight", "ssm_conv1d.weight",
		"shortconv.conv.weight", "time_mix_first.weight", "time_mix_w1.weight", "time_mix_w2.weight",
		"time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
		"per_layer_token_embd.weight"} {
		if strings.Contains(name, s) {
			return false
		}
	}
	return true
}

// classify asks the converter's repacker of t what it does to the data:
// a probe holding each row's index (one value per row) comes back either
// permuted (a row permutation, e.g. llama's Q/K interleave) or shifted by a
// constant (gemma's norm weights, stored as w-1). A second probe with other
// values confirms the answer. Anything else is ErrUnsupported.
func classify(t *tensor) (transform, error) {
	if t.repacker == nil {
		return transform{}, nil
	}
	e := t.entry
	rows := int(e.elems) / e.cols
	if len(e.shape) == 1 {
		rows = e.shape[0]
	}
	if rows > 1<<24 {
		return transform{}, fmt.Errorf("gguf: tensor %s: %d rows are too many to probe: %w", e.name, rows, ErrUnsupported)
	}
	shape := []uint64{uint64(rows), 1}
	if len(e.shape) == 1 {
		shape = []uint64{uint64(rows)}
	}
	probe := func(f func(int) float32) ([]float32, []float32, error) {
		in := make([]float32, rows)
		for i := range in {
			in[i] = f(i)
		}
		out, err := t.repacker(e.gguf, slices.Clone(in), slices.Clone(shape))
		if err != nil {
			return nil, nil, fmt.Errorf("gguf: tensor %s: the converter's repacker: %w", e.name, err)
		}
		if len(out) != rows {
			return nil, nil, fmt.Errorf("gguf: tensor %s: the repacker changed the size: %w", e.name, ErrUnsupported)
		}
		return in, out, nil
	}
	_, out, err := probe(func(i int) float32 { return float32(i) })
	if err != nil {
		return transform{}, err
	}
	// a permutation?
	perm := make([]int32, rows)
	inv := make([]int32, rows)
	for i := range inv {
		inv[i] = -1
	}
	isPerm := true
	for i, v := range out {
		j := int(v)
		if float32(j) != v || j < 0 || j >= rows || inv[j] >= 0 {
			isPerm = false
			break
		}
		perm[i], inv[j] = int32(j), int32(i)
	}
	if isPerm {
		in2, out2, err := probe(func(i int) float32 { return float32(rows - i) })
		if err != nil {
			return transform{}, err
		}
		for i := range out2 {
			if out2[i] != in2[perm[i]] {
				return transform{}, fmt.Errorf("gguf: tensor %s: the repacker is not a fixed row permutation: %w", e.name, ErrUnsupported)
			}
		}
		identity := true
		for i, p := range perm {
			identity = identity && int(p) == i
		}
		if identity {
			return transform{}, nil
		}
		return transform{perm: perm, inv: inv}, nil
	}
	// a constant offset?
	c := out[0] - 0
	for i, v := range out {
		if v != float32(i)+c {
			return transform{}, fmt.Errorf("gguf: tensor %s: the converter's repacker is neither a row permutation nor an offset: %w", e.name, ErrUnsupported)
		}
	}
	in2, out2, err := probe(func(i int) float32 { return 0.5 - float32(i)/4 })
	if err != nil {
		return transform{}, err
	}
	for i := range out2 {
		if out2[i] != in2[i]+c {
			return transform{}, fmt.Errorf("gguf: tensor %s: the repacker is not a fixed offset: %w", e.name, ErrUnsupported)
		}
	}
	return transform{add: c, adds: true}, nil
}

// Amend changes the converter's metadata kv where Ollama's llama.cpp
// runner (v0.17.4) refuses the converter's file:
//
//   - a llama model whose head_dim differs from hidden_size/heads gets
//     llama.rope.dimension_count = head_dim (the converter writes
//     hidden_size/heads; llama.cpp fails with "invalid n_rot",
//     ollama/ollama#8598);
//   - a byte-level BPE ("gpt2") tokenizer without merges gets an empty
//     tokenizer.ggml.merges (the converter leaves the key out; llama.cpp
//     fails with "cannot find tokenizer merges in model file").
func Amend(kv convert.KV) {
	if kv.Architecture() == "llama" {
		kl, ok := kv["llama.attention.key_length"].(uint32)
		if _, has := kv["llama.rope.dimension_count"]; ok && has {
			kv["llama.rope.dimension_count"] = kl
		}
	}
	if kv["tokenizer.ggml.model"] == "gpt2" {
		if _, ok := kv["tokenizer.ggml.merges"]; !ok {
			kv["tokenizer.ggml.merges"] = []string{}
		}
	}
}
