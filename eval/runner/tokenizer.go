package runner

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokenizer is a byte-level BPE tokenizer read from a Hugging Face
// tokenizer.json: text bytes are mapped through GPT-2's bytes_to_unicode,
// optionally split with the GPT-2 pre-tokenizer pattern, merged by merge
// rank and looked up in the vocabulary.
type tokenizer struct {
	vocab      map[string]int
	ranks      map[[2]string]int
	byteSym    [256]string // bytes_to_unicode symbol of each byte
	byteID     [256]int    // token id of each single-byte symbol
	tokenBytes [][]byte    // id -> decoded bytes (nil: no such token)
	split      bool        // apply the GPT-2 pre-tokenizer before merging
	bos        int         // id prepended to prompts, or -1
	eos        map[int]bool
}

// bytesToUnicode returns GPT-2's reversible byte -> printable rune table.
func bytesToUnicode() [256]rune {
	var t [256]rune
	var set [256]bool
	for b := '!'; b <= '~'; b++ {
		set[b] = true
	}
	for b := '¡'; b <= '¬'; b++ {
		set[b] = true
	}
	for b := '®'; b <= 'ÿ'; b++ {
		set[b] = true
	}
	n := rune(0)
	for b := range 256 {
		if set[b] {
			t[b] = rune(b)
		} else {
			t[b] = 256 + n
			n++
		}
	}
	return t
}

type tokenizerJSON struct {
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	PreTokenizer *struct {
		Type     string `json:"type"`
		UseRegex *bool  `json:"use_regex"`
	} `json:"pre_tokenizer"`
	Model struct {
		Type   string            `json:"type"`
		Vocab  map[string]int    `json:"vocab"`
		Merges []json.RawMessage `json:"merges"`
	} `json:"model"`
}

type tokenizerConfigJSON struct {
	AddBOS   *bool           `json:"add_bos_token"`
	BOSToken json.RawMessage `json:"bos_token"`
	EOSToken json.RawMessage `json:"eos_token"`
}

// tokenContent returns the content of a tokenizer_config.json special token,
// given either as a string or as an object with a "content" field.
func tokenContent(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Content string `json:"content"`
	}
	if json.Unmarshal(raw, &o) == nil {
		return o.Content
	}
	return ""
}

// loadTokenizer reads dir/tokenizer.json and the optional
// dir/tokenizer_config.json. vocabSize bounds the token ids; bosID and eosIDs
// come from config.json (bosID < 0: none).
func loadTokenizer(dir string, vocabSize, bosID int, eosIDs []int) (*tokenizer, error) {
	path := filepath.Join(dir, "tokenizer.json")
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("runner: %s: no tokenizer.json (the built-in runner needs a byte-level BPE tokenizer)", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("runner: read %s: %w", path, err)
	}
	var tj tokenizerJSON
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, fmt.Errorf("runner: parse %s: %w", path, err)
	}
	if tj.Model.Type != "BPE" && !(tj.Model.Type == "" && tj.Model.Merges != nil) {
		return nil, fmt.Errorf("runner: %s: tokenizer model type %q is not supported (the built-in runner needs a byte-level BPE tokenizer)", path, tj.Model.Type)
	}
	t := &tokenizer{vocab: tj.Model.Vocab, ranks: make(map[[2]string]int, len(tj.Model.Merges)), bos: -1, eos: map[int]bool{}}
	if t.vocab == nil {
		t.vocab = map[string]int{}
	}
	maxID := -1
	for _, id := range t.vocab {
		maxID = max(maxID, id)
	}
	for _, a := range tj.AddedTokens {
		maxID = max(maxID, a.ID)
	}
	if maxID >= vocabSize {
		return nil, fmt.Errorf("runner: %s: token id %d is outside the model's vocabulary of %d", path, maxID, vocabSize)
	}
	t.tokenBytes = make([][]byte, maxID+1)

	syms := bytesToUnicode()
	symByte := make(map[rune]byte, 256)
	for b, r := range syms {
		t.byteSym[b] = string(r)
		symByte[r] = byte(b)
		id, ok := t.vocab[string(r)]
		if !ok {
			return nil, fmt.Errorf("runner: %s: not a byte-level BPE tokenizer: no token for byte 0x%02x (symbol %q)", path, b, string(r))
		}
		t.byteID[b] = id
	}
	for tok, id := range t.vocab {
		if id < 0 {
			return nil, fmt.Errorf("runner: %s: negative token id %d for %q", path, id, tok)
		}
		var bs []byte
		for _, r := range tok {
			if b, ok := symByte[r]; ok {
				bs = append(bs, b)
			} else {
				bs = utf8.AppendRune(bs, r)
			}
		}
		if bs == nil {
			bs = []byte{}
		}
		t.tokenBytes[id] = bs
	}
	added := map[string]int{}
	for _, a := range tj.AddedTokens {
		if a.ID < 0 {
			return nil, fmt.Errorf("runner: %s: negative added token id %d", path, a.ID)
		}
		added[a.Content] = a.ID
		switch _, inVocab := t.vocab[a.Content]; {
		case a.Special:
			// Special tokens (BOS, EOS, ...) decode to nothing, as with
			// skip_special_tokens in Hugging Face tokenizers.
			t.tokenBytes[a.ID] = []byte{}
		case !inVocab:
			t.tokenBytes[a.ID] = []byte(a.Content)
		}
	}
	for i, raw := range tj.Model.Merges {
		var pair [2]string
		var s string
		if json.Unmarshal(raw, &s) == nil {
			a, b, ok := strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("runner: %s: merge %d %q is not a pair", path, i, s)
			}
			pair = [2]string{a, b}
		} else if err := json.Unmarshal(raw, &pair); err != nil {
			return nil, fmt.Errorf("runner: %s: merge %d: %w", path, i, err)
		}
		if _, dup := t.ranks[pair]; !dup {
			t.ranks[pair] = i
		}
	}
	if p := tj.PreTokenizer; p != nil && p.Type == "ByteLevel" && (p.UseRegex == nil || *p.UseRegex) {
		t.split = true
	}

	// Special tokens: tokenizer_config.json names them, config.json gives ids.
	cpath := filepath.Join(dir, "tokenizer_config.json")
	var tc tokenizerConfigJSON
	if data, err := os.ReadFile(cpath); err == nil {
		if err := json.Unmarshal(data, &tc); err != nil {
			return nil, fmt.Errorf("runner: parse %s: %w", cpath, err)
		}
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("runner: read %s: %w", cpath, err)
	}
	lookup := func(content string) int {
		if content == "" {
			return -1
		}
		if id, ok := added[content]; ok {
			return id
		}
		if id, ok := t.vocab[content]; ok {
			return id
		}
		return -1
	}
	if tc.AddBOS != nil && *tc.AddBOS {
		t.bos = lookup(tokenContent(tc.BOSToken))
		if t.bos < 0 && bosID >= 0 && bosID < vocabSize {
			t.bos = bosID
		}
	}
	// Generation ends at an end-of-sequence token only if it is a special
	// token outside the byte alphabet: a byte that doubles as EOS is text.
	isByte := map[int]bool{}
	for _, id := range t.byteID {
		isByte[id] = true
	}
	for _, id := range append([]int{lookup(tokenContent(tc.EOSToken))}, eosIDs...) {
		if id >= 0 && id < vocabSize && !isByte[id] {
			t.eos[id] = true
		}
	}
	return t, nil
}

// encode returns the token ids of text, without BOS.
func (t *tokenizer) encode(text string) []int {
	ids := make([]int, 0, len(text))
	if len(t.ranks) == 0 {
		for i := 0; i < len(text); i++ {
			ids = append(ids, t.byteID[text[i]])
		}
		return ids
	}
	if !t.split {
		return t.bpe(ids, text)
	}
	for len(text) > 0 {
		n := gpt2Chunk(text)
		ids = t.bpe(ids, text[:n])
		text = text[n:]
	}
	return ids
}

// bpe appends the ids of one pre-tokenized chunk, merging adjacent symbols
// by lowest merge rank (all non-overlapping occurrences of the best pair,
// left to right, as Hugging Face tokenizers do).
func (t *tokenizer) bpe(ids []int, chunk string) []int {
	syms := make([]string, len(chunk))
	for i := 0; i < len(chunk); i++ {
		syms[i] = t.byteSym[chunk[i]]
	}
	for len(syms) > 1 {
		best := -1
		var pair [2]string
		for i := 0; i+1 < len(syms); i++ {
			if r, ok := t.ranks[[2]string{syms[i], syms[i+1]}]; ok && (best < 0 || r < best) {
				best, pair = r, [2]string{syms[i], syms[i+1]}
			}
		}
		if best < 0 {
			break
		}
		out := syms[:0]
		for i := 0; i < len(syms); i++ {
			if i+1 < len(syms) && syms[i] == pair[0] && syms[i+1] == pair[1] {
				out = append(out, pair[0]+pair[1])
				i++
			} else {
				out = append(out, syms[i])
			}
		}
		syms = out
	}
	for _, s := range syms {
		if id, ok := t.vocab[s]; ok {
			ids = append(ids, id)
			continue
		}
		// A merge whose result is not in the vocabulary: fall back to
		// the symbols' bytes.
		for _, r := range s {
			for b, bs := range t.byteSym {
				if bs == string(r) {
					ids = append(ids, t.byteID[b])
					break
				}
			}
		}
	}
	return ids
}

// decode appends the bytes of the tokens ids to dst; unknown ids and
// special tokens are skipped.
func (t *tokenizer) decode(dst []byte, ids []int) []byte {
	for _, id := range ids {
		if id >= 0 && id < len(t.tokenBytes) {
			dst = append(dst, t.tokenBytes[id]...)
		}
	}
	return dst
}

// gpt2Chunk returns the length in bytes of the first chunk of s under the
// GPT-2 pre-tokenizer pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// Invalid UTF-8 bytes count as "other" characters.
func gpt2Chunk(s string) int {
	if s[0] == '\'' && len(s) > 1 {
		for _, c := range []string{"s", "t", "m", "d", "re", "ve", "ll"} {
			if strings.HasPrefix(s[1:], c) {
				return 1 + len(c)
			}
		}
	}
	class := func(r rune) int {
		switch {
		case unicode.IsLetter(r):
			return 1
		case unicode.IsNumber(r):
			return 2
		case unicode.IsSpace(r):
			return 0
		}
		return 3
	}
	start := 0
	if s[0] == ' ' && len(s) > 1 {
		start = 1
	}
	r, w := utf8.DecodeRuneInString(s[start:])
	if c := class(r); c != 0 {
		i := start + w
		for i < len(s) {
			r, w := utf8.DecodeRuneInString(s[i:])
			if class(r) != c {
				break
			}
			i += w
		}
		return i
	}
	// Whitespace run starting at 0.
	i, last := 0, 0
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		if class(r) != 0 {
			break
		}
		last = i
		i += w
	}
	if i == len(s) || last == 0 {
		return i
	}
	return last
}
