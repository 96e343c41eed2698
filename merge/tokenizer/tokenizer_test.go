package tokenizer

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// tok builds a BPE tokenizer.json with model vocabulary vocab (ids in
// order) and the given added tokens.
func tok(t testing.TB, vocab []string, merges []string, added ...AddedToken) *Tokenizer {
	t.Helper()
	v := map[string]int{}
	for i, s := range vocab {
		v[s] = i
	}
	data, err := json.Marshal(map[string]any{"added_tokens": added, "model": map[string]any{"type": "BPE", "vocab": v, "merges": merges}})
	if err != nil {
		t.Fatal(err)
	}
	k, err := Parse(data, "tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func words(n int) []string {
	w := make([]string, n)
	for i := range w {
		w[i] = fmt.Sprintf("w%d", i)
	}
	return w
}

func TestAddIDs(t *testing.T) {
	tests := []struct {
		name  string
		added []AddedToken
		add   string
		want  int
	}{
		{"after the model vocabulary", nil, "<x>", 4},
		{"after the last added token", []AddedToken{{ID: 4, Content: "<a>"}, {ID: 6, Content: "<b>"}}, "<x>", 7},
		{"added tokens inside the vocabulary", []AddedToken{{ID: 1, Content: "w1"}}, "<x>", 4},
		{"a model token keeps its id", nil, "w2", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tok(t, words(4), nil, tt.added...)
			if !k.Add(AddedToken{Content: tt.add, Normalized: true}) {
				t.Fatal("not added")
			}
			if got := k.GetVocab()[tt.add]; got != tt.want {
				t.Errorf("id = %d, want %d", got, tt.want)
			}
			if k.Add(AddedToken{Content: tt.add, Special: true}) {
				t.Error("an added token was added twice")
			}
		})
	}
}

func TestStrip(t *testing.T) {
	k := tok(t, words(6), []string{"w0 w1", "w1 w4", "w2 w3"}, AddedToken{ID: 2, Content: "w2", Special: true}, AddedToken{ID: 6, Content: "<pad>"})
	s, err := k.Strip(4)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"w0": 0, "w1": 1, "w2": 2, "w3": 3}; !reflect.DeepEqual(s.GetVocab(), want) || !s.Stripped {
		t.Errorf("stripped vocabulary = %v", s.GetVocab())
	}
	var merges []string
	for _, m := range s.Merges {
		merges = append(merges, string(m))
	}
	if want := []string{`"w0 w1"`, `"w2 w3"`}; !reflect.DeepEqual(merges, want) {
		t.Errorf("merges = %v, want %v", merges, want)
	}
	if len(k.GetVocab()) != 7 {
		t.Errorf("Strip changed its receiver")
	}
	if same, _ := k.Strip(7); same != k {
		t.Errorf("nothing to strip: got a copy")
	}
	u := &Tokenizer{Name: "u.json", Type: "Unigram", Vocab: map[string]int{"a": 0, "b": 1}}
	if _, err := u.Strip(1); err == nil || !strings.Contains(err.Error(), "only a BPE tokenizer") {
		t.Errorf("Unigram strip: %v", err)
	}
}

// TestUnion: the base's ids stay; other models' ordinary tokens come
// first (as plain added tokens), then their added tokens with the first
// model's settings; tokens beyond a model's vocab_size are left out.
func TestUnion(t *testing.T) {
	base := tok(t, words(4), nil, AddedToken{ID: 0, Content: "w0", Special: true})
	a := tok(t, append(words(4), "wa"), nil, AddedToken{ID: 5, Content: "<a>", Special: true}, AddedToken{ID: 6, Content: "<pad>"})
	b := tok(t, append(words(3), "wb"), nil, AddedToken{ID: 4, Content: "<a>", Normalized: true}, AddedToken{ID: 5, Content: "<b>", Special: true})
	v, err := Build([]Source{{Model: "a", Tok: a, VocabSize: 6}, {Model: "base", Tok: base}, {Model: "b", Tok: b}, {Model: "none"}},
		Spec{Mode: Union, Base: 1, AddTokens: []string{"<c>", "w1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"w0", "w1", "w2", "w3", "wa", "wb", "<a>", "<b>", "<c>"}
	if !reflect.DeepEqual(v.Tokens, want) {
		t.Errorf("tokens = %v\nwant     %v", v.Tokens, want)
	}
	for _, a := range v.Out.Added {
		if a.Content == "<a>" && (!a.Special || a.Normalized) {
			t.Errorf("<a> has b's settings: %+v", a)
		}
		if a.Content == "wa" && (!a.Normalized || a.Special) {
			t.Errorf("plain token wa: %+v", a)
		}
	}
	rows := map[string][]int{
		"a":    {0, 1, 2, 3, 4, -1, 5, -1, -1},
		"base": {0, 1, 2, 3, -1, -1, -1, -1, -1},
		"b":    {0, 1, 2, -1, -1, 3, 4, 5, -1},
		"none": {0, 1, 2, 3, -1, -1, -1, -1, -1},
	}
	for m, want := range rows {
		var got []int
		for id := range v.Tokens {
			got = append(got, v.Row(m, id))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("rows of %s = %v, want %v", m, got, want)
		}
	}
	if len(v.Warnings) != 3 { // none has no tokenizer; <a>'s settings; <pad> beyond a's vocab_size
		t.Errorf("warnings = %q", v.Warnings)
	}
}

// TestPlan: mergekit's rules for a token a model lacks.
func TestPlan(t *testing.T) {
	// base lacks x and y; a and b have x; only b has y; everyone has w0..w3; z is added by the config
	base := tok(t, words(4), nil)
	a := tok(t, append(words(4), "x"), nil)
	b := tok(t, append(words(4), "y", "x"), nil)
	v, err := Build([]Source{{Model: "base", Tok: base}, {Model: "a", Tok: a}, {Model: "b", Tok: b}},
		Spec{Mode: Union, AddTokens: []string{"z", "w1", "w2"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"w0", "w1", "w2", "w3", "x", "y", "z"}; !reflect.DeepEqual(v.Tokens, want) {
		t.Fatalf("tokens = %v", v.Tokens)
	}
	rules := []TokenRule{
		{Token: "z", Source: TokenSource{Kind: ModelToken, Model: "b", TokenID: 1}},
		{Token: "w1", Source: TokenSource{Kind: FromModel, Model: "a"}, Force: true},
		{Token: "w2", Source: TokenSource{Kind: Zero}, Force: true},
	}
	rows := map[string]int{"base": 4, "a": 5, "b": 6}
	p, warns, err := v.Plan([]string{"base", "a", "b"}, "base", rows, rules, 4)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rows != 7 || p.Padded != 8 || len(warns) != 0 {
		t.Errorf("rows %d padded %d warnings %q", p.Rows, p.Padded, warns)
	}
	tests := []struct {
		id    int
		own   map[string]int
		deflt []RowRef
	}{
		{0, map[string]int{"base": 0, "a": 0, "b": 0}, nil},
		{1, map[string]int{"base": -1, "a": -1, "b": -1}, []RowRef{{"a", 1}}}, // forced
		{2, map[string]int{"base": -1, "a": -1, "b": -1}, []RowRef{}},         // forced zero
		{4, map[string]int{"base": -1, "a": 4, "b": 5}, []RowRef{{"a", 4}, {"b", 5}}},
		{5, map[string]int{"base": -1, "a": -1, "b": 4}, []RowRef{{"b", 4}}},
		{6, map[string]int{"base": -1, "a": -1, "b": -1}, []RowRef{{"b", 1}}},
	}
	for _, tt := range tests {
		for m, want := range tt.own {
			if got := p.Own(m, tt.id); got != want {
				t.Errorf("token %d: own row of %s = %d, want %d", tt.id, m, got, want)
			}
		}
		if got := p.Default(tt.id); !reflect.DeepEqual(got, tt.deflt) {
			t.Errorf("token %d: default = %v, want %v", tt.id, got, tt.deflt)
		}
	}
	// with the base among the models that have it, the base's row wins
	base2 := tok(t, append(words(4), "x"), nil)
	v2, err := Build([]Source{{Model: "base", Tok: base2}, {Model: "a", Tok: a}, {Model: "c", Tok: base}}, Spec{Mode: Base})
	if err != nil {
		t.Fatal(err)
	}
	p2, _, err := v2.Plan([]string{"base", "a", "c"}, "base", map[string]int{"base": 5, "a": 5, "c": 4}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := p2.Default(4); !reflect.DeepEqual(got, []RowRef{{"base", 4}}) {
		t.Errorf("x with the base: default = %v", got)
	}
	// a token in none of the models is zero, with a warning
	_, warns, err = v.Plan([]string{"base", "a"}, "base", rows, nil, 0)
	if err != nil || len(warns) != 2 {
		t.Errorf("y and z in none of base, a: warnings %q, err %v", warns, err)
	}
}

func TestPlanErrors(t *testing.T) {
	base := tok(t, words(4), nil)
	a := tok(t, append(words(4), "x"), nil)
	v, err := Build([]Source{{Model: "base", Tok: base}, {Model: "a", Tok: a}}, Spec{Mode: Union})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int{"base": 4, "a": 5}
	tests := []struct {
		rule TokenRule
		rows map[string]int
		want string
	}{
		{TokenRule{Token: "x", Source: TokenSource{Kind: FromModel, Model: "base"}}, rows, `tokenizer.tokens["x"].source: model base does not have the token`},
		{TokenRule{Token: "x", Source: TokenSource{Kind: ModelToken, Model: "a", TokenID: 9}}, rows, `tokenizer.tokens["x"].source: token id 9 is out of range for model a (5 rows)`},
		{TokenRule{Token: "x", Source: TokenSource{Kind: ModelToken, Model: "a", TokenID: -1, Token: "nope"}}, rows, `tokenizer.tokens["x"].source: token "nope" is not in the vocabulary of model a`},
		{TokenRule{Token: "x", Source: TokenSource{Kind: FromModel, Model: "c"}}, rows, `tokenizer.tokens["x"].source: model c is not an input of this tensor`},
		{TokenRule{Token: "w0"}, map[string]int{"base": 4, "a": 3}, `model a: token "w3" has id 3, but its embedding has 3 rows`},
	}
	for _, tt := range tests {
		_, _, err := v.Plan([]string{"base", "a"}, "base", tt.rows, []TokenRule{tt.rule}, 0)
		if err == nil || err.Error() != tt.want {
			t.Errorf("error %v, want %s", err, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`[]`, "t.json: json: cannot unmarshal"},
		{`{"added_tokens": []}`, "t.json: no model"},
		{`{"model": {"type": "BPE"}}`, `t.json: model.vocab is missing (model type "BPE")`},
		{`{"model": {"type": "BPE", "vocab": {"a": -1}}}`, `t.json: model.vocab: token "a" has the negative id -1`},
		{`{"model": {"type": "Unigram", "vocab": [["a"]]}}`, `t.json: model.vocab[0]: expected a [piece, score] pair, got ["a"]`},
		{`{"model": {"type": "BPE", "vocab": {}}, "added_tokens": [{"id": -2, "content": "x"}]}`, `t.json: added_tokens[0] ("x") has the negative id -2`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc), "t.json")
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %s", tt.doc, err, tt.want)
		}
	}
	u, err := Parse([]byte(`{"model": {"type": "Unigram", "vocab": [["<unk>", 0], ["a", -1.5]]}}`), "u")
	if err != nil || !reflect.DeepEqual(u.GetVocab(), map[string]int{"<unk>": 0, "a": 1}) {
		t.Errorf("Unigram: %v %v", u, err)
	}
}

func TestBuildErrors(t *testing.T) {
	v := tok(t, words(3), nil, AddedToken{ID: 7, Content: "<gap>"})
	if _, err := Build([]Source{{Model: "m", Tok: v, VocabSize: 10}}, Spec{Mode: Base}); err == nil || !strings.Contains(err.Error(), "not contiguous") {
		t.Errorf("gap: %v", err)
	}
	if _, err := Build([]Source{{Model: "m"}}, Spec{Mode: Union}); err == nil || !strings.Contains(err.Error(), "base model m has no tokenizer.json") {
		t.Errorf("no base tokenizer: %v", err)
	}
}

// FuzzParse: any tokenizer.json either fails to parse with an error or
// goes through Strip, Build (as base and as another model) and Plan
// without a panic, and every output token gets a row plan.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"added_tokens": [{"id": 0, "content": "<s>", "special": true}, {"id": 5, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"<s>": 0, "a": 1, "b": 2, "ab": 3}, "merges": ["a b", ["ab", "b"]]}}`), 3)
	f.Add([]byte(`{"model": {"type": "Unigram", "vocab": [["<unk>", 0], ["a", -1.5], ["a", -2]]}, "added_tokens": [{"id": 9, "content": "a"}]}`), 2)
	f.Add([]byte(`{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "##a": 1}}, "added_tokens": []}`), 0)
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a  b", 3]}}`), 0)
	f.Fuzz(func(t *testing.T, data []byte, size int) {
		k, err := Parse(data, "t.json")
		if err != nil {
			return
		}
		if len(k.GetVocab()) > 1<<12 {
			return
		}
		size = size % (len(k.GetVocab()) + 2)
		if size < 0 {
			size = -size
		}
		other := tok(t, words(3), nil, AddedToken{ID: 3, Content: "<o>"})
		for _, mode := range []Mode{Union, Base, Model} {
			v, err := Build([]Source{{Model: "k", Tok: k, VocabSize: size}, {Model: "o", Tok: other}}, Spec{Mode: mode, Model: 0, AddTokens: []string{"<z>"}})
			if err != nil {
				continue
			}
			rows := map[string]int{"k": 1 << 20, "o": 4}
			p, _, err := v.Plan([]string{"k", "o"}, "k", rows, nil, 7)
			if err != nil {
				continue
			}
			for id := range v.Tokens {
				if p.Own("k", id) < 0 && p.Default(id) == nil {
					t.Fatalf("token %d (%q) has no row for k", id, v.Tokens[id])
				}
			}
			if p.Padded%7 != 0 || p.Padded < p.Rows {
				t.Fatalf("padded %d rows %d", p.Padded, p.Rows)
			}
			EncodeAdded(v.Out.Added)
			EncodeVocab(v.Out.Vocab)
		}
	})
}
