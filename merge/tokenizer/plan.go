package tokenizer

import (
	"fmt"
	"slices"
)

// SourceKind is the kind of a configured token's embedding source.
type SourceKind int

const (
	// Auto applies the automatic rule (no source given).
	Auto SourceKind = iota
	// FromModel takes the token's row of a model (source: <model>).
	FromModel
	// ModelToken takes a given row or token of a model
	// (source: {kind: model_token, model, token_id | token}).
	ModelToken
	// Zero gives a zero vector (source: {kind: zero}).
	Zero
)

// TokenSource is where a configured token's embedding comes from.
type TokenSource struct {
	Kind  SourceKind
	Model string // FromModel, ModelToken
	// TokenID is the model's own token id (ModelToken), or -1 when Token
	// names the token instead.
	TokenID int
	Token   string
}

// TokenRule is one entry of the tokenizer block's tokens.
type TokenRule struct {
	Token  string
	Source TokenSource
	// Force uses the source even for models that have the token.
	Force bool
}

// RowRef names one row of one model's embedding.
type RowRef struct {
	Model string
	Row   int
}

// Plan says, for one embedding tensor, where each row of each model's
// remapped embedding comes from (mergekit's PermutedEmbeddings).
type Plan struct {
	// Rows is the number of output tokens; Padded the row count with the
	// padding rows (the mean of the real rows) up to pad_to_multiple_of.
	Rows, Padded int
	own          map[string][]int
	defaults     map[int][]RowRef
}

// Own is model's own row for output token id, or -1 when the model lacks
// the token or a forced source replaces it.
func (p *Plan) Own(model string, id int) int { return p.own[model][id] }

// Default is the rows averaged for a model that does not use its own row
// (Own < 0); an empty list means a zero vector.
func (p *Plan) Default(id int) []RowRef { return p.defaults[id] }

// Plan builds the row plan of an embedding tensor whose inputs are the
// given models (distinct, in config order; each must be a source of
// Build) with rows[m] rows each. base is the slice's base model ("" when
// none, or when it is not among models). A model lacking a token gets,
// unless a rule gives the token's source: the row of the only model that
// has it; else the base's row; else the mean of the rows of the models
// that have it; a token no model has is a zero vector. Forced rules
// replace every model's row.
func (v *Vocab) Plan(models []string, base string, rows map[string]int, rules []TokenRule, padTo int) (*Plan, []string, error) {
	var warns []string
	p := &Plan{Rows: len(v.Tokens), Padded: len(v.Tokens), own: map[string][]int{}, defaults: map[int][]RowRef{}}
	if padTo > 0 && p.Rows%padTo != 0 {
		p.Padded = (p.Rows/padTo + 1) * padTo
	}
	for _, m := range models {
		perm, ok := v.perm[m]
		if !ok {
			return nil, nil, fmt.Errorf("model %s has no vocabulary", m)
		}
		for id, r := range perm {
			if r >= rows[m] {
				return nil, nil, fmt.Errorf("model %s: token %q has id %d, but its embedding has %d rows", m, v.Tokens[id], r, rows[m])
			}
		}
		p.own[m] = slices.Clone(perm)
	}
	if base != "" && !slices.Contains(models, base) {
		base = ""
	}
	ruleOf := map[string]TokenRule{}
	for _, r := range rules {
		ruleOf[r.Token] = r
	}
	for id, tok := range v.Tokens {
		var present []string
		for _, m := range models {
			if p.own[m][id] >= 0 {
				present = append(present, m)
			}
		}
		r, configured := ruleOf[tok]
		if configured && r.Force {
			for _, m := range models {
				p.own[m][id] = -1
			}
		}
		var def []RowRef
		if configured && r.Source.Kind != Auto {
			d, err := v.ruleRows(r, id, models, rows)
			if err != nil {
				return nil, nil, err
			}
			def = d
		} else {
			switch {
			case len(present) == 0:
				warns = append(warns, fmt.Sprintf("token %q is in none of the models; its embedding is zero", tok))
				def = []RowRef{}
			case len(present) == 1:
				def = []RowRef{{present[0], v.perm[present[0]][id]}}
			case base != "" && v.perm[base][id] >= 0:
				def = []RowRef{{base, v.perm[base][id]}}
			default:
				for _, m := range present {
					def = append(def, RowRef{m, v.perm[m][id]})
				}
			}
		}
		if len(present) < len(models) || (configured && r.Force) {
			p.defaults[id] = def
		}
	}
	return p, warns, nil
}

// ruleRows resolves a configured token source.
func (v *Vocab) ruleRows(r TokenRule, id int, models []string, rows map[string]int) ([]RowRef, error) {
	s := r.Source
	if s.Kind == Zero {
		return []RowRef{}, nil
	}
	if !slices.Contains(models, s.Model) {
		return nil, fmt.Errorf("tokenizer.tokens[%q].source: model %s is not an input of this tensor", r.Token, s.Model)
	}
	switch s.Kind {
	case FromModel:
		row := v.perm[s.Model][id]
		if row < 0 {
			return nil, fmt.Errorf("tokenizer.tokens[%q].source: model %s does not have the token", r.Token, s.Model)
		}
		return []RowRef{{s.Model, row}}, nil
	case ModelToken:
		row := s.TokenID
		if row < 0 {
			o, ok := v.orig[s.Model][s.Token]
			if !ok {
				return nil, fmt.Errorf("tokenizer.tokens[%q].source: token %q is not in the vocabulary of model %s", r.Token, s.Token, s.Model)
			}
			row = o
		}
		if row >= rows[s.Model] {
			return nil, fmt.Errorf("tokenizer.tokens[%q].source: token id %d is out of range for model %s (%d rows)", r.Token, row, s.Model, rows[s.Model])
		}
		return []RowRef{{s.Model, row}}, nil
	}
	return nil, fmt.Errorf("tokenizer.tokens[%q]: unknown source kind %d", r.Token, s.Kind)
}
