package chat

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/eval"
)

// TestFromModelDir renders real Hugging Face chat templates from
// tokenizer_config.json files (Qwen2's ChatML template; Llama 2's, as a
// list of named templates with special tokens as objects).
func TestFromModelDir(t *testing.T) {
	sys := eval.Message{Role: "system", Content: "Be brief."}
	user := eval.Message{Role: "user", Content: " rev abc= "}
	for _, tc := range []struct {
		dir  string
		msgs []eval.Message
		want string
	}{
		{"chatml", []eval.Message{user}, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n rev abc= <|im_end|>\n<|im_start|>assistant\n"},
		{"chatml", []eval.Message{sys, user}, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n rev abc= <|im_end|>\n<|im_start|>assistant\n"},
		{"llama2", []eval.Message{user}, "<s>[INST] rev abc= [/INST]"},
		{"llama2", []eval.Message{sys, user}, "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n rev abc= [/INST]"},
	} {
		tpl, err := FromModelDir(filepath.Join("testdata", tc.dir))
		if err != nil {
			t.Fatal(err)
		}
		got, err := tpl.Render(tc.msgs)
		if err != nil {
			t.Fatalf("%s: %v", tc.dir, err)
		}
		if got != tc.want {
			t.Errorf("%s %v:\n got %q\nwant %q", tc.dir, tc.msgs, got, tc.want)
		}
	}
}

func TestTemplateErrors(t *testing.T) {
	_, err := FromModelDir(filepath.Join("testdata", "none"))
	if !errors.Is(err, ErrNoTemplate) || !strings.Contains(err.Error(), "tokenizer_config.json") {
		t.Errorf("no chat_template: %v", err)
	}
	_, err = FromModelDir(filepath.Join("testdata", "paren"))
	if err == nil || !strings.Contains(err.Error(), filepath.Join("paren", "tokenizer_config.json")) {
		t.Errorf("unparsable template: %v, want an error naming the file", err)
	}
	// The Llama 2 template refuses roles that do not alternate.
	tpl, err := FromModelDir(filepath.Join("testdata", "llama2"))
	if err != nil {
		t.Fatal(err)
	}
	u := eval.Message{Role: "user", Content: "x"}
	if _, err := tpl.Render([]eval.Message{u, u}); err == nil || !strings.Contains(err.Error(), "must alternate") {
		t.Errorf("raise_exception: %v", err)
	}
}
