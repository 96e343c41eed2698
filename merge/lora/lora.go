// Package lora applies a PEFT LoRA adapter to a model's tensors as they
// are read, the way mergekit's "model+lora" references merge the adapter
// into the model (PEFT's merge_and_unload) before merging: for each
// adapted weight W of shape [out, in],
//
//	W' = W + (B·A)·scale,   scale = lora_alpha/r (lora_alpha/√r with use_rslora)
//
// with A = lora_A [r, in] and B = lora_B [out, r]; embeddings
// (lora_embedding_A [r, vocab], lora_embedding_B [dim, r]) and
// fan-in-fan-out layers (GPT-2's Conv1D) take the transpose (B·A)ᵀ.
// Tensors the adapter stores whole (modules_to_save, trained biases)
// replace the model's.
//
// The change is computed per element in float32 (the products summed in
// float64, rounded once, then multiplied by scale), added to W in float32,
// and the engine's usual dtype handling follows.
package lora

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/mergetune/mergetune/merge/methods"
	"github.com/mergetune/mergetune/merge/safetensors"
)

// The files of a PEFT adapter directory.
const (
	ConfigFile  = "adapter_config.json"
	WeightsFile = "adapter_model.safetensors"
)

// keyPrefix starts every key of a PEFT adapter's state dict (PeftModel
// wraps LoraModel wraps the model).
const keyPrefix = "base_model.model."

// Adapter is a PEFT LoRA adapter, read into memory (in its stored dtype).
type Adapter struct {
	// Dir is the adapter directory.
	Dir     string
	targets map[string]*Target
}

// Target is the change an adapter makes to one model tensor.
type Target struct {
	// Name is the model tensor's name.
	Name string
	// Shape is the shape the model tensor must have.
	Shape []int
	// Key is the adapter key the change comes from (for messages).
	Key string

	full *factor // the tensor stored whole, replacing the model's; nil if none
	// The low-rank change (a nil when none): element (i, j) of the change
	// is Σ_k L[i][k]·R[k][j]·scale. Unless transposed, L = B and R = A;
	// transposed, L = Aᵀ and R = Bᵀ.
	a, b       *factor
	rank       int
	scale      float32
	transposed bool
}

// factor is one stored tensor.
type factor struct {
	key   string
	dtype safetensors.DType
	shape []int
	data  []byte
}

// read converts elements [off, off+len(dst)) to float32.
func (f *factor) read(off int, dst []float32) {
	s := f.dtype.Size()
	safetensors.ToFloat32(f.dtype, f.data[off*s:(off+len(dst))*s], dst)
}

// adapterConfig holds the fields of adapter_config.json that matter for
// merging.
type adapterConfig struct {
	PeftType         string          `json:"peft_type"`
	R                *float64        `json:"r"`
	LoraAlpha        *float64        `json:"lora_alpha"`
	UseRSLoRA        bool            `json:"use_rslora"`
	UseDoRA          bool            `json:"use_dora"`
	FanInFanOut      bool            `json:"fan_in_fan_out"`
	RankPattern      json.RawMessage `json:"rank_pattern"`
	AlphaPattern     json.RawMessage `json:"alpha_pattern"`
	LayerReplication json.RawMessage `json:"layer_replication"`
}

// pattern is one entry of rank_pattern or alpha_pattern, in file order.
type pattern struct {
	key   string
	re    *regexp.Regexp
	value float64
}

// Open reads the PEFT LoRA adapter in dir: adapter_config.json and
// adapter_model.safetensors.
func Open(dir string) (*Adapter, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("LoRA adapter directory %s does not exist", dir)
	case err != nil:
		return nil, fmt.Errorf("LoRA adapter %s: %w", dir, err)
	case !st.IsDir():
		return nil, fmt.Errorf("LoRA adapter %s is not a directory", dir)
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("LoRA adapter %s: %w", dir, err)
	}
	var cfg adapterConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	rankPat, alphaPat, err := cfg.check(cfgPath)
	if err != nil {
		return nil, err
	}
	weights := filepath.Join(dir, WeightsFile)
	if _, err := os.Stat(weights); err != nil {
		if _, berr := os.Stat(filepath.Join(dir, "adapter_model.bin")); berr == nil {
			return nil, fmt.Errorf("LoRA adapter %s holds adapter_model.bin only; mergetune reads %s (convert it with safetensors)", dir, WeightsFile)
		}
		return nil, fmt.Errorf("LoRA adapter %s: %w", dir, err)
	}
	factors, err := readFactors(weights)
	if err != nil {
		return nil, err
	}
	a := &Adapter{Dir: dir, targets: map[string]*Target{}}
	if err := a.build(weights, &cfg, factors, rankPat, alphaPat); err != nil {
		return nil, err
	}
	return a, nil
}

// check validates the configuration and parses its patterns.
func (c *adapterConfig) check(path string) (rank, alpha []pattern, err error) {
	switch {
	case c.PeftType != "" && c.PeftType != "LORA":
		return nil, nil, fmt.Errorf("%s: peft_type %q is not supported (only LORA adapters can be applied)", path, c.PeftType)
	case c.UseDoRA:
		return nil, nil, fmt.Errorf("%s: use_dora: true is not supported (DoRA rescales the merged weight; only plain LoRA adapters can be applied)", path)
	case c.R == nil:
		return nil, nil, fmt.Errorf("%s: missing r (the LoRA rank)", path)
	case c.LoraAlpha == nil:
		return nil, nil, fmt.Errorf("%s: missing lora_alpha", path)
	}
	if err := checkValue(true, *c.R); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := checkValue(false, *c.LoraAlpha); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if l := bytes.TrimSpace(c.LayerReplication); len(l) > 0 && string(l) != "null" && string(l) != "[]" {
		return nil, nil, fmt.Errorf("%s: layer_replication = %s is not supported", path, l)
	}
	if rank, err = parsePatterns(path, "rank_pattern", c.RankPattern); err != nil {
		return nil, nil, err
	}
	if alpha, err = parsePatterns(path, "alpha_pattern", c.AlphaPattern); err != nil {
		return nil, nil, err
	}
	return rank, alpha, nil
}

// parsePatterns reads a {pattern: number} object in file order; PEFT
// takes the first pattern p for which the module name matches
// (.*\.)?(p)$.
func parsePatterns(path, field string, raw json.RawMessage) ([]pattern, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%s: %s must be an object of pattern: number", path, field)
	}
	var out []pattern
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, field, err)
		}
		key, _ := tok.(string)
		var v float64
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: %s[%q]: not a number: %w", path, field, key, err)
		}
		if err := checkValue(field == "rank_pattern", v); err != nil {
			return nil, fmt.Errorf("%s: %s[%q]: %w", path, field, key, err)
		}
		re, err := regexp.Compile(`^(.*\.)?(` + key + `)$`)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: pattern %q: %w", path, field, key, err)
		}
		out = append(out, pattern{key: key, re: re, value: v})
	}
	return out, nil
}

// checkValue checks a rank (a positive whole number) or an alpha (a
// finite number).
func checkValue(rank bool, v float64) error {
	switch {
	case rank && (!(v >= 1) || v != math.Trunc(v) || v > math.MaxInt32):
		return fmt.Errorf("r = %v is not a positive whole number", v)
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("lora_alpha = %v is not a finite number", v)
	}
	return nil
}

// lookup returns the value of the first pattern matching module.
func lookup(pats []pattern, module string, def float64) float64 {
	for _, p := range pats {
		if p.re.MatchString(module) {
			return p.value
		}
	}
	return def
}

// readFactors copies every tensor of a safetensors file into memory, so
// that no later read can fault on a file changed under the merge.
func readFactors(path string) (map[string]*factor, error) {
	f, err := safetensors.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]*factor{}
	err = f.Guard(func() {
		for _, t := range f.Tensors() {
			out[t.Name] = &factor{key: t.Name, dtype: t.DType, shape: slices.Clone(t.Shape), data: bytes.Clone(t.Bytes())}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	for k, fa := range out {
		switch fa.dtype {
		case safetensors.F32, safetensors.F16, safetensors.BF16:
		default:
			return nil, fmt.Errorf("%s: tensor %s has dtype %s; a LoRA adapter must hold float tensors", path, k, fa.dtype)
		}
	}
	return out, nil
}

// The suffixes of the low-rank factors of a module.
var factorSuffixes = []struct {
	suffix string
	isA    bool
	embed  bool
}{
	{".lora_A.weight", true, false},
	{".lora_B.weight", false, false},
	{".lora_embedding_A", true, true},
	{".lora_embedding_B", false, true},
}

// build pairs the factors into targets, named as PEFT names them.
func (a *Adapter) build(path string, cfg *adapterConfig, factors map[string]*factor, rankPat, alphaPat []pattern) error {
	type pair struct {
		a, b  *factor
		embed bool
	}
	pairs := map[string]*pair{} // by module name
	keys := make([]string, 0, len(factors))
	for k := range factors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := factors[k]
		name, ok := strings.CutPrefix(k, keyPrefix)
		if !ok {
			return fmt.Errorf("%s: key %s does not start with %q: not a PEFT adapter of a transformers model", path, k, keyPrefix)
		}
		matched := false
		for _, s := range factorSuffixes {
			module, ok := strings.CutSuffix(name, s.suffix)
			if !ok {
				continue
			}
			matched = true
			p := pairs[module]
			if p == nil {
				p = &pair{embed: s.embed}
				pairs[module] = p
			}
			if s.isA {
				p.a = f
			} else {
				p.b = f
			}
		}
		if matched {
			continue
		}
		if strings.Contains(name, "lora_") {
			return fmt.Errorf("%s: key %s is not supported (only lora_A/lora_B, lora_embedding_A/B and whole tensors can be applied)", path, k)
		}
		// A tensor stored whole: modules_to_save, a trained bias, or an
		// embedding saved with save_embedding_layers (as base_layer).
		tname := strings.Replace(name, ".base_layer.", ".", 1)
		t := a.target(tname, k)
		t.full = f
		t.Shape = slices.Clone(f.shape)
	}
	modules := make([]string, 0, len(pairs))
	for m := range pairs {
		modules = append(modules, m)
	}
	slices.Sort(modules)
	for _, module := range modules {
		p := pairs[module]
		switch {
		case p.a == nil:
			return fmt.Errorf("%s: %s has lora_B but no lora_A", path, module)
		case p.b == nil:
			return fmt.Errorf("%s: %s has lora_A but no lora_B", path, module)
		case len(p.a.shape) != 2 || len(p.b.shape) != 2:
			return fmt.Errorf("%s: %s: lora_A %v and lora_B %v must be matrices", path, module, p.a.shape, p.b.shape)
		}
		r := int(lookup(rankPat, module, *cfg.R))
		alpha := lookup(alphaPat, module, *cfg.LoraAlpha)
		// A is [r, in] and B is [out, r] for linear layers; for embeddings A is
		// [r, vocab] and B is [dim, r].
		if p.a.shape[0] != r || p.b.shape[1] != r {
			return fmt.Errorf("%s: %s: lora_A %v and lora_B %v do not have rank r = %d", path, module, p.a.shape, p.b.shape, r)
		}
		t := a.target(module+".weight", p.a.key)
		t.a, t.b, t.rank = p.a, p.b, r
		t.transposed = p.embed || cfg.FanInFanOut
		if cfg.UseRSLoRA {
			t.scale = float32(alpha / math.Sqrt(float64(r)))
		} else {
			t.scale = float32(alpha / float64(r))
		}
		shape := t.lowRankShape()
		if t.full != nil && !slices.Equal(t.full.shape, shape) {
			return fmt.Errorf("%s: %s: the stored tensor %v and the low-rank change %v differ in shape", path, module, t.full.shape, shape)
		}
		t.Shape = shape
	}
	return nil
}

// target returns the target for a model tensor, creating it.
func (a *Adapter) target(name, key string) *Target {
	t := a.targets[name]
	if t == nil {
		t = &Target{Name: name, Key: key}
		a.targets[name] = t
	}
	return t
}

// lowRankShape is the shape of the low-rank change.
func (t *Target) lowRankShape() []int {
	if t.transposed {
		return []int{t.a.shape[1], t.b.shape[0]}
	}
	return []int{t.b.shape[0], t.a.shape[1]}
}

// Fit settles the orientation against the model tensor's shape and
// checks it. PEFT applies fan_in_fan_out by the layer's type (only layers
// stored [in, out], like GPT-2's Conv1D, take (B·A)ᵀ), so a non-square
// change that fits the tensor only the other way round is turned to fit;
// a square one follows the adapter's fan_in_fan_out. It returns an error
// naming the adapter key when the shapes differ.
func (t *Target) Fit(shape []int) error {
	if t.full != nil && !slices.Equal(t.full.shape, shape) {
		return fmt.Errorf("adapter tensor %s replaces %s with shape %v, but the model's has shape %v", t.full.key, t.Name, t.full.shape, shape)
	}
	if t.a == nil {
		return nil
	}
	want := t.lowRankShape()
	if !slices.Equal(want, shape) && !t.embedding() && len(shape) == 2 && want[0] == shape[1] && want[1] == shape[0] {
		t.transposed = !t.transposed
		want = t.lowRankShape()
	}
	if !slices.Equal(want, shape) {
		return fmt.Errorf("adapter tensors %s and %s change %s by a %v matrix, but the model's has shape %v", t.a.key, t.b.key, t.Name, want, shape)
	}
	t.Shape = want
	return nil
}

// embedding reports whether the change is an embedding's (always (B·A)ᵀ).
func (t *Target) embedding() bool { return strings.Contains(t.a.key, "lora_embedding_") }

// Targets lists the adapter's targets by model tensor name.
func (a *Adapter) Targets() []*Target {
	out := make([]*Target, 0, len(a.targets))
	for _, t := range a.targets {
		out = append(out, t)
	}
	slices.SortFunc(out, func(x, y *Target) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// Target returns the change to the model tensor name, or nil when the
// adapter leaves it alone. A nil Adapter changes nothing.
func (a *Adapter) Target(name string) *Target {
	if a == nil {
		return nil
	}
	return a.targets[name]
}

// Apply returns in (the model tensor, read as float32) with the change
// applied. The result is safe for concurrent reads.
func (t *Target) Apply(in methods.Input) methods.Input {
	return &applied{t: t, in: in}
}

// applied is a model tensor with a target's change applied.
type applied struct {
	t  *Target
	in methods.Input
}

// Read implements methods.Input.
func (p *applied) Read(off int, dst []float32) {
	t := p.t
	if t.full != nil {
		t.full.read(off, dst)
	} else {
		p.in.Read(off, dst)
	}
	if t.a == nil {
		return
	}
	cols := 1
	if len(t.Shape) == 2 {
		cols = t.Shape[1]
	}
	r := t.rank
	lrow := make([]float32, r)
	seg := min(len(dst), cols)
	rbuf := make([]float32, r*seg)
	acc := make([]float64, seg)
	for len(dst) > 0 {
		i, j0 := off/cols, off%cols
		m := min(len(dst), cols-j0)
		t.left(i, lrow)
		t.right(j0, m, rbuf[:r*m])
		clear(acc[:m])
		for k, l := range lrow {
			lk := float64(l)
			rk := rbuf[k*m : (k+1)*m]
			for j, v := range rk {
				acc[j] += lk * float64(v)
			}
		}
		for j := range m {
			dst[j] += float32(acc[j]) * t.scale
		}
		dst, off = dst[m:], off+m
	}
}

// left fills l with row i of L.
func (t *Target) left(i int, l []float32) {
	if !t.transposed {
		t.b.read(i*t.rank, l) // B [rows, r]
		return
	}
	rows := t.a.shape[1] // A [r, rows]
	for k := range l {
		t.a.read(k*rows+i, l[k:k+1])
	}
}

// right fills dst (r rows of m) with columns [j0, j0+m) of R.
func (t *Target) right(j0, m int, dst []float32) {
	r := t.rank
	if !t.transposed {
		cols := t.a.shape[1] // A [r, cols]
		for k := range r {
			t.a.read(k*cols+j0, dst[k*m:(k+1)*m])
		}
		return
	}
	// B [cols, r]: read rows j0..j0+m and transpose.
	tmp := make([]float32, m*r)
	t.b.read(j0*r, tmp)
	for j := range m {
		for k := range r {
			dst[k*m+j] = tmp[j*r+k]
		}
	}
}
