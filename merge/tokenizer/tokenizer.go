// Package tokenizer builds the output vocabulary of a merge the way
// mergekit's `tokenizer_source` and `tokenizer:` options do: it reads the
// vocabulary of Hugging Face fast tokenizers (tokenizer.json: the model's
// vocabulary and the added tokens), strips tokens beyond a model's
// vocab_size, forms the union (or takes the base's, or one model's),
// appends configured tokens, and says for every model and output token
// which embedding row feeds it (Vocab.Plan), so that the embeddings and
// output heads of all models are aligned before the merge method runs.
package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// AddedToken is one entry of tokenizer.json's added_tokens, in the field
// order the tokenizers library writes.
type AddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// sameSettings reports whether two added tokens differ only in their ids.
func (a AddedToken) sameSettings(b AddedToken) bool {
	a.ID, b.ID = 0, 0
	return a == b
}

// Tokenizer is the vocabulary part of a tokenizer.json.
type Tokenizer struct {
	// Name names the file in messages.
	Name string
	// Type is model.type (BPE, WordPiece, WordLevel, Unigram).
	Type string
	// Vocab is the model's vocabulary (for Unigram, piece → index).
	Vocab map[string]int
	// Unigram holds a Unigram model's vocabulary entries as written
	// ([piece, score] pairs), else nil.
	Unigram []json.RawMessage
	// Merges holds a BPE model's merges as written ("a b" or ["a", "b"]).
	Merges []json.RawMessage
	// Added are the added tokens, in file order.
	Added []AddedToken
	// Stripped is set when Strip removed tokens: the model's vocabulary
	// and merges then differ from the file's.
	Stripped bool
}

// Parse reads the vocabulary of a tokenizer.json; name is used in errors.
func Parse(data []byte, name string) (*Tokenizer, error) {
	var doc struct {
		Added []AddedToken `json:"added_tokens"`
		Model *struct {
			Type   string            `json:"type"`
			Vocab  json.RawMessage   `json:"vocab"`
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if doc.Model == nil {
		return nil, fmt.Errorf("%s: no model", name)
	}
	t := &Tokenizer{Name: name, Type: doc.Model.Type, Added: doc.Added, Vocab: map[string]int{}}
	v := bytes.TrimSpace(doc.Model.Vocab)
	switch {
	case len(v) > 0 && v[0] == '{':
		if err := json.Unmarshal(v, &t.Vocab); err != nil {
			return nil, fmt.Errorf("%s: model.vocab: %w", name, err)
		}
		for tok, id := range t.Vocab {
			if id < 0 {
				return nil, fmt.Errorf("%s: model.vocab: token %q has the negative id %d", name, tok, id)
			}
		}
	case len(v) > 0 && v[0] == '[':
		if err := json.Unmarshal(v, &t.Unigram); err != nil {
			return nil, fmt.Errorf("%s: model.vocab: %w", name, err)
		}
		for i, e := range t.Unigram {
			var pair []json.RawMessage
			var piece string
			if json.Unmarshal(e, &pair) != nil || len(pair) != 2 || json.Unmarshal(pair[0], &piece) != nil {
				return nil, fmt.Errorf("%s: model.vocab[%d]: expected a [piece, score] pair, got %.60s", name, i, e)
			}
			if _, dup := t.Vocab[piece]; !dup {
				t.Vocab[piece] = i
			}
		}
	default:
		return nil, fmt.Errorf("%s: model.vocab is missing (model type %q)", name, t.Type)
	}
	if t.Type == "BPE" || (t.Type == "" && doc.Model.Merges != nil) {
		t.Merges = doc.Model.Merges
	}
	for i, a := range t.Added {
		if a.ID < 0 {
			return nil, fmt.Errorf("%s: added_tokens[%d] (%q) has the negative id %d", name, i, a.Content, a.ID)
		}
	}
	return t, nil
}

// modelSize is the size of the model's vocabulary (the tokenizers
// library's get_vocab_size without added tokens).
func (t *Tokenizer) modelSize() int {
	if t.Unigram != nil {
		return len(t.Unigram)
	}
	return len(t.Vocab)
}

// GetVocab is the full vocabulary, token → id: the model's, with the
// added tokens over it (transformers' get_vocab).
func (t *Tokenizer) GetVocab() map[string]int {
	v := make(map[string]int, len(t.Vocab)+len(t.Added))
	for tok, id := range t.Vocab {
		v[tok] = id
	}
	for _, a := range t.Added {
		v[a.Content] = a.ID
	}
	return v
}

// Clone returns a deep copy.
func (t *Tokenizer) Clone() *Tokenizer {
	c := *t
	c.Vocab = make(map[string]int, len(t.Vocab))
	for k, v := range t.Vocab {
		c.Vocab[k] = v
	}
	c.Added = slices.Clone(t.Added)
	c.Merges = slices.Clone(t.Merges)
	c.Unigram = slices.Clone(t.Unigram)
	return &c
}

// Add adds a token the way the tokenizers library's add_tokens does: a
// token whose content is already an added token is ignored; one in the
// model's vocabulary becomes an added token with its id; a new one gets
// the next id after the model's vocabulary and the added tokens. It
// reports whether the token was added.
func (t *Tokenizer) Add(tok AddedToken) bool {
	if tok.Content == "" {
		return false
	}
	for _, a := range t.Added {
		if a.Content == tok.Content {
			return false
		}
	}
	id, ok := t.Vocab[tok.Content]
	if !ok {
		size := t.modelSize()
		id = size
		if len(t.Added) > 0 {
			mx := t.Added[0].ID
			for _, a := range t.Added[1:] {
				mx = max(mx, a.ID)
			}
			if mx >= size || size == 0 {
				id = mx + 1
			}
		}
	}
	tok.ID = id
	t.Added = append(t.Added, tok)
	return true
}

// Strip removes the tokens with ids at or beyond vocabSize, as mergekit
// does to the base model's tokenizer: the added tokens beyond it, the
// model's vocabulary entries and the BPE merges that use them. Only BPE
// models can be stripped (as in mergekit).
func (t *Tokenizer) Strip(vocabSize int) (*Tokenizer, error) {
	unused := map[string]bool{}
	for tok, id := range t.GetVocab() {
		if id >= vocabSize {
			unused[tok] = true
		}
	}
	if len(unused) == 0 {
		return t, nil
	}
	if t.Type != "BPE" {
		return nil, fmt.Errorf("%s: %d tokens have ids at or beyond the model's vocab_size %d, and only a BPE tokenizer can be stripped of them (model type %q)",
			t.Name, len(unused), vocabSize, t.Type)
	}
	s := t.Clone()
	s.Stripped = true
	s.Added = s.Added[:0]
	for _, a := range t.Added {
		if a.ID < vocabSize {
			s.Added = append(s.Added, a)
		}
	}
	for tok := range unused {
		delete(s.Vocab, tok)
	}
	s.Merges = s.Merges[:0]
	for i, m := range t.Merges {
		pair, err := mergePair(m)
		if err != nil {
			return nil, fmt.Errorf("%s: model.merges[%d]: %w", t.Name, i, err)
		}
		if !unused[pair[0]] && !unused[pair[1]] {
			s.Merges = append(s.Merges, m)
		}
	}
	return s, nil
}

// mergePair reads one BPE merge: "a b" or ["a", "b"].
func mergePair(m json.RawMessage) ([2]string, error) {
	var s string
	if json.Unmarshal(m, &s) == nil {
		if strings.Count(s, " ") != 1 {
			return [2]string{}, fmt.Errorf("unexpected merge %q (want two tokens separated by one space)", s)
		}
		a, b, _ := strings.Cut(s, " ")
		return [2]string{a, b}, nil
	}
	var l []string
	if json.Unmarshal(m, &l) == nil && len(l) == 2 {
		return [2]string{l[0], l[1]}, nil
	}
	return [2]string{}, fmt.Errorf("unexpected merge %.60s", m)
}

// EncodeAdded writes the added tokens as tokenizer.json holds them: sorted
// by id, one per line, without HTML escaping.
func EncodeAdded(added []AddedToken) []byte {
	sorted := slices.Clone(added)
	slices.SortStableFunc(sorted, func(a, b AddedToken) int { return a.ID - b.ID })
	var b bytes.Buffer
	b.WriteString("[")
	for i, a := range sorted {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n    ")
		b.Write(marshal(a))
	}
	if len(sorted) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("]")
	return b.Bytes()
}

// EncodeVocab writes a model vocabulary as an object ordered by id.
func EncodeVocab(v map[string]int) []byte {
	toks := make([]string, 0, len(v))
	for tok := range v {
		toks = append(toks, tok)
	}
	slices.SortFunc(toks, func(a, b string) int {
		if v[a] != v[b] {
			return v[a] - v[b]
		}
		return strings.Compare(a, b)
	})
	var b bytes.Buffer
	b.WriteString("{")
	for i, tok := range toks {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n      ")
		b.Write(marshal(tok))
		fmt.Fprintf(&b, ": %d", v[tok])
	}
	b.WriteString("\n    }")
	return b.Bytes()
}

// EncodeMerges writes merges, one per line, as written.
func EncodeMerges(m []json.RawMessage) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i, e := range m {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n      ")
		b.Write(e)
	}
	b.WriteString("\n    ]")
	return b.Bytes()
}

// marshal encodes a string or an AddedToken (which always encode).
func marshal(v any) []byte {
	b, _ := Marshal(v)
	return b
}

// Marshal encodes v as compact JSON without HTML escaping (tokens such as
// "<|im_start|>" stay readable).
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
