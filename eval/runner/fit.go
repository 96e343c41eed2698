package runner

import (
	"unicode/utf8"

	"github.com/mergetune/mergetune/eval"
)

var _ eval.PromptFitter = (*Model)(nil)

// FitPrompt implements eval.PromptFitter: prompt as it is when its
// encoding (with the BOS token) leaves room tokens of the context free,
// else the text of its last tokens that do, starting at a whole UTF-8
// character, and the number of tokens dropped. room is at least 1 and at
// most half the context. A context too small for any of the prompt gives
// "" and every token dropped.
func (m *Model) FitPrompt(prompt string, room int) (string, int) {
	room = min(max(room, 1), max(m.cfg.maxPos/2, 1))
	limit := m.cfg.maxPos - room
	ids := m.tok.encode(prompt)
	bos := 0
	if m.tok.bos >= 0 {
		bos = 1
	}
	if len(ids)+bos <= limit {
		return prompt, 0
	}
	keep := limit - bos
	if keep <= 0 {
		return "", len(ids)
	}
	text := string(m.tok.decode(nil, ids[len(ids)-keep:]))
	// Re-encoding the cut text may merge differently: drop whole
	// characters until it fits.
	for {
		for len(text) > 0 && !utf8.RuneStart(text[0]) {
			text = text[1:]
		}
		if text == "" || len(m.tok.encode(text))+bos <= limit {
			break
		}
		_, n := utf8.DecodeRuneInString(text)
		text = text[n:]
	}
	if text == "" {
		return "", len(ids)
	}
	return text, len(ids) - len(m.tok.encode(text))
}
