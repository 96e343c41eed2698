package runner

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBytesToUnicode(t *testing.T) {
	tab := bytesToUnicode()
	seen := map[rune]bool{}
	for b, r := range tab {
		if seen[r] {
			t.Fatalf("rune %q repeats", r)
		}
		seen[r] = true
		if b >= '!' && b <= '~' && r != rune(b) {
			t.Errorf("byte %#x -> %q; want itself", b, r)
		}
	}
	for b, want := range map[byte]rune{' ': 'Ġ', '\n': 'Ċ', 0: 'Ā', 0xad: 'Ń', 0xa0: 'ł', 0x7f: 'ġ', 0xff: 'ÿ'} {
		if tab[b] != want {
			t.Errorf("byte %#x -> %q; want %q", b, tab[b], want)
		}
	}
}

func TestTokenizerRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	texts := []string{"", "\n", "a\nb\n\n", "héllo wörld ✓ 日本語\n", "\x00\xff\xfe invalid \xc3", "  two  spaces \t tab", "it's we'll they're 'd", "the other one then"}
	for range 50 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		texts = append(texts, string(b))
	}
	for _, v := range variants {
		m := openVariant(t, v, Options{})
		for _, text := range texts {
			ids := m.Encode(text)
			if got := m.Decode(ids); got != text {
				t.Errorf("%s: Decode(Encode(%q)) = %q (ids %v)", v, text, got, ids)
			}
			if m.tok.bos >= 0 && (len(ids) == 0 || ids[0] != m.tok.bos) {
				t.Errorf("%s: Encode(%q) = %v: no BOS %d first", v, text, ids, m.tok.bos)
			}
		}
	}
}

func TestGPT2Split(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"it's 12 apples!!", []string{"it", "'s", " 12", " apples", "!!"}},
		{"a  b", []string{"a", " ", " b"}},
		{"a \n\nb  ", []string{"a", " \n", "\n", "b", "  "}},
		{"x\ny", []string{"x", "\n", "y"}},
		{"héllo wörld", []string{"héllo", " wörld"}},
		{"a_b 3.5", []string{"a", "_", "b", " 3", ".", "5"}},
		{"'ll'x", []string{"'ll", "'", "x"}},
		{"\xff\xfeab", []string{"\xff\xfe", "ab"}},
	}
	for _, tc := range tests {
		var got []string
		for s := tc.in; len(s) > 0; {
			n := gpt2Chunk(s)
			got = append(got, s[:n])
			s = s[n:]
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("split(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// writeTokenizer writes a byte-level tokenizer.json (256 byte symbols, then
// the merge results) and a tokenizer_config.json into a new directory.
func writeTokenizer(t *testing.T, merges any, added []map[string]any, tcfg map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	vocab := map[string]int{}
	for b, r := range bytesToUnicode() {
		vocab[string(r)] = b
	}
	var pairs [][2]string
	switch m := merges.(type) {
	case []string:
		for _, s := range m {
			a, b, _ := strings.Cut(s, " ")
			pairs = append(pairs, [2]string{a, b})
		}
	case [][2]string:
		pairs = m
	}
	for _, p := range pairs {
		if _, ok := vocab[p[0]+p[1]]; !ok {
			vocab[p[0]+p[1]] = len(vocab)
		}
	}
	tj := map[string]any{
		"added_tokens":  added,
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "use_regex": true},
		"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": merges},
	}
	for name, v := range map[string]any{"tokenizer.json": tj, "tokenizer_config.json": tcfg} {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTokenizerMergesAndSpecials(t *testing.T) {
	bos := []map[string]any{{"id": 300, "content": "<s>", "special": true}, {"id": 301, "content": "</s>", "special": true}}
	tests := []struct {
		name    string
		merges  any
		added   []map[string]any
		tcfg    map[string]any
		eos     []int
		text    string
		want    []int
		wantBOS int
		wantEOS []int
	}{
		{
			name: "no merges", merges: []string{}, text: "ab\n",
			want: []int{'a', 'b', '\n'}, wantBOS: -1, // writeTokenizer gives byte b the id b
		},
		{
			name: "string merges by rank", merges: []string{"a b", "b c", "ab c"}, text: "abc abc",
			// "abc" -> a b c -> (a b) c -> (ab c); " abc" -> Ġ abc
			want: []int{258, ' ', 258}, wantBOS: -1,
		},
		{
			name: "pair merges, rank order", merges: [][2]string{{"b", "c"}, {"a", "b"}}, text: "abc",
			// (b c) has the better rank: a bc
			want: []int{'a', 256}, wantBOS: -1,
		},
		{
			name: "bos from tokenizer_config", merges: []string{}, added: bos,
			tcfg: map[string]any{"add_bos_token": true, "bos_token": map[string]any{"content": "<s>"}, "eos_token": "</s>"},
			text: "a", want: []int{300, 'a'}, wantBOS: 300, wantEOS: []int{301},
		},
		{
			name: "bos not requested", merges: []string{}, added: bos,
			tcfg: map[string]any{"add_bos_token": false, "bos_token": "<s>"},
			text: "a", want: []int{'a'}, wantBOS: -1,
		},
		{
			name: "byte eos is not an end", merges: []string{}, eos: []int{10},
			text: "a", want: []int{'a'}, wantBOS: -1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tcfg == nil {
				tc.tcfg = map[string]any{}
			}
			dir := writeTokenizer(t, tc.merges, tc.added, tc.tcfg)
			tok, err := loadTokenizer(dir, 512, -1, tc.eos)
			if err != nil {
				t.Fatal(err)
			}
			ids := tok.encode(tc.text)
			if tok.bos >= 0 {
				ids = append([]int{tok.bos}, ids...)
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("encode(%q) = %v; want %v", tc.text, ids, tc.want)
			}
			if tok.bos != tc.wantBOS {
				t.Errorf("bos = %d; want %d", tok.bos, tc.wantBOS)
			}
			for _, id := range tc.wantEOS {
				if !tok.eos[id] {
					t.Errorf("eos %d not recognised (%v)", id, tok.eos)
				}
			}
			if len(tc.wantEOS) == 0 && len(tok.eos) != 0 {
				t.Errorf("eos = %v; want none", tok.eos)
			}
			if got := string(tok.decode(nil, tok.encode(tc.text))); got != tc.text {
				t.Errorf("round trip %q -> %q", tc.text, got)
			}
		})
	}
}

func TestTokenizerIDOutsideVocab(t *testing.T) {
	dir := writeTokenizer(t, []string{}, nil, map[string]any{})
	if _, err := loadTokenizer(dir, 200, -1, nil); err == nil || !strings.Contains(err.Error(), "outside the model's vocabulary of 200") {
		t.Errorf("err = %v; want an out-of-vocabulary error", err)
	}
}
