package ollama

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
)

// TestChatTaskFake: a chat task's items go to /api/chat as one user turn
// holding the item's prompt, with the greedy options; a choice chat task
// reads the letter from the chat answer's top_logprobs.
func TestChatTaskFake(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	var reqs []api.ChatRequest
	m := fakeModel(t, Options{}, func(w http.ResponseWriter, r *http.Request) {
		var req api.ChatRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Error(err)
		}
		mu.Lock()
		paths = append(paths, r.URL.Path)
		reqs = append(reqs, req)
		mu.Unlock()
		out := api.ChatResponse{Message: api.Message{Role: "assistant", Content: "pkh"}, Done: true}
		if req.TopLogprobs > 0 {
			out.Logprobs = []api.Logprob{{TopLogprobs: []api.TokenLogprob{{Token: " B", Logprob: -0.1}, {Token: "A", Logprob: -0.5}}}}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})
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
	for i, req := range reqs {
		if paths[i] != "/api/chat" || len(req.Messages) != 1 || req.Messages[0].Role != "user" || req.Options["num_predict"] != float64(8) {
			t.Errorf("request %d to %s: %+v", i, paths[i], req)
		}
		if !slices.ContainsFunc(gen.Items[:2], func(it datasets.Item) bool { return it.Prompt == req.Messages[0].Content }) {
			t.Errorf("request %d: user turn %q is no item's prompt", i, req.Messages[0].Content)
		}
	}
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}

	// A lettered choice chat task: the letter from top_logprobs.
	choice := *gen
	choice.Scorer, choice.Scoring = datasets.ChoiceScorer{}, datasets.ScoringLetter
	choice.Items = []datasets.Item{{ID: "x", Prompt: "Pick.\nA. a\nB. b\nAnswer:", Target: "B", Choices: []string{"a", "b"}, Gold: 1}}
	res, err = eval.Evaluate(t.Context(), m, &choice, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Items[0]; r.Response != "B" || !r.Correct || reqs[2].TopLogprobs != eval.ChoiceTopK || paths[2] != "/api/chat" {
		t.Errorf("choice: %+v, request %+v to %s", r, reqs[2], paths[2])
	}

	// A log-likelihood chat task cannot be scored through the server's
	// template.
	acc, err := datasets.Load(filepath.Join("..", "testdata", "toy_chat_acc.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eval.Evaluate(t.Context(), m, acc, eval.Options{}); err == nil {
		t.Error("a log-likelihood chat task on Ollama was evaluated")
	}
}

// TestChatTaskServer: on the real server a chat task goes through
// /api/chat (seen by a recording proxy in front of it) and is answered.
func TestChatTaskServer(t *testing.T) {
	target, err := url.Parse(server(t).Host())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	paths := map[string]int{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths[r.URL.Path]++
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close) // after the model's close, registered later
	b, err := New(Options{Host: front.URL, Parallel: testParallel, NumThread: 1, NamePrefix: "test-" + t.Name(), Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := open(t, b, modelDir())
	task, err := datasets.Load(filepath.Join("..", "testdata", "toy_chat.yml"))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	before := paths["/api/generate"]
	mu.Unlock()
	res, err := eval.Evaluate(t.Context(), m, task, eval.Options{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if paths["/api/chat"] != 3 || paths["/api/generate"] != before || res.N != 3 {
		t.Errorf("requests by path %v (generate before the task: %d), %d items scored", paths, before, res.N)
	}
	t.Logf("%q → %q", res.Items[0].Prompt, res.Items[0].Response)
}
