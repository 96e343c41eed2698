package eval

import (
	"context"
	"fmt"

	"github.com/mergetune/mergetune/datasets"
)

// ChatFormatter is implemented by a model that renders a conversation
// into a plain prompt with its own chat template (the built-in runner:
// the chat_template of its tokenizer_config.json). A chat task's items are
// then asked as usual with the rendered prompt, which is what the item
// records show.
type ChatFormatter interface {
	FormatChat(msgs []Message) (string, error)
}

// Chatter is implemented by a model whose server applies the model's
// chat template itself (Ollama's /api/chat). A chat task's items are then
// sent as conversations; the item records show the user turn.
type Chatter interface {
	// ChatGenerate returns the greedy answer to msgs.
	ChatGenerate(ctx context.Context, msgs []Message, opt GenerateOptions) (string, error)
	// ChatTopTokens returns the k most likely first tokens of the
	// answer to msgs, most likely first.
	ChatTopTokens(ctx context.Context, msgs []Message, k int) ([]TokenLogprob, error)
}

// userTurn is the conversation a chat task sends for prompt.
func userTurn(prompt string) []Message { return []Message{{Role: "user", Content: prompt}} }

// checkChat fails a chat task on a model that has no chat template, or
// one whose server applies it (Chatter) under a log-likelihood scoring
// mode, which needs the rendered prompt.
func checkChat(m Model, t *datasets.Task, req Request) error {
	if !t.Chat {
		return nil
	}
	if _, ok := m.(ChatFormatter); ok {
		return nil
	}
	if _, ok := m.(Chatter); !ok {
		return fmt.Errorf("eval: task %s: chat: true, but this backend (%s) has no chat template: %w", t.Name, m.Settings(), ErrUnsupported)
	}
	if req.Kind == RequestLogLikelihood {
		return fmt.Errorf("eval: task %s: chat: true with scoring: %s: this backend (%s) applies the chat template on the server, so the rendered prompt cannot be scored by log-likelihood: %w",
			t.Name, t.Scoring, m.Settings(), ErrUnsupported)
	}
	return nil
}

// chatItem returns it with its prompt rendered by the model's chat
// template when the task is a chat task and the model renders it
// (ChatFormatter); otherwise it unchanged.
func chatItem(m Model, t *datasets.Task, it datasets.Item) (datasets.Item, error) {
	if !t.Chat {
		return it, nil
	}
	f, ok := m.(ChatFormatter)
	if !ok {
		return it, nil
	}
	p, err := f.FormatChat(userTurn(it.Prompt))
	if err != nil {
		return it, fmt.Errorf("chat: %w", err)
	}
	it.Prompt = p
	return it, nil
}

// serverChat returns the model as a Chatter when a chat request goes to
// the server's chat endpoint (a chat task on a model that does not
// render the template itself).
func serverChat(m Model, req Request) (Chatter, bool) {
	if !req.Chat {
		return nil, false
	}
	if _, ok := m.(ChatFormatter); ok {
		return nil, false
	}
	c, ok := m.(Chatter)
	return c, ok
}

// askChat asks an item of a chat task through the server's chat endpoint:
// the answer letter from the first answer token's log-probabilities for
// a choice task (a generation when none is among them), else a
// generation.
func askChat(ctx context.Context, c Chatter, prompt string, it datasets.Item, req Request) (string, error) {
	msgs := userTurn(prompt)
	if req.Kind == RequestChoice {
		toks, err := c.ChatTopTokens(ctx, msgs, req.TopK)
		if err != nil {
			return "", fmt.Errorf("chat top tokens: %w", err)
		}
		if l, ok := pickLetter(toks, len(it.Choices)); ok {
			return l, nil
		}
	}
	resp, err := c.ChatGenerate(ctx, msgs, req.Generate)
	if err != nil {
		return "", fmt.Errorf("chat: %w", err)
	}
	return resp, nil
}
