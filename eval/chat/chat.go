// Package chat renders a conversation into a prompt with a Hugging Face
// chat template: the Jinja template in a model's tokenizer_config.json
// (chat_template), rendered by github.com/nikolalohinski/gonja/v2. It
// renders the common templates (ChatML, Llama 2 and 3, Mistral, Gemma:
// namespace(), loop filters, .strip(), | trim, raise_exception); gonja
// cannot parse a parenthesised inline if-expression ("(a if c else b)"),
// and such a template is refused with an error naming its file.
package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/exec"

	"github.com/mergetune/mergetune/eval"
)

// ErrNoTemplate is wrapped by FromModelDir's error for a model whose
// tokenizer_config.json holds no chat_template.
var ErrNoTemplate = errors.New("no chat_template")

// Template is a parsed chat template with the special tokens it may use.
type Template struct {
	name string // where it came from, for messages
	tpl  *exec.Template
	// BOS and EOS are the bos_token and eos_token the template sees.
	BOS, EOS string
}

// Parse parses a chat template's Jinja source; name says where it came
// from (a file) in errors.
func Parse(name, src string) (*Template, error) {
	tpl, err := gonja.FromString(src)
	if err != nil {
		return nil, fmt.Errorf("chat template %s: %w", name, err)
	}
	return &Template{name: name, tpl: tpl}, nil
}

// Render returns the prompt of msgs, ending with the assistant turn's
// opening (add_generation_prompt) so that the model's answer follows.
func (t *Template) Render(msgs []eval.Message) (string, error) {
	list := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		list[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	ctx := exec.NewContext(map[string]any{
		"messages":              list,
		"add_generation_prompt": true,
		"bos_token":             t.BOS,
		"eos_token":             t.EOS,
		"raise_exception": func(msg string) (string, error) {
			return "", fmt.Errorf("the template raised: %s", msg)
		},
	})
	out, err := t.tpl.ExecuteToString(ctx)
	if err != nil {
		return "", fmt.Errorf("chat template %s: %w", t.name, err)
	}
	return out, nil
}

// tokenizerConfig holds the fields of tokenizer_config.json a chat
// template needs. chat_template is a string, or a list of named
// templates ({name, template}) of which "default" is used; a special
// token is a string or an object with its content.
type tokenizerConfig struct {
	ChatTemplate json.RawMessage `json:"chat_template"`
	BOS          json.RawMessage `json:"bos_token"`
	EOS          json.RawMessage `json:"eos_token"`
}

// FromModelDir reads the chat template of the model in dir from its
// tokenizer_config.json; a model without one gives an error wrapping
// ErrNoTemplate.
func FromModelDir(dir string) (*Template, error) {
	path := filepath.Join(dir, "tokenizer_config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	var cfg tokenizerConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("chat template: %s: %w", path, err)
	}
	src, err := templateSource(cfg.ChatTemplate)
	if err != nil {
		return nil, fmt.Errorf("chat template: %s: chat_template: %w", path, err)
	}
	if src == "" {
		return nil, fmt.Errorf("chat template: %s: %w (not an instruct model, or its template ships elsewhere)", path, ErrNoTemplate)
	}
	t, err := Parse(path, src)
	if err != nil {
		return nil, err
	}
	if t.BOS, err = specialToken(cfg.BOS); err != nil {
		return nil, fmt.Errorf("chat template: %s: bos_token: %w", path, err)
	}
	if t.EOS, err = specialToken(cfg.EOS); err != nil {
		return nil, fmt.Errorf("chat template: %s: eos_token: %w", path, err)
	}
	return t, nil
}

// templateSource reads chat_template: a string, or a list of {name,
// template} of which the one named "default" (else the only one).
func templateSource(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var list []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", errors.New("want a string or a list of {name, template}")
	}
	for _, e := range list {
		if e.Name == "default" {
			return e.Template, nil
		}
	}
	if len(list) == 1 {
		return list[0].Template, nil
	}
	return "", fmt.Errorf("%d named templates and none named \"default\"", len(list))
}

// specialToken reads a special token: a string, an object with its
// content, or null.
func specialToken(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var o struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return "", errors.New("want a string or an object with content")
	}
	return o.Content, nil
}
