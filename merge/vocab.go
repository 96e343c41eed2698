package merge

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/merge/methods"
	"github.com/mergetune/mergetune/merge/tokenizer"
)

// vocabulary is the output vocabulary of a merge that sets
// tokenizer_source or a tokenizer block: the embeddings and output heads
// of every model are remapped to it before merging, and its tokenizer
// files are written with the merge.
type vocabulary struct {
	v     *tokenizer.Vocab
	rules []tokenizer.TokenRule
	padTo int
	files *model // the model whose tokenizer files are written, edited
}

// size is the output vocab_size: the tokens, padded.
func (v *vocabulary) size() int {
	n := v.v.Size()
	if v.padTo > 0 && n%v.padTo != 0 {
		n = (n/v.padTo + 1) * v.padTo
	}
	return n
}

// buildVocab builds e.vocab from the models' tokenizer.json files when
// the config asks for a tokenizer (mergekit's BuildTokenizer). A
// tokenizer source that is not merged is located here (a path or a
// Hugging Face id); only its tokenizer and config.json are read.
func (e *engine) buildVocab(ctx context.Context) error {
	src, ok := e.cfg.VocabSource()
	if !ok {
		return nil
	}
	refs := e.cfg.ModelRefs()
	base := e.cfg.BaseModel
	if base == "" {
		base = refs[0]
	}
	spec := tokenizer.Spec{Mode: tokenizer.Union}
	switch src {
	case "base":
		spec.Mode = tokenizer.Base
	case "union":
	default:
		spec.Mode = tokenizer.Model
	}
	srcs := make([]tokenizer.Source, len(refs))
	for i, ref := range refs {
		m := e.models[ref]
		tok, err := readTokenizer(m)
		if err != nil {
			return fmt.Errorf("%s: %w", e.cfg.File, err)
		}
		size, err := m.hf.vocabSize()
		if err != nil {
			return err
		}
		srcs[i] = tokenizer.Source{Model: ref, Tok: tok, VocabSize: size}
		if ref == base {
			spec.Base = i
		}
		if ref == src {
			spec.Model = i
		}
	}
	vb := &vocabulary{files: e.models[base]}
	if spec.Mode == tokenizer.Model {
		m, ok := e.models[src]
		if !ok {
			var err error
			if m, err = e.tokenizerOnly(ctx, src); err != nil {
				return err
			}
			tok, err := readTokenizer(m)
			if err != nil {
				return fmt.Errorf("%s: %w", e.cfg.File, err)
			}
			if tok == nil {
				return fmt.Errorf("%s: tokenizer source %s (%s) has no tokenizer.json", e.cfg.File, src, m.dir)
			}
			size, err := m.hf.vocabSize()
			if err != nil {
				return err
			}
			spec.Model = len(srcs)
			srcs = append(srcs, tokenizer.Source{Model: src, Tok: tok, VocabSize: size})
		}
		vb.files = m
	}
	if t := e.cfg.Tokenizer; t != nil {
		vb.rules, vb.padTo = t.Tokens, t.PadToMultipleOf
		for _, r := range t.Tokens {
			spec.AddTokens = append(spec.AddTokens, r.Token)
		}
	}
	v, err := tokenizer.Build(srcs, spec)
	if err != nil {
		return fmt.Errorf("%s: tokenizer: %w", e.cfg.File, err)
	}
	for _, w := range v.Warnings {
		e.emit("tokenizer\x00"+w, "tokenizer: "+w)
	}
	vb.v = v
	e.vocab = vb
	return nil
}

// tokenizerOnly locates a model that only lends its tokenizer.
func (e *engine) tokenizerOnly(ctx context.Context, ref string) (*model, error) {
	base, _ := config.SplitLoRA(ref)
	dir, err := e.newLocator().dir(ctx, base)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("%s: tokenizer_source %s: %w", e.cfg.File, ref, err)
	}
	hf, err := readHFConfig(dir)
	if err != nil {
		return nil, err
	}
	return &model{ref: ref, dir: dir, hf: hf}, nil
}

// readTokenizer reads a model's tokenizer.json; nil when the model has no
// tokenizer files at all.
func readTokenizer(m *model) (*tokenizer.Tokenizer, error) {
	path := filepath.Join(m.dir, "tokenizer.json")
	data, err := readRegular(path)
	if os.IsNotExist(err) {
		if _, serr := os.Stat(filepath.Join(m.dir, "tokenizer.model")); serr == nil {
			return nil, fmt.Errorf("model %s has a sentencepiece tokenizer.model but no tokenizer.json; building a vocabulary needs the fast tokenizer's tokenizer.json (save the tokenizer with transformers to get one)", m.ref)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("model %s: read tokenizer: %w", m.ref, err)
	}
	return tokenizer.Parse(data, path)
}

// vocabKey is config.json's vocabulary size key, at the top level or in
// textConfigKey (multimodal models).
const vocabKey, textConfigKey = "vocab_size", "text_config"

// vocabSize returns config.json's vocab_size (top level, else in
// text_config), 0 when it has none.
func (c *hfConfig) vocabSize() (int, error) {
	if c == nil {
		return 0, nil
	}
	raw := c.doc.Raw(vocabKey)
	if raw == nil {
		if tc := c.doc.Raw(textConfigKey); tc != nil {
			if sub, err := parseJSONObject(tc); err == nil {
				raw = sub.Raw(vocabKey)
			}
		}
	}
	if raw == nil || string(raw) == "null" {
		return 0, nil
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s: vocab_size: expected a positive integer, got %.40s", c.path, raw)
	}
	return n, nil
}

// setVocabSize sets vocab_size where config.json holds it (a top-level
// key is added when it holds none).
func (c *hfConfig) setVocabSize(n int) error {
	if !c.doc.Has(vocabKey) {
		if tc := c.doc.Raw(textConfigKey); tc != nil {
			if sub, err := parseJSONObject(tc); err == nil && sub.Has(vocabKey) {
				if err := sub.Set(vocabKey, n); err != nil {
					return fmt.Errorf("%s: %w", c.path, err)
				}
				return c.doc.SetRaw(textConfigKey, sub.Bytes())
			}
		}
	}
	if err := c.doc.Set(vocabKey, n); err != nil {
		return fmt.Errorf("%s: %w", c.path, err)
	}
	return nil
}

// permuteEmbed reads the inputs of an embedding or output head remapped to
// the output vocabulary (mergekit's PermutedEmbeddings): each model's row
// of every output token, or for a token it lacks the row the rules give;
// padding rows hold the mean of the real ones.
func (e *engine) permuteEmbed(t *task, base string) ([]methods.Input, []int, error) {
	cast, err := e.castDType()
	if err != nil {
		return nil, nil, err
	}
	var models []string
	rows := map[string]int{}
	by := map[string]methods.Input{}
	ins := make([]methods.Input, len(t.inputs))
	hidden := -1
	for i, in := range t.inputs {
		s := in.tensor.Shape
		if len(s) != 2 {
			return nil, nil, fmt.Errorf("%s: tensor %s of %s has shape %v; a vocabulary remap needs [vocab, hidden]", e.cfg.File, t.name, in.ref, s)
		}
		if hidden >= 0 && s[1] != hidden {
			return nil, nil, fmt.Errorf("%s: tensor %s: embedding widths differ (%s has %d, %s has %d)", e.cfg.File, t.name, t.inputs[0].ref, hidden, in.ref, s[1])
		}
		hidden = s[1]
		ins[i] = e.reader(in, cast)
		if _, ok := by[in.ref]; !ok {
			by[in.ref] = ins[i]
			models = append(models, in.ref)
			rows[in.ref] = s[0]
		}
	}
	plan, warns, err := e.vocab.v.Plan(models, base, rows, e.vocab.rules, e.vocab.padTo)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: tensor %s: %w", e.cfg.File, t.name, err)
	}
	for _, w := range warns {
		e.emit("tokenizer\x00"+w, "tokenizer: "+w)
	}
	out := make([]methods.Input, len(t.inputs))
	for i, in := range t.inputs {
		out[i] = &permuted{own: ins[i], ref: in.ref, plan: plan, by: by, hidden: hidden}
	}
	return out, []int{plan.Padded, hidden}, nil
}

// permuted is one model's embedding remapped to the output vocabulary.
type permuted struct {
	own    methods.Input
	ref    string
	plan   *tokenizer.Plan
	by     map[string]methods.Input // every model's embedding, for rows it lends
	hidden int
	once   sync.Once
	mean   []float32 // the mean of the real rows (padding rows)
}

func (p *permuted) Read(off int, dst []float32) {
	h := p.hidden
	var tmp []float32
	for len(dst) > 0 {
		r, c := off/h, off%h
		n := min(len(dst), h-c)
		switch {
		case r >= p.plan.Rows:
			copy(dst[:n], p.meanRow()[c:c+n])
		case p.plan.Own(p.ref, r) >= 0:
			o := p.plan.Own(p.ref, r)
			if c == 0 { // whole rows that follow each other are read at once
				k := 1
				for (k+1)*h <= len(dst) && r+k < p.plan.Rows && p.plan.Own(p.ref, r+k) == o+k {
					k++
				}
				n = max(n, k*h)
			}
			p.own.Read(o*h+c, dst[:n])
		default:
			refs := p.plan.Default(r)
			seg := dst[:n]
			clear(seg)
			if tmp == nil {
				tmp = make([]float32, h)
			}
			for _, ref := range refs {
				p.by[ref.Model].Read(ref.Row*h+c, tmp[:n])
				for j, x := range tmp[:n] {
					seg[j] += x
				}
			}
			if len(refs) > 1 {
				inv := 1 / float32(len(refs))
				for j := range seg {
					seg[j] *= inv
				}
			}
		}
		dst, off = dst[n:], off+n
	}
}

// meanRow is the mean of the real rows, computed once.
func (p *permuted) meanRow() []float32 {
	p.once.Do(func() {
		h := p.hidden
		sum := make([]float64, h)
		buf := make([]float32, h*max(1, chunkElems/h))
		per := len(buf) / h
		for r := 0; r < p.plan.Rows; r += per {
			k := min(per, p.plan.Rows-r)
			p.Read(r*h, buf[:k*h])
			for i := range k {
				for j, x := range buf[i*h : (i+1)*h] {
					sum[j] += float64(x)
				}
			}
		}
		p.mean = make([]float32, h)
		for j, s := range sum {
			p.mean[j] = float32(s / float64(max(1, p.plan.Rows)))
		}
	})
	return p.mean
}

// writeVocab writes the tokenizer files of the output vocabulary: the
// files of the tokenizer source (the base, else the first model, or the
// named model) with tokenizer.json's added tokens (and, where tokens
// beyond vocab_size were stripped, its vocabulary and merges) and
// tokenizer_config.json's added_tokens_decoder rewritten.
func (e *engine) writeVocab(dir string) error {
	src := e.vocab.files
	out := e.vocab.v.Out
	for _, f := range tokenizerFiles() {
		if f == "tokenizer.json" || f == "tokenizer_config.json" {
			continue
		}
		if err := copyFile(filepath.Join(src.dir, f), filepath.Join(dir, f)); err != nil {
			return err
		}
	}
	path := filepath.Join(src.dir, "tokenizer.json")
	data, err := readRegular(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	doc, err := parseJSONObject(data)
	if err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	if err := doc.SetRaw("added_tokens", tokenizer.EncodeAdded(out.Added)); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if out.Stripped {
		m, err := parseJSONObject(doc.Raw("model"))
		if err != nil {
			return fmt.Errorf("%s: model: %w", path, err)
		}
		if err := m.SetRaw("vocab", tokenizer.EncodeVocab(out.Vocab)); err != nil {
			return fmt.Errorf("%s: model.vocab: %w", path, err)
		}
		if err := m.SetRaw("merges", tokenizer.EncodeMerges(out.Merges)); err != nil {
			return fmt.Errorf("%s: model.merges: %w", path, err)
		}
		if err := doc.SetRaw("model", m.Bytes()); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), doc.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write tokenizer.json: %w", err)
	}
	return writeTokenizerConfig(filepath.Join(src.dir, "tokenizer_config.json"), filepath.Join(dir, "tokenizer_config.json"), out.Added)
}

// writeTokenizerConfig copies tokenizer_config.json with its
// added_tokens_decoder (when it has one) listing the output's added tokens.
func writeTokenizerConfig(src, dst string, added []tokenizer.AddedToken) error {
	data, err := readRegular(src)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	doc, err := parseJSONObject(data)
	if err != nil {
		return fmt.Errorf("parse %s: %w", src, err)
	}
	if doc.Has("added_tokens_decoder") {
		sorted := slices.Clone(added)
		slices.SortStableFunc(sorted, func(a, b tokenizer.AddedToken) int { return a.ID - b.ID })
		type entry struct {
			Content    string `json:"content"`
			LStrip     bool   `json:"lstrip"`
			Normalized bool   `json:"normalized"`
			RStrip     bool   `json:"rstrip"`
			SingleWord bool   `json:"single_word"`
			Special    bool   `json:"special"`
		}
		buf := []byte("{")
		for i, a := range sorted {
			if i > 0 {
				buf = append(buf, ',')
			}
			v, err := tokenizer.Marshal(entry{a.Content, a.LStrip, a.Normalized, a.RStrip, a.SingleWord, a.Special})
			if err != nil {
				return err
			}
			k, _ := json.Marshal(strconv.Itoa(a.ID))
			buf = append(append(append(append(buf, "\n    "...), k...), ": "...), v...)
		}
		buf = append(buf, "\n  }"...)
		if err := doc.SetRaw("added_tokens_decoder", buf); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
	}
	if err := os.WriteFile(dst, doc.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write tokenizer_config.json: %w", err)
	}
	return nil
}
