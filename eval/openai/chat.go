package openai

// Chat tasks through POST /v1/chat/completions: the server wraps the
// messages in the served model's chat template (vLLM and SGLang: the
// chat_template of its tokenizer_config.json; llama-server: the GGUF's;
// Ollama: the model's TEMPLATE), as the Ollama backend's /api/chat.

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mergetune/mergetune/eval"
)

var _ eval.Chatter = (*Model)(nil)

// chatMessage is one turn of a chat request.
type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatRequest is the body of POST /v1/chat/completions.
type chatRequest struct {
	Model       string        `json:"model"`
	Messages    []chatMessage `json:"messages"`
	MaxTokens   *int          `json:"max_tokens,omitempty"`
	Temperature float64       `json:"temperature"`
	TopP        float64       `json:"top_p"`
	Seed        int           `json:"seed"`
	Stop        []string      `json:"stop,omitempty"`
	Logprobs    bool          `json:"logprobs,omitempty"`
	TopLogprobs *int          `json:"top_logprobs,omitempty"`
	Stream      bool          `json:"stream"`
}

// chatCompletion is the answer of POST /v1/chat/completions.
type chatCompletion struct {
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		Logprobs json.RawMessage `json:"logprobs"`
	} `json:"choices"`
}

// chat sends one chat request, retried on transient failures.
func (m *Model) chat(ctx context.Context, what string, tokens int, msgs []eval.Message, req chatRequest) (chatCompletion, error) {
	var out chatCompletion
	if len(msgs) == 0 {
		return out, fmt.Errorf("openai: %s: no messages", what)
	}
	for _, mm := range msgs {
		req.Messages = append(req.Messages, chatMessage{Role: mm.Role, Content: mm.Content})
	}
	req.Model, req.TopP, req.Seed = m.b.opt.ServedName, 1, m.b.opt.Seed
	err := m.send(ctx, what, tokens, "/chat/completions", req, func() { out = chatCompletion{} }, &out, func() int { return len(out.Choices) })
	return out, err
}

// describeChat shortens a conversation's last turn for an error message.
func describeChat(msgs []eval.Message) string {
	if len(msgs) == 0 {
		return "[]"
	}
	return describe(msgs[len(msgs)-1].Content)
}

// ChatGenerate implements eval.Chatter: the greedy answer to msgs, with
// Generate's options and rules.
func (m *Model) ChatGenerate(ctx context.Context, msgs []eval.Message, opt eval.GenerateOptions) (string, error) {
	if opt.MaxTokens < 0 {
		return "", fmt.Errorf("openai: chat: negative MaxTokens %d", opt.MaxTokens)
	}
	req := chatRequest{}
	if opt.MaxTokens > 0 {
		req.MaxTokens = &opt.MaxTokens
	}
	for _, s := range opt.Stop {
		if s != "" {
			req.Stop = append(req.Stop, s)
		}
	}
	tokens := opt.MaxTokens
	if tokens == 0 {
		tokens = 2048
	}
	out, err := m.chat(ctx, "chat "+describeChat(msgs), tokens, msgs, req)
	if err != nil {
		return "", err
	}
	return out.Choices[0].Message.Content, nil
}

// ChatTopTokens implements eval.Chatter: the min(k, TopLogprobs) most
// likely first tokens of the answer to msgs, from one generated token's
// logprobs.content[0].top_logprobs, with TopTokens' rules (no logprobs:
// the greedy token alone; TopLogprobs < 0: eval.ErrUnsupported).
func (m *Model) ChatTopTokens(ctx context.Context, msgs []eval.Message, k int) ([]eval.TokenLogprob, error) {
	if m.b.opt.TopLogprobs < 0 {
		return nil, fmt.Errorf("openai: chat top tokens: %w (top_logprobs is off)", eval.ErrUnsupported)
	}
	if k <= 0 {
		return nil, nil
	}
	k = min(k, m.b.opt.TopLogprobs)
	one := 1
	out, err := m.chat(ctx, "chat top tokens "+describeChat(msgs), 1, msgs, chatRequest{MaxTokens: &one, Logprobs: true, TopLogprobs: &k})
	if err != nil {
		return nil, err
	}
	toks, err := firstTokens(out.Choices[0].Logprobs, out.Choices[0].Message.Content, k)
	if err != nil {
		return nil, fmt.Errorf("openai: chat top tokens %s: %w", describeChat(msgs), err)
	}
	return toks, nil
}
