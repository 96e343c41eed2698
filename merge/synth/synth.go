// Package synth generates llama-shaped Hugging Face checkpoints filled with
// deterministic pseudo-random weights, for tests and benchmarks of the merge
// engine: a base model, and fine-tunes of it whose task vectors share a
// common component (so that they are positively correlated), differ by an
// individual one and carry a sparse set of large outliers.
//
// Every value is a pure function of (seed, fine-tune index, tensor name,
// element index): tensors are computed in parallel over chunks with a
// counter-based generator (splitmix64) and written chunk by chunk, so that a
// 1.1B-parameter model is generated in seconds without ever being held in
// memory, and the output is identical for a seed whatever the number of
// CPUs.
package synth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sync/errgroup"

	"github.com/mergetune/mergetune/merge/safetensors"
)

// Shape is the architecture of a llama-style model.
type Shape struct {
	// Hidden is the hidden size (hidden_size).
	Hidden int
	// Layers is the number of decoder layers (num_hidden_layers).
	Layers int
	// Intermediate is the MLP width (intermediate_size).
	Intermediate int
	// Vocab is the vocabulary size (vocab_size).
	Vocab int
	// Heads is the number of attention heads (num_attention_heads).
	Heads int
	// KVHeads is the number of key/value heads (num_key_value_heads).
	KVHeads int
	// TiedEmbeddings ties lm_head to the input embeddings: no
	// lm_head.weight is written (tie_word_embeddings).
	TiedEmbeddings bool
}

// TinyLlama returns the shape of TinyLlama-1.1B: about 1.1B parameters,
// 2.2 GB in bfloat16.
func TinyLlama() Shape {
	return Shape{Hidden: 2048, Layers: 22, Intermediate: 5632, Vocab: 32000, Heads: 32, KVHeads: 4}
}

// Pico returns a tiny shape for tests (about 25k parameters).
func Pico() Shape {
	return Shape{Hidden: 32, Layers: 2, Intermediate: 48, Vocab: 64, Heads: 4, KVHeads: 2}
}

// Validate reports whether the shape describes a well-formed model.
func (s Shape) Validate() error {
	switch {
	case s.Hidden <= 0, s.Layers <= 0, s.Intermediate <= 0, s.Vocab <= 0, s.Heads <= 0, s.KVHeads <= 0:
		return fmt.Errorf("shape %+v: every size must be positive", s)
	case s.Hidden%s.Heads != 0:
		return fmt.Errorf("shape %+v: hidden size %d is not a multiple of the %d heads", s, s.Hidden, s.Heads)
	case s.Heads%s.KVHeads != 0:
		return fmt.Errorf("shape %+v: %d heads are not a multiple of the %d key/value heads", s, s.Heads, s.KVHeads)
	}
	return nil
}

// HeadDim returns the size of one attention head.
func (s Shape) HeadDim() int { return s.Hidden / s.Heads }

// Specs returns the tensors of a model of this shape, in the order they are
// written, with the exact Hugging Face llama names, and dtype d.
func (s Shape) Specs(d safetensors.DType) []safetensors.Spec {
	h, kv, in := s.Hidden, s.KVHeads*s.HeadDim(), s.Intermediate
	specs := []safetensors.Spec{{Name: "model.embed_tokens.weight", DType: d, Shape: []int{s.Vocab, h}}}
	for l := range s.Layers {
		p := "model.layers." + strconv.Itoa(l) + "."
		specs = append(specs,
			safetensors.Spec{Name: p + "input_layernorm.weight", DType: d, Shape: []int{h}},
			safetensors.Spec{Name: p + "self_attn.q_proj.weight", DType: d, Shape: []int{h, h}},
			safetensors.Spec{Name: p + "self_attn.k_proj.weight", DType: d, Shape: []int{kv, h}},
			safetensors.Spec{Name: p + "self_attn.v_proj.weight", DType: d, Shape: []int{kv, h}},
			safetensors.Spec{Name: p + "self_attn.o_proj.weight", DType: d, Shape: []int{h, h}},
			safetensors.Spec{Name: p + "post_attention_layernorm.weight", DType: d, Shape: []int{h}},
			safetensors.Spec{Name: p + "mlp.gate_proj.weight", DType: d, Shape: []int{in, h}},
			safetensors.Spec{Name: p + "mlp.up_proj.weight", DType: d, Shape: []int{in, h}},
			safetensors.Spec{Name: p + "mlp.down_proj.weight", DType: d, Shape: []int{h, in}},
		)
	}
	specs = append(specs, safetensors.Spec{Name: "model.norm.weight", DType: d, Shape: []int{h}})
	if !s.TiedEmbeddings {
		specs = append(specs, safetensors.Spec{Name: "lm_head.weight", DType: d, Shape: []int{s.Vocab, h}})
	}
	return specs
}

// Params returns the number of parameters of a model of this shape.
func (s Shape) Params() int64 {
	var n int64
	for _, sp := range s.Specs(safetensors.F32) {
		n += numel(sp.Shape)
	}
	return n
}

func numel(shape []int) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= int64(d)
	}
	return n
}

// Defaults of Options.
const (
	// DefaultNoise is the default standard deviation of a fine-tune's delta.
	DefaultNoise = 0.01
	// DefaultOutliers is the default fraction of outlier elements.
	DefaultOutliers = 0.001
	// OutlierScale is how much larger an outlier's delta is.
	OutlierScale = 10
	// InitStd is the standard deviation of the base weights (the llama
	// initializer_range); norm weights are 1 plus noise of this size.
	InitStd = 0.02
)

// Options describe a generated model.
type Options struct {
	// Shape is the architecture.
	Shape Shape
	// DType is the element type written; "" means BF16.
	DType safetensors.DType
	// Seed seeds the base weights and the component of the fine-tunes'
	// deltas that they share.
	Seed uint64
	// ShardSize is the largest shard in bytes; 0 writes one file.
	ShardSize int64
	// Noise is the standard deviation of a fine-tune's delta (outliers
	// aside); 0 means DefaultNoise. Half of its variance is shared by all
	// fine-tunes of a seed, half is individual, so two fine-tunes' deltas
	// have a correlation of about 0.5.
	Noise float64
	// Outliers is the fraction of a fine-tune's delta elements that are
	// OutlierScale times larger; 0 means DefaultOutliers, negative means
	// none.
	Outliers float64
}

// withDefaults fills the zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if o.DType == "" {
		o.DType = safetensors.BF16
	}
	if !o.DType.Valid() {
		return o, fmt.Errorf("unsupported dtype %q", o.DType)
	}
	if err := o.Shape.Validate(); err != nil {
		return o, err
	}
	if o.Noise == 0 {
		o.Noise = DefaultNoise
	}
	if o.Noise < 0 || math.IsNaN(o.Noise) || math.IsInf(o.Noise, 0) {
		return o, fmt.Errorf("noise %v: want a positive number", o.Noise)
	}
	if o.Outliers == 0 {
		o.Outliers = DefaultOutliers
	}
	if o.Outliers < 0 {
		o.Outliers = 0
	}
	if o.Outliers > 1 || math.IsNaN(o.Outliers) {
		return o, fmt.Errorf("outliers %v: want a fraction in [0, 1]", o.Outliers)
	}
	return o, nil
}

// Bytes returns the number of tensor bytes of a model written with opt.
func (o Options) Bytes() int64 {
	d := o.DType
	if d == "" {
		d = safetensors.BF16
	}
	return o.Shape.Params() * int64(d.Size())
}

// WriteBase writes a base model into dir (created if missing; files of the
// same names are replaced): config.json, tokenizer.json,
// tokenizer_config.json and the weights, N(0, InitStd²) and 1 + N(0,
// InitStd²) for the norm weights, seeded by opt.Seed.
func WriteBase(ctx context.Context, dir string, opt Options) error {
	return write(ctx, dir, opt, -1)
}

// WriteFineTune writes into dir a fine-tune of the base model WriteBase
// writes for opt: base + delta, delta being opt.Noise times the sum of a
// component shared by every fine-tune of opt.Seed and one individual to
// index (each of variance 1/2), made OutlierScale times larger on a
// sparse, individual set of opt.Outliers of the elements. Fine-tunes of
// different indexes are thus distinct and positively correlated.
func WriteFineTune(ctx context.Context, dir string, opt Options, index int) error {
	if index < 0 {
		return fmt.Errorf("write fine-tune into %s: negative index %d", dir, index)
	}
	return write(ctx, dir, opt, index)
}

// chunkElems is the number of elements generated per chunk.
const chunkElems = 1 << 20

type chunk struct {
	spec *safetensors.Spec
	gen  generator
	off  int
	n    int
}

// write writes a model: the base for index < 0, else fine-tune index.
func write(ctx context.Context, dir string, opt Options, index int) (err error) {
	what := "base model"
	if index >= 0 {
		what = "fine-tune " + strconv.Itoa(index)
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("write %s into %s: %w", what, dir, err)
		}
	}()
	opt, err = opt.withDefaults()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeConfig(dir, opt); err != nil {
		return err
	}
	if err := writeTokenizer(dir, opt.Shape.Vocab); err != nil {
		return err
	}
	specs := opt.Shape.Specs(opt.DType)
	w, err := safetensors.Create(dir, specs, opt.ShardSize)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	work := make(chan chunk)
	g.Go(func() error {
		defer close(work)
		for i := range specs {
			sp := &specs[i]
			gen := newGenerator(opt, index, sp.Name)
			n := int(numel(sp.Shape))
			for off := 0; off < n; off += chunkElems {
				select {
				case work <- chunk{spec: sp, gen: gen, off: off, n: min(chunkElems, n-off)}:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
		}
		return nil
	})
	for range runtime.GOMAXPROCS(0) {
		g.Go(func() error {
			var buf []float32
			for c := range work {
				if err := gctx.Err(); err != nil {
					return err
				}
				if cap(buf) < c.n {
					buf = make([]float32, chunkElems)
				}
				out := buf[:c.n]
				c.gen.fill(c.off, out)
				if err := w.WriteFloat32(c.spec.Name, c.off, out); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		w.Abort()
		for _, f := range w.Files() {
			_ = os.Remove(f)
		}
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return ctxErr
		}
		return err
	}
	return w.Close()
}
