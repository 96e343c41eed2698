package openai

import (
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
)

// TestChatTaskFake: a chat task's items go to /v1/chat/completions as one
// user turn holding the item's prompt, greedy with max_tokens; a lettered
// choice chat task reads the letter from logprobs.content[0].top_logprobs;
// a chat task scored by log-likelihood is refused (the server applies the
// template, so the scored prompt is unknown).
func TestChatTaskFake(t *testing.T) {
	var mu sync.Mutex
	var reqs []chatRequest
	f := &fake{models: []string{"cand"}, chat: func(w http.ResponseWriter, req chatRequest) {
		mu.Lock()
		reqs = append(reqs, req)
		mu.Unlock()
		c := map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": "pkh"}, "finish_reason": "stop"}
		if req.Logprobs {
			c["message"] = map[string]any{"role": "assistant", "content": " B"}
			c["logprobs"] = map[string]any{"content": []any{map[string]any{"token": " B", "logprob": -0.1,
				"top_logprobs": []any{map[string]any{"token": " B", "logprob": -0.1}, map[string]any{"token": "A", "logprob": -0.5}}}}}
		}
		json.NewEncoder(w).Encode(map[string]any{"object": "chat.completion", "choices": []any{c}})
	}}
	b, _ := newFake(t, f, Options{Seed: 3})
	m, err := b.Open(t.Context(), modelDir(t, "{}"))
	if err != nil {
		t.Fatal(err)
	}
	gen, err := datasets.Load(filepath.Join("..", "testdata", "toy_chat.yml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := eval.Evaluate(t.Context(), m, gen, eval.Options{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Items[0].Correct || res.Items[0].Response != "pkh" || res.Items[0].Prompt != gen.Items[0].Prompt {
		t.Errorf("item 0: %+v", res.Items[0])
	}
	if len(reqs) != 2 {
		t.Fatalf("%d chat requests, want 2", len(reqs))
	}
	for i, req := range reqs {
		if req.Model != "cand" || len(req.Messages) != 1 || req.Messages[0].Role != "user" || req.MaxTokens == nil || *req.MaxTokens != 8 ||
			req.Temperature != 0 || req.TopP != 1 || req.Seed != 3 || req.Logprobs {
			t.Errorf("request %d: %+v", i, req)
		}
		if !slices.ContainsFunc(gen.Items[:2], func(it datasets.Item) bool { return it.Prompt == req.Messages[0].Content }) {
			t.Errorf("request %d: user turn %q is no item's prompt", i, req.Messages[0].Content)
		}
	}
	if n := f.calls.Load(); n != 2 {
		t.Errorf("%d requests in all, want the 2 chat requests", n)
	}

	choice := *gen
	choice.Scorer, choice.Scoring = datasets.ChoiceScorer{}, datasets.ScoringLetter
	choice.Items = []datasets.Item{{ID: "x", Prompt: "Pick.\nA. a\nB. b\nAnswer:", Target: "B", Choices: []string{"a", "b"}, Gold: 1}}
	res, err = eval.Evaluate(t.Context(), m, &choice, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r, req := res.Items[0], reqs[2]; r.Response != "B" || !r.Correct || !req.Logprobs || req.TopLogprobs == nil || *req.TopLogprobs != eval.ChoiceTopK ||
		req.MaxTokens == nil || *req.MaxTokens != 1 {
		t.Errorf("choice: %+v, request %+v", r, req)
	}

	acc, err := datasets.Load(filepath.Join("..", "testdata", "toy_chat_acc.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eval.Evaluate(t.Context(), m, acc, eval.Options{}); !errors.Is(err, eval.ErrUnsupported) {
		t.Errorf("a log-likelihood chat task: %v, want ErrUnsupported", err)
	}
	if n := f.calls.Load(); n != 3 {
		t.Errorf("%d requests in all, want 3 (the refused task sends none)", n)
	}
}
