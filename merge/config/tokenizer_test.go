package config

import (
	"reflect"
	"testing"

	"github.com/mergetune/mergetune/merge/tokenizer"
)

func TestTokenizerBlock(t *testing.T) {
	src := `merge_method: linear
base_model: b
models: [{model: a}, {model: b}]
tokenizer:
  source: union
  pad_to_multiple_of: 16
  tokens:
    "<|im_start|>":
      source: a
    _tok_10:
      source: {kind: model_token, model: a, token_id: 64}
      force: true
    _tok_11:
      source: {kind: model_token, model: b, token: "<s>"}
    "<zero>":
      source: {kind: zero}
    "<plain>":
`
	c := mustParse(t, src)
	want := &Tokenizer{Source: "union", PadToMultipleOf: 16, Tokens: []tokenizer.TokenRule{
		{Token: "<|im_start|>", Source: tokenizer.TokenSource{Kind: tokenizer.FromModel, Model: "a", TokenID: -1}},
		{Token: "_tok_10", Source: tokenizer.TokenSource{Kind: tokenizer.ModelToken, Model: "a", TokenID: 64}, Force: true},
		{Token: "_tok_11", Source: tokenizer.TokenSource{Kind: tokenizer.ModelToken, Model: "b", TokenID: -1, Token: "<s>"}},
		{Token: "<zero>", Source: tokenizer.TokenSource{Kind: tokenizer.Zero, TokenID: -1}},
		{Token: "<plain>", Source: tokenizer.TokenSource{TokenID: -1}},
	}}
	if !reflect.DeepEqual(c.Tokenizer, want) {
		t.Errorf("tokenizer = %+v\nwant %+v", c.Tokenizer, want)
	}
	if s, ok := c.VocabSource(); !ok || s != "union" {
		t.Errorf("VocabSource = %q %v", s, ok)
	}
}

func TestTokenizerSources(t *testing.T) {
	tests := []struct {
		src, want string
	}{
		{"merge_method: linear\nmodels: [{model: a}]\ntokenizer_source: union\n", "union"},
		{"merge_method: linear\nmodels: [{model: a}]\ntokenizer: {}\n", "union"},
		{"merge_method: linear\nbase_model: a\nmodels: [{model: a}]\ntokenizer: {source: base}\n", "base"},
		{"merge_method: linear\nmodels: [{model: a}, {model: c}]\ntokenizer: {source: c}\n", "c"},
		{"merge_method: linear\nmodels: [{model: a}]\n", ""},
		{"merge_method: linear\nmodels: [{model: a}]\ntokenizer_source: org/other@v2\n", "org/other@v2"},
	}
	for _, tt := range tests {
		c := mustParse(t, tt.src)
		if got, ok := c.VocabSource(); got != tt.want || ok != (tt.want != "") {
			t.Errorf("%q: VocabSource = %q %v, want %q", tt.src, got, ok, tt.want)
		}
		if refs := c.ModelRefs(); !reflect.DeepEqual(refs, []string{"a"}) && !reflect.DeepEqual(refs, []string{"a", "c"}) {
			t.Errorf("%q: ModelRefs = %v (the tokenizer source is not merged)", tt.src, refs)
		}
		wantRef := tt.want
		if wantRef == "union" || wantRef == "base" {
			wantRef = ""
		}
		if got := c.TokenizerRef(); got != wantRef {
			t.Errorf("%q: TokenizerRef = %q, want %q", tt.src, got, wantRef)
		}
	}
}

func TestBadTokenizer(t *testing.T) {
	const head = "merge_method: linear\nbase_model: b\nmodels: [{model: a}, {model: b}]\n"
	tests := []struct {
		name, src, want string
	}{
		{"both", "tokenizer_source: union\ntokenizer: {source: base}\n", `<config>:5: tokenizer: only one of tokenizer_source and tokenizer may be set (tokenizer_source is set on line 4)`},
		{"unknown key", "tokenizer: {sauce: base}\n", `<config>:4: tokenizer.sauce: unknown key "sauce" (allowed keys: source, tokens, pad_to_multiple_of)`},
		{"bad revision", "tokenizer: {source: ./x@main}\n", `<config>:4: tokenizer.source: model id "./x@main": repository id "./x": "." is not a valid name (letters, digits, '.', '_', '-'; no '--' or '..'); a revision is given to a Hugging Face id, as org/name@revision`},
		{"pad zero", "tokenizer: {pad_to_multiple_of: 0}\n", `<config>:4: tokenizer.pad_to_multiple_of: expected a positive integer up to 1048576, got 0`},
		{"pad float", "tokenizer: {pad_to_multiple_of: 1.5}\n", `<config>:4: tokenizer.pad_to_multiple_of: expected a positive integer, got 1.5`},
		{"tokens list", "tokenizer: {tokens: [a]}\n", `<config>:4: tokenizer.tokens: expected a mapping, got ["a"]`},
		{"token key", "tokenizer: {tokens: {x: {src: a}}}\n", `<config>:4: tokenizer.tokens["x"].src: unknown key "src" (allowed keys: source, force)`},
		{"force string", "tokenizer: {tokens: {x: {source: a, force: yes please}}}\n", `<config>:4: tokenizer.tokens["x"].force: expected true or false, got "yes please"`},
		{"force no source", "tokenizer: {tokens: {x: {force: true}}}\n", `<config>:4: tokenizer.tokens["x"].force: force needs a source (a model, {kind: model_token, ...} or {kind: zero})`},
		{"kind unknown", "tokenizer: {tokens: {x: {source: {kind: one}}}}\n", `<config>:4: tokenizer.tokens["x"].source.kind: unknown kind "one" (allowed: model_token, zero)`},
		{"kind missing", "tokenizer: {tokens: {x: {source: {model: a}}}}\n", `<config>:4: tokenizer.tokens["x"].source: missing kind (model_token or zero); a model alone is written as source: <model>`},
		{"both ids", "tokenizer: {tokens: {x: {source: {kind: model_token, model: a, token_id: 1, token: y}}}}\n", `<config>:4: tokenizer.tokens["x"].source: model_token needs exactly one of token_id and token`},
		{"no id", "tokenizer: {tokens: {x: {source: {kind: model_token, model: a}}}}\n", `<config>:4: tokenizer.tokens["x"].source: model_token needs exactly one of token_id and token`},
		{"no model", "tokenizer: {tokens: {x: {source: {kind: model_token, token_id: 3}}}}\n", `<config>:4: tokenizer.tokens["x"].source: model_token needs a model`},
		{"negative id", "tokenizer: {tokens: {x: {source: {kind: model_token, model: a, token_id: -3}}}}\n", `<config>:4: tokenizer.tokens["x"].source.token_id: expected a token id (an integer >= 0), got -3`},
		{"zero with model", "tokenizer: {tokens: {x: {source: {kind: zero, model: a}}}}\n", `<config>:4: tokenizer.tokens["x"].source: a zero source takes no model, token or token_id`},
		{"token model outside", "tokenizer: {tokens: {x: {source: org/c}}}\n", `<config>:4: tokenizer.tokens["x"].source: model "org/c" is not a model of the config`},
		{"empty source", "tokenizer_source: ''\n", `<config>:4: tokenizer_source: must not be empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(head+tt.src), "")
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got: %v\nwant: %s", err, tt.want)
			}
		})
	}
}

func TestTokenizerFile(t *testing.T) {
	c, err := Load("testdata/tokenizer.yml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Tokenizer == nil || c.Tokenizer.PadToMultipleOf != 64 || len(c.Tokenizer.Tokens) != 4 || c.Tokenizer.Tokens[1].Source.TokenID != 64 {
		t.Errorf("tokenizer = %+v", c.Tokenizer)
	}
}
