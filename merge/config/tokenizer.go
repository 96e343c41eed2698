package config

import (
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/mergetune/mergetune/merge/tokenizer"
)

// Allowed keys of the tokenizer block, comma-separated.
const (
	tokenizerKeys   = "source, tokens, pad_to_multiple_of"
	tokenKeys       = "source, force"
	tokenSourceKeys = "kind, model, token_id, token"
)

// Tokenizer is the `tokenizer:` block: where the output vocabulary comes
// from, how configured tokens get their embeddings, and the padding of the
// embedding rows.
type Tokenizer struct {
	// Source is "union" (the default), "base" or a model of the config.
	Source string
	// Tokens are the configured tokens, in file order; each is added to
	// the vocabulary when missing.
	Tokens []tokenizer.TokenRule
	// PadToMultipleOf pads the embedding rows (and vocab_size) up to a
	// multiple of it; 0 for none.
	PadToMultipleOf int
}

// VocabSource is where the output vocabulary comes from when the merge
// builds one ("union", "base" or a model reference), from
// tokenizer_source or the tokenizer block; ok is false when neither is
// set (the tokenizer files are then copied unchanged).
func (c *Config) VocabSource() (src string, ok bool) {
	switch {
	case c.Tokenizer != nil:
		return c.Tokenizer.Source, true
	case c.TokenizerSource != "":
		return c.TokenizerSource, true
	}
	return "", false
}

// TokenizerRef is the model the output vocabulary is taken from when
// tokenizer_source or tokenizer.source names one ("" for union, base or
// none). It may be a model whose weights are not merged (see ModelRefs).
func (c *Config) TokenizerRef() string {
	src, ok := c.VocabSource()
	if !ok || src == "union" || src == "base" {
		return ""
	}
	return src
}

// tokenizerBlock parses the tokenizer block (validated against the rest
// of the config by checkTokenizer).
func (p *parser) tokenizerBlock(n *yaml.Node) (*Tokenizer, error) {
	const path = "tokenizer"
	t := &Tokenizer{Source: "union"}
	err := p.mapping(n, path, tokenizerKeys, func(key string, _, v *yaml.Node) error {
		kpath := path + "." + key
		switch key {
		case "source":
			if isNull(v) {
				return nil
			}
			s, err := p.scalar(v, kpath)
			if err != nil {
				return err
			}
			t.Source = s
		case "tokens":
			if isNull(v) {
				return nil
			}
			return p.mapping(v, kpath, anyKey, func(tok string, _, tv *yaml.Node) error {
				r, err := p.tokenRule(tv, kpath+"["+strconv.Quote(tok)+"]", tok)
				if err != nil {
					return err
				}
				t.Tokens = append(t.Tokens, r)
				return nil
			})
		case "pad_to_multiple_of":
			if isNull(v) {
				return nil
			}
			if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
				return p.errf(v, kpath, "expected a positive integer, got %s", describe(v))
			}
			var k int
			if err := v.Decode(&k); err != nil || k <= 0 || k > 1<<20 {
				return p.errf(v, kpath, "expected a positive integer up to %d, got %s", 1<<20, describe(v))
			}
			t.PadToMultipleOf = k
		}
		return nil
	})
	return t, err
}

// tokenRule parses one entry of tokenizer.tokens.
func (p *parser) tokenRule(n *yaml.Node, path, tok string) (tokenizer.TokenRule, error) {
	r := tokenizer.TokenRule{Token: tok, Source: tokenizer.TokenSource{TokenID: -1}}
	if isNull(n) {
		return r, nil
	}
	err := p.mapping(n, path, tokenKeys, func(key string, _, v *yaml.Node) error {
		kpath := path + "." + key
		switch key {
		case "force":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				return p.errf(v, kpath, "expected true or false, got %s", describe(v))
			}
			return v.Decode(&r.Force)
		case "source":
			if isNull(v) {
				return nil
			}
			if v.Kind == yaml.MappingNode {
				s, err := p.tokenSource(v, kpath)
				r.Source = s
				return err
			}
			ref, err := p.modelRef(v, kpath)
			r.Source = tokenizer.TokenSource{Kind: tokenizer.FromModel, Model: ref, TokenID: -1}
			return err
		}
		return nil
	})
	if err == nil && r.Force && r.Source.Kind == tokenizer.Auto {
		err = p.errf(n, path+".force", "force needs a source (a model, {kind: model_token, ...} or {kind: zero})")
	}
	return r, err
}

// tokenSource parses a {kind: model_token | zero, ...} token source.
func (p *parser) tokenSource(n *yaml.Node, path string) (tokenizer.TokenSource, error) {
	s := tokenizer.TokenSource{TokenID: -1}
	var kind string
	var hasID, hasTok bool
	err := p.mapping(n, path, tokenSourceKeys, func(key string, _, v *yaml.Node) error {
		kpath := path + "." + key
		var err error
		switch key {
		case "kind":
			kind, err = p.scalar(v, kpath)
		case "model":
			s.Model, err = p.modelRef(v, kpath)
		case "token":
			hasTok = true
			s.Token, err = p.scalar(v, kpath)
		case "token_id":
			hasID = true
			if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || v.Decode(&s.TokenID) != nil || s.TokenID < 0 {
				return p.errf(v, kpath, "expected a token id (an integer >= 0), got %s", describe(v))
			}
		}
		return err
	})
	if err != nil {
		return s, err
	}
	switch kind {
	case "zero":
		s.Kind = tokenizer.Zero
		if s.Model != "" || hasID || hasTok {
			return s, p.errf(n, path, "a zero source takes no model, token or token_id")
		}
	case "model_token":
		s.Kind = tokenizer.ModelToken
		switch {
		case s.Model == "":
			return s, p.errf(n, path, "model_token needs a model")
		case hasID == hasTok:
			return s, p.errf(n, path, "model_token needs exactly one of token_id and token")
		}
	case "":
		return s, p.errf(n, path, "missing kind (model_token or zero); a model alone is written as source: <model>")
	default:
		return s, p.errf(n, path+".kind", "unknown kind %q (allowed: model_token, zero)", kind)
	}
	return s, nil
}

// checkTokenizer validates tokenizer_source or the tokenizer block against
// the rest of the config; src and srcPath are the source and its key path.
func (p *parser) checkTokenizer(n *yaml.Node, path, src string) error {
	c := p.cfg
	switch src {
	case "":
		return p.errf(n, path, "must not be empty")
	case "union":
	case "base":
		if c.BaseModel == "" {
			return p.errf(n, path, "%q requires a top-level base_model", src)
		}
	default:
		if err := p.checkRef(n, path, src); err != nil {
			return err
		}
	}
	if c.Tokenizer == nil {
		return nil
	}
	for _, r := range c.Tokenizer.Tokens {
		if m := r.Source.Model; m != "" && !slices.Contains(c.modelRefs(), m) {
			return p.errf(n, "tokenizer.tokens["+strconv.Quote(r.Token)+"].source", "model %q is not a model of the config", m)
		}
	}
	return nil
}
