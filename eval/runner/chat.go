package runner

import (
	"fmt"

	"github.com/mergetune/mergetune/eval"
)

var _ eval.ChatFormatter = (*Model)(nil)

// FormatChat implements eval.ChatFormatter: msgs rendered with the chat
// template of the model's tokenizer_config.json, ending with the opening
// of the assistant's turn. A model without a usable template gives an
// error saying why (chat.ErrNoTemplate when it has none).
func (m *Model) FormatChat(msgs []eval.Message) (string, error) {
	if m.chatErr != nil {
		return "", fmt.Errorf("runner: %w", m.chatErr)
	}
	return m.chat.Render(msgs)
}
