package tokenizer

import (
	"errors"
	"fmt"
	"slices"
)

// Source is one input model's tokenizer.
type Source struct {
	// Model is the model reference as written in the config.
	Model string
	// Tok is the model's tokenizer, nil when it has none (it is then
	// taken to be the base's, as mergekit does when loading fails).
	Tok *Tokenizer
	// VocabSize is config.json's vocab_size, 0 when unknown (the size of
	// the tokenizer's vocabulary is used then).
	VocabSize int
}

// Mode is where the output vocabulary comes from.
type Mode int

const (
	// Union is the base's vocabulary plus every other model's tokens.
	Union Mode = iota
	// Base is the base model's vocabulary.
	Base
	// Model is one model's vocabulary (Spec.Model).
	Model
)

// Spec describes the output vocabulary.
type Spec struct {
	Mode Mode
	// Base indexes the base model in the sources (the config's base_model,
	// else the first model).
	Base int
	// Model indexes the model whose tokenizer is used (Mode Model).
	Model int
	// AddTokens are added to the output vocabulary (the keys of the
	// tokenizer block's tokens), in order.
	AddTokens []string
}

// Vocab is a built output vocabulary.
type Vocab struct {
	// Out is the output tokenizer's vocabulary.
	Out *Tokenizer
	// Tokens lists the output tokens by id.
	Tokens []string
	// perm[model][id] is the model's embedding row for output token id, or
	// -1 when the model lacks the token.
	perm map[string][]int
	// orig[model] is the model's own vocabulary (for model_token sources).
	orig map[string]map[string]int
	// Warnings are non-fatal notes (each once).
	Warnings []string
}

// Size is the number of output tokens.
func (v *Vocab) Size() int { return len(v.Tokens) }

// Row is model's embedding row of output token id, -1 when it lacks it.
func (v *Vocab) Row(model string, id int) int { return v.perm[model][id] }

// Build forms the output vocabulary from the sources (mergekit's
// build_tokenizer): the base's tokenizer stripped of tokens beyond its
// vocab_size; for Union, the other models' tokens appended; then
// spec.AddTokens. Tokens new to the base are appended in the order of the
// sources and, within a model, of their ids: first the models' ordinary
// tokens (as plain added tokens), then their added tokens with their
// settings (the first model's settings win).
func Build(srcs []Source, spec Spec) (*Vocab, error) {
	if spec.Base < 0 || spec.Base >= len(srcs) {
		return nil, errors.New("no base model for the tokenizer")
	}
	v := &Vocab{perm: map[string][]int{}, orig: map[string]map[string]int{}}
	warned := map[string]bool{}
	warn := func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !warned[msg] {
			warned[msg] = true
			v.Warnings = append(v.Warnings, msg)
		}
	}
	b := srcs[spec.Base]
	if b.Tok == nil {
		return nil, fmt.Errorf("base model %s has no tokenizer.json (a Hugging Face fast tokenizer is needed to build the vocabulary)", b.Model)
	}
	baseTok, err := b.Tok.Strip(sizeOf(b))
	if err != nil {
		return nil, fmt.Errorf("base model %s: %w", b.Model, err)
	}
	toks := make([]*Tokenizer, len(srcs))
	for i, s := range srcs {
		switch {
		case i == spec.Base:
			toks[i] = baseTok
		case s.Tok != nil:
			toks[i] = s.Tok
		default:
			warn("model %s has no tokenizer.json; taking its vocabulary to be the base's (%s), as mergekit does", s.Model, b.Model)
			toks[i] = baseTok
		}
	}
	var out *Tokenizer
	switch spec.Mode {
	case Base:
		out = baseTok.Clone()
	case Model:
		if spec.Model < 0 || spec.Model >= len(srcs) || srcs[spec.Model].Tok == nil {
			return nil, fmt.Errorf("tokenizer source %s has no tokenizer.json", srcs[max(0, min(spec.Model, len(srcs)-1))].Model)
		}
		out = srcs[spec.Model].Tok.Clone()
	case Union:
		out = union(srcs, toks, spec.Base, warn)
	default:
		return nil, fmt.Errorf("unknown tokenizer mode %d", spec.Mode)
	}
	for _, tok := range spec.AddTokens {
		out.Add(AddedToken{Content: tok, Normalized: true})
	}
	v.Out = out
	full := out.GetVocab()
	v.Tokens = make([]string, len(full))
	for tok, id := range full {
		if id >= len(full) {
			return nil, fmt.Errorf("the output vocabulary's ids are not contiguous: token %q has id %d but there are %d tokens", tok, id, len(full))
		}
		if v.Tokens[id] != "" {
			return nil, fmt.Errorf("the output vocabulary gives id %d to both %q and %q", id, v.Tokens[id], tok)
		}
		v.Tokens[id] = tok
	}
	for i, s := range srcs {
		mv := toks[i].GetVocab()
		v.orig[s.Model] = mv
		size := sizeOf(Source{Tok: toks[i], VocabSize: s.VocabSize})
		p := make([]int, len(v.Tokens))
		for id, tok := range v.Tokens {
			p[id] = -1
			if o, ok := mv[tok]; ok {
				if o >= size {
					warn("model %s: token %q has id %d, beyond its vocab_size %d (padding?); treated as missing", s.Model, tok, o, size)
					continue
				}
				p[id] = o
			}
		}
		v.perm[s.Model] = p
	}
	return v, nil
}

// sizeOf is a source's vocabulary size: config.json's, else its
// tokenizer's.
func sizeOf(s Source) int {
	if s.VocabSize > 0 {
		return s.VocabSize
	}
	return len(s.Tok.GetVocab())
}

// union is mergekit's build_union_tokenizer over the (base-stripped)
// tokenizers toks.
func union(srcs []Source, toks []*Tokenizer, base int, warn func(string, ...any)) *Tokenizer {
	order := []int{base}
	for i := range srcs {
		if i != base {
			order = append(order, i)
		}
	}
	var plain []string
	seen := map[string]bool{}
	var added []AddedToken
	addedAt := map[string]int{}
	for _, i := range order {
		t := toks[i]
		size := sizeOf(Source{Tok: t, VocabSize: srcs[i].VocabSize})
		isAdded := map[string]bool{}
		for _, a := range t.Added {
			isAdded[a.Content] = true
		}
		vocab := t.GetVocab()
		byID := make([]string, 0, len(vocab))
		for tok := range vocab {
			byID = append(byID, tok)
		}
		slices.SortFunc(byID, func(a, b string) int {
			if vocab[a] != vocab[b] {
				return vocab[a] - vocab[b]
			}
			if a < b {
				return -1
			}
			return 1
		})
		for _, tok := range byID {
			if vocab[tok] >= size {
				warn("token %q of model %s has id %d, beyond its vocab_size %d; left out", tok, srcs[i].Model, vocab[tok], size)
				continue
			}
			if isAdded[tok] || seen[tok] {
				continue
			}
			seen[tok] = true
			plain = append(plain, tok)
		}
		sortedAdded := slices.Clone(t.Added)
		slices.SortStableFunc(sortedAdded, func(a, b AddedToken) int { return a.ID - b.ID })
		for _, a := range sortedAdded {
			if a.ID >= size {
				continue
			}
			if j, dup := addedAt[a.Content]; dup {
				if !added[j].sameSettings(a) {
					warn("token %q is added with different settings by several models; using the first's", a.Content)
				}
				continue
			}
			addedAt[a.Content] = len(added)
			added = append(added, a)
		}
	}
	out := toks[base].Clone()
	baseVocab := toks[base].GetVocab()
	for _, tok := range plain {
		if _, isAdded := addedAt[tok]; isAdded {
			continue
		}
		if _, ok := baseVocab[tok]; !ok {
			out.Add(AddedToken{Content: tok, Normalized: true})
		}
	}
	for _, a := range added {
		out.Add(a)
	}
	return out
}
