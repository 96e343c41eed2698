package openai

import (
	"encoding/json"
	"math"
	"testing"
)

// FuzzParseTopLogprobs: any logprobs field either fails to parse or gives
// alternatives sorted most likely first, whatever its shape.
func FuzzParseTopLogprobs(f *testing.F) {
	for _, s := range []string{
		`{"tokens":[" B"],"token_logprobs":[-0.1],"top_logprobs":[{" A":-2," B":-0.1}],"text_offset":[0]}`,
		`{"content":[{"token":" B","logprob":-0.1,"top_logprobs":[{"token":" B","logprob":-0.1},{"token":" A","logprob":-2}]}]}`,
		`null`, ``, `{}`, `{"top_logprobs":[]}`, `{"top_logprobs":[null]}`, `{"content":[]}`, `[1,2]`, `{"top_logprobs":[{"A":1e308,"B":-1e308}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		toks, err := parseTopLogprobs(json.RawMessage(data))
		if err != nil {
			return
		}
		for i := 1; i < len(toks); i++ {
			a, b := toks[i-1].Logprob, toks[i].Logprob
			if !math.IsNaN(a) && !math.IsNaN(b) && a < b {
				t.Fatalf("not sorted: %v", toks)
			}
		}
	})
}
