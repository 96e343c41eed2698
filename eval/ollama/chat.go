package ollama

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/mergetune/mergetune/eval"
)

var _ eval.Chatter = (*Model)(nil)

// chat sends one non-streaming /api/chat request, retried on transient
// failures like generate: the server wraps the messages in the model's
// own template (the TEMPLATE of its Modelfile, or the one Ollama derived
// from the model's tokenizer_config.json at import).
func (m *Model) chat(ctx context.Context, what string, timeout time.Duration, req *api.ChatRequest) (api.ChatResponse, error) {
	if err := m.acquire(ctx); err != nil {
		return api.ChatResponse{}, fmt.Errorf("ollama: %s: %w", what, err)
	}
	defer m.release()
	no := false
	req.Model = m.name
	req.Stream = &no
	req.Truncate = &no
	req.Shift = &no
	req.KeepAlive = &api.Duration{Duration: DefaultKeepAlive}
	var out api.ChatResponse
	err := m.b.retry(ctx, what, timeout, func(ctx context.Context) error {
		out = api.ChatResponse{}
		return m.b.post(ctx, "/api/chat", req, &out)
	})
	return out, err
}

// messages converts a conversation; an empty one is an error.
func messages(msgs []eval.Message) ([]api.Message, error) {
	if len(msgs) == 0 {
		return nil, errors.New("no messages")
	}
	out := make([]api.Message, len(msgs))
	for i, mm := range msgs {
		out[i] = api.Message{Role: mm.Role, Content: mm.Content}
	}
	return out, nil
}

// describeChat shortens a conversation's last turn for an error message.
func describeChat(msgs []eval.Message) string {
	if len(msgs) == 0 {
		return "[]"
	}
	return describe(msgs[len(msgs)-1].Content)
}

// ChatGenerate implements eval.Chatter: the greedy answer to msgs through
// /api/chat, with Generate's options and rules.
func (m *Model) ChatGenerate(ctx context.Context, msgs []eval.Message, opt eval.GenerateOptions) (string, error) {
	am, err := messages(msgs)
	if err != nil {
		return "", fmt.Errorf("ollama: chat: %w", err)
	}
	numPredict, stop, tokens, err := m.predict(opt)
	if err != nil {
		return "", fmt.Errorf("ollama: chat: %w", err)
	}
	r, err := m.chat(ctx, "chat "+describeChat(msgs), m.b.opt.Timeouts.Generate(tokens), &api.ChatRequest{
		Messages: am,
		Options:  m.options(numPredict, stop),
	})
	if err != nil {
		return "", m.contextError(err)
	}
	return r.Message.Content, nil
}

// ChatTopTokens implements eval.Chatter: the min(k, 20) most likely first
// tokens of the answer to msgs, from one generated token's top_logprobs
// through /api/chat, with TopTokens' rules.
func (m *Model) ChatTopTokens(ctx context.Context, msgs []eval.Message, k int) ([]eval.TokenLogprob, error) {
	am, err := messages(msgs)
	if err != nil {
		return nil, fmt.Errorf("ollama: chat top tokens: %w", err)
	}
	if k <= 0 {
		return nil, nil
	}
	k = min(k, maxTopLogprobs)
	r, err := m.chat(ctx, "chat top tokens "+describeChat(msgs), m.b.opt.Timeouts.Generate(1), &api.ChatRequest{
		Messages:    am,
		Options:     m.options(1, nil),
		Logprobs:    true,
		TopLogprobs: k,
	})
	if err != nil {
		return nil, m.contextError(err)
	}
	return firstTop(r.Logprobs, k), nil
}
