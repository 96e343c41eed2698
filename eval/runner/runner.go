// Package runner is the built-in evaluator: it serves tiny
// llama-architecture checkpoints in-process, in pure Go.
//
// Open reads a Hugging Face model directory: config.json (LlamaForCausalLM),
// a byte-level BPE tokenizer.json and safetensors weights (F32, F16 or BF16;
// single file or sharded), converted to float32 in memory. The forward pass
// follows the Hugging Face llama semantics in float32: RMSNorm, rotary
// position embeddings in the "rotate_half" convention, causal multi-head
// attention with grouped key/value heads, a SwiGLU feed-forward block, a
// final norm and the (possibly tied) output head.
//
// Models are meant to be small (see Options.MaxParams): there is no
// quantization and no SIMD, only plain loops that the Go compiler handles
// well, with matrix products split across goroutines when large enough.
package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/chat"
	"github.com/mergetune/mergetune/merge/safetensors"
)

// DefaultMaxParams is the parameter limit used when Options.MaxParams is 0.
const DefaultMaxParams = 200_000_000

// Options configure the built-in runner.
type Options struct {
	// MaxParams is the largest model, in parameters, that Open accepts
	// (0: DefaultMaxParams).
	MaxParams int64
	// Threads is the number of goroutines a large matrix product is split
	// across (0: runtime.GOMAXPROCS(0)).
	Threads int
}

// Backend is the built-in eval.Backend.
type Backend struct {
	opt Options
}

var _ eval.Backend = (*Backend)(nil)

// New returns a built-in runner backend.
func New(opt Options) *Backend {
	if opt.MaxParams <= 0 {
		opt.MaxParams = DefaultMaxParams
	}
	if opt.Threads <= 0 {
		opt.Threads = runtime.GOMAXPROCS(0)
	}
	return &Backend{opt: opt}
}

// Open implements eval.Backend.
func (b *Backend) Open(ctx context.Context, dir string) (eval.Model, error) {
	return b.OpenModel(ctx, dir)
}

// config holds the llama hyper-parameters of config.json.
type config struct {
	hidden, inter, layers, heads, kvHeads, headDim, vocab, maxPos int
	eps, theta                                                    float64
	tied                                                          bool
	bos                                                           int
	eos                                                           []int
}

type configJSON struct {
	Architectures []string        `json:"architectures"`
	ModelType     string          `json:"model_type"`
	Hidden        int             `json:"hidden_size"`
	Inter         int             `json:"intermediate_size"`
	Layers        int             `json:"num_hidden_layers"`
	Heads         int             `json:"num_attention_heads"`
	KVHeads       *int            `json:"num_key_value_heads"`
	HeadDim       *int            `json:"head_dim"`
	Vocab         int             `json:"vocab_size"`
	Eps           *float64        `json:"rms_norm_eps"`
	Theta         *float64        `json:"rope_theta"`
	MaxPos        *int            `json:"max_position_embeddings"`
	Tied          *bool           `json:"tie_word_embeddings"`
	HiddenAct     string          `json:"hidden_act"`
	AttnBias      bool            `json:"attention_bias"`
	MLPBias       bool            `json:"mlp_bias"`
	RopeScaling   json.RawMessage `json:"rope_scaling"`
	BOS           *int            `json:"bos_token_id"`
	EOS           json.RawMessage `json:"eos_token_id"`
}

func readConfig(path string) (config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return config{}, fmt.Errorf("runner: read %s: %w", path, err)
	}
	var j configJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return config{}, fmt.Errorf("runner: parse %s: %w", path, err)
	}
	if !slices.Contains(j.Architectures, "LlamaForCausalLM") && j.ModelType != "llama" {
		arch := strings.Join(j.Architectures, ", ")
		if arch == "" {
			arch = j.ModelType
		}
		return config{}, fmt.Errorf("runner: %s: architecture %q is not supported (llama only)", path, arch)
	}
	bad := func(format string, args ...any) (config, error) {
		return config{}, fmt.Errorf("runner: %s: %s", path, fmt.Sprintf(format, args...))
	}
	if j.HiddenAct != "" && j.HiddenAct != "silu" {
		return bad("hidden_act %q is not supported (silu only)", j.HiddenAct)
	}
	if j.AttnBias || j.MLPBias {
		return bad("attention_bias and mlp_bias are not supported")
	}
	if r := strings.TrimSpace(string(j.RopeScaling)); r != "" && r != "null" {
		return bad("rope_scaling %s is not supported", r)
	}
	c := config{
		hidden: j.Hidden, inter: j.Inter, layers: j.Layers, heads: j.Heads, vocab: j.Vocab,
		kvHeads: j.Heads, eps: 1e-6, theta: 10000, maxPos: 2048, bos: -1,
	}
	if j.Heads > 0 {
		c.headDim = j.Hidden / j.Heads
	}
	if j.KVHeads != nil {
		c.kvHeads = *j.KVHeads
	}
	if j.HeadDim != nil {
		c.headDim = *j.HeadDim
	}
	if j.Eps != nil {
		c.eps = *j.Eps
	}
	if j.Theta != nil {
		c.theta = *j.Theta
	}
	if j.MaxPos != nil {
		c.maxPos = *j.MaxPos
	}
	if j.Tied != nil {
		c.tied = *j.Tied
	}
	if j.BOS != nil {
		c.bos = *j.BOS
	}
	if len(j.EOS) > 0 {
		var one int
		if json.Unmarshal(j.EOS, &one) == nil {
			c.eos = []int{one}
		} else {
			_ = json.Unmarshal(j.EOS, &c.eos) // a list, or null
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"hidden_size", c.hidden}, {"intermediate_size", c.inter}, {"num_hidden_layers", c.layers},
		{"num_attention_heads", c.heads}, {"num_key_value_heads", c.kvHeads}, {"head_dim", c.headDim},
		{"vocab_size", c.vocab}, {"max_position_embeddings", c.maxPos},
	} {
		if f.v <= 0 {
			return bad("%s is %d; want a positive value", f.name, f.v)
		}
	}
	if c.heads%c.kvHeads != 0 {
		return bad("num_attention_heads %d is not a multiple of num_key_value_heads %d", c.heads, c.kvHeads)
	}
	if c.headDim%2 != 0 {
		return bad("head_dim %d is odd", c.headDim)
	}
	if !(c.eps > 0) || !(c.theta > 0) {
		return bad("rms_norm_eps %g and rope_theta %g must be positive", c.eps, c.theta)
	}
	return c, nil
}

// params returns the parameter count of the checkpoint (lm_head counted
// only when it is a separate tensor).
func (c config) params(separateHead bool) int64 {
	h, q, kv := int64(c.hidden), int64(c.heads*c.headDim), int64(c.kvHeads*c.headDim)
	perLayer := 2*h + h*q + 2*h*kv + q*h + 3*h*int64(c.inter)
	n := int64(c.vocab)*h + int64(c.layers)*perLayer + h
	if separateHead {
		n += int64(c.vocab) * h
	}
	return n
}

// OpenModel is Open returning the concrete *Model.
func (b *Backend) OpenModel(ctx context.Context, dir string) (*Model, error) {
	c, err := readConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	tok, err := loadTokenizer(dir, c.vocab, c.bos, c.eos)
	if err != nil {
		return nil, err
	}
	st, err := safetensors.OpenModel(dir)
	if err != nil {
		return nil, fmt.Errorf("runner: open weights: %w", err)
	}
	defer st.Close()
	_, hasHead := st.Tensor("lm_head.weight")
	separateHead := hasHead && !c.tied
	n := c.params(separateHead)
	if n > b.opt.MaxParams {
		return nil, fmt.Errorf("runner: %s: model has %d parameters, over the built-in runner's limit of %d", dir, n, b.opt.MaxParams)
	}
	digest, err := weightsDigest(dir, st)
	if err != nil {
		return nil, err
	}
	m := &Model{cfg: c, tok: tok, params: n, threads: b.opt.Threads, digest: digest}
	m.chat, m.chatErr = chat.FromModelDir(dir) // needed only by chat tasks: FormatChat reports the error
	load := func(name string, shape ...int) ([]float32, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, ok := st.Tensor(name)
		if !ok {
			return nil, fmt.Errorf("runner: %s: missing tensor %q", dir, name)
		}
		if !slices.Equal(t.Shape, shape) {
			return nil, fmt.Errorf("runner: %s: tensor %q has shape %v; want %v", dir, name, t.Shape, shape)
		}
		return t.Float32s(), nil
	}
	H, Q, KV := c.hidden, c.heads*c.headDim, c.kvHeads*c.headDim
	if m.embed, err = load("model.embed_tokens.weight", c.vocab, H); err != nil {
		return nil, err
	}
	m.layers = make([]layer, c.layers)
	for i := range m.layers {
		l := &m.layers[i]
		p := fmt.Sprintf("model.layers.%d.", i)
		for _, w := range []struct {
			dst   *[]float32
			name  string
			shape []int
		}{
			{&l.attnNorm, "input_layernorm.weight", []int{H}},
			{&l.wq, "self_attn.q_proj.weight", []int{Q, H}},
			{&l.wk, "self_attn.k_proj.weight", []int{KV, H}},
			{&l.wv, "self_attn.v_proj.weight", []int{KV, H}},
			{&l.wo, "self_attn.o_proj.weight", []int{H, Q}},
			{&l.ffnNorm, "post_attention_layernorm.weight", []int{H}},
			{&l.wgate, "mlp.gate_proj.weight", []int{c.inter, H}},
			{&l.wup, "mlp.up_proj.weight", []int{c.inter, H}},
			{&l.wdown, "mlp.down_proj.weight", []int{H, c.inter}},
		} {
			if *w.dst, err = load(p+w.name, w.shape...); err != nil {
				return nil, err
			}
		}
	}
	if m.norm, err = load("model.norm.weight", H); err != nil {
		return nil, err
	}
	m.head = m.embed
	if separateHead {
		if m.head, err = load("lm_head.weight", c.vocab, H); err != nil {
			return nil, err
		}
	}
	m.initRope()
	return m, nil
}

// weightsDigest hashes what decides the model's answers: every tensor
// (name, dtype, shape, bytes) in name order, config.json and the tokenizer.
func weightsDigest(dir string, st *safetensors.Model) (string, error) {
	h := sha256.New()
	names := st.Names()
	sort.Strings(names)
	for _, n := range names {
		t, _ := st.Tensor(n)
		fmt.Fprintf(h, "%s %s %v %d\n", n, t.DType, t.Shape, len(t.Bytes()))
		h.Write(t.Bytes())
	}
	for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("runner: read %s: %w", filepath.Join(dir, f), err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
