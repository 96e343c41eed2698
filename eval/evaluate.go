package eval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mergetune/mergetune/datasets"
)

// RequestKind says how an item is asked.
type RequestKind string

// Request kinds.
const (
	// RequestGenerate asks for a greedy generation.
	RequestGenerate RequestKind = "generate"
	// RequestChoice reads the answer letter from the next-token
	// log-probabilities (TopTokens with TopK), falling back to a
	// generation when none of the item's letters is among them.
	RequestChoice RequestKind = "choice"
)

// ChoiceTopK is the number of next tokens read for an answer letter: the
// most an Ollama server returns (top_logprobs ≤ 20).
const ChoiceTopK = 20

// Request is how every item of a task is asked; all of it is part of the
// cache key.
type Request struct {
	Kind     RequestKind
	Generate GenerateOptions // the generation (the fallback for RequestChoice)
	TopK     int             // RequestChoice: next tokens read
	// Scoring is the task's log-likelihood scoring mode
	// (RequestLogLikelihood; see datasets.ScoringModes).
	Scoring string
	// Chat says the prompt is a user turn, wrapped in the model's chat
	// template (by the model, ChatFormatter, or its server, Chatter).
	Chat bool
}

// RequestFor returns the request of a task's items.
func RequestFor(t *datasets.Task) Request {
	r := Request{Kind: RequestGenerate, Generate: GenerateOptions{MaxTokens: t.MaxTokens, Stop: t.Stop}, Chat: t.Chat}
	if t.MultipleChoice() {
		r.Kind, r.TopK = RequestChoice, ChoiceTopK
		if mode, err := datasets.LookupScoring(t.Scoring); err == nil && mode.LogLikelihood {
			r.Kind, r.TopK, r.Scoring = RequestLogLikelihood, 0, mode.Name
		}
	}
	return r
}

// CacheRecord is the cached outcome of one item for one model, prompt and
// request.
type CacheRecord struct {
	// ModelDigest, Settings, Task, ItemID and Prompt say what was asked
	// of which model: the prompt as sent (cut from the left when the
	// item was longer than the model's context).
	ModelDigest, Settings, Task, ItemID, Prompt string
	// Response is the model's answer: the generated text, or for a
	// choice request answered from log-probabilities the letter.
	Response string
	// Extracted and Correct are the scorer's verdict when the record was
	// written; Evaluate re-scores Response with the task's scorer.
	Extracted string
	Correct   bool
	// Latency is how long the request took.
	Latency time.Duration
}

// Cache stores item outcomes across runs, keyed by CacheKey. Its methods
// must be safe for concurrent use.
type Cache interface {
	// Get returns the record stored under key, and whether there is one.
	Get(ctx context.Context, key string) (CacheRecord, bool, error)
	// Put stores rec under key, replacing any record there.
	Put(ctx context.Context, key string, rec CacheRecord) error
}

// cacheKeyVersion changes when the meaning of a cached response changes.
const cacheKeyVersion = "mergetune-eval-cache/1"

// CacheKey returns the hex sha256 that identifies the answer of model m to
// item it under req: over the model's Digest (its weights, never its
// name) and Settings, the rendered prompt, the request options and, for a
// choice request, the number of choices (the letters read).
func CacheKey(m Model, it datasets.Item, req Request) string {
	k := struct {
		V         string   `json:"v"`
		Digest    string   `json:"digest"`
		Settings  string   `json:"settings"`
		Kind      string   `json:"kind"`
		Prompt    string   `json:"prompt"`
		MaxTokens int      `json:"max_tokens"`
		Stop      []string `json:"stop"`
		TopK      int      `json:"top_k,omitempty"`
		Letters   int      `json:"letters,omitempty"`
		Scoring   string   `json:"scoring,omitempty"`
		Choices   []string `json:"choices,omitempty"`
		Chat      bool     `json:"chat,omitempty"`
	}{cacheKeyVersion, m.Digest(), m.Settings(), string(req.Kind), it.Prompt,
		req.Generate.MaxTokens, req.Generate.Stop, req.TopK, 0, req.Scoring, nil, req.Chat}
	switch req.Kind {
	case RequestChoice:
		k.Letters = len(it.Choices)
	case RequestLogLikelihood:
		k.Choices = it.Choices
	}
	b, err := json.Marshal(k)
	if err != nil {
		panic(fmt.Sprintf("eval: cache key: %v", err)) // plain strings and ints always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// DefaultParallel is the number of requests a study, extend and the demo
// keep in flight when none is given: 2, a small server's parallelism
// (OLLAMA_NUM_PARALLEL), and what the built-in runner's cores serve
// without one request starving another.
const DefaultParallel = 2

// Options control Evaluate.
type Options struct {
	// Parallel is the number of concurrent requests (< 1: 1). Match it
	// to the server's parallelism (OLLAMA_NUM_PARALLEL).
	Parallel int
	// Cache, when set, is consulted before each request and filled
	// after it.
	Cache Cache
	// Limit > 0 scores only the task's first Limit items.
	Limit int
	// Progress, when set, is called after each item with the number of
	// items done and the total; calls are serialised.
	Progress func(done, total int)
	// Warn, when set, is told of each item longer than the model's
	// context (truncated or skipped); calls are serialised.
	Warn func(msg string)
}

// ItemResult is the outcome of one item.
type ItemResult struct {
	ID string
	// Prompt is the prompt as sent: the item's rendered prompt, cut from
	// the left when it was longer than the model's context (Long).
	Prompt string
	// Target is the reference answer (for a choice item the gold
	// letter), Choices the options of a multiple-choice item and Gold
	// the index of the right one.
	Target  string
	Choices []string
	Gold    int
	// Response is the raw answer, Extracted the scorer's reading of it.
	Response  string
	Extracted string
	Correct   bool
	// Cached says the response came from the cache.
	Cached bool
	// Latency is the request's duration (from the cache: the original
	// request's).
	Latency time.Duration
	// LogLikelihoods are, for a task with a log-likelihood scoring
	// mode, those of each choice as a continuation of Prompt (nil when
	// the answer came from the cache).
	LogLikelihoods []float64
	// Long says whether the item was truncated or skipped for being
	// longer than the model's context; LongNote says by how much.
	Long     LongOutcome
	LongNote string
}

// TaskResult is a task's score.
type TaskResult struct {
	Task  string
	Split string
	// N is the number of items scored; Correct how many were right;
	// Invalid how many gave no readable answer (datasets.Invalid).
	// Truncated counts the scored items cut to fit the model's context,
	// Skipped the items left unscored for their length (not in N).
	N, Correct, Invalid, Truncated, Skipped int
	// Accuracy is Correct / N (0 when N is 0).
	Accuracy float64
	// CI95 is the 95% Wilson score interval of Accuracy (see Wilson).
	CI95 [2]float64
	// Items are the outcomes in task order, skipped items included.
	Items []ItemResult
}

// NewTaskResult sums up the outcomes of task t's items: the one place
// where N, Accuracy and its interval are computed.
func NewTaskResult(t *datasets.Task, items []ItemResult) *TaskResult {
	r := &TaskResult{Task: t.Name, Split: t.Split, Items: items}
	for _, it := range items {
		switch it.Long {
		case LongSkipped:
			r.Skipped++
			continue
		case LongTruncated:
			r.Truncated++
		}
		r.N++
		if it.Correct {
			r.Correct++
		}
		if it.Extracted == datasets.Invalid {
			r.Invalid++
		}
	}
	if r.N > 0 {
		r.Accuracy = float64(r.Correct) / float64(r.N)
	}
	r.CI95[0], r.CI95[1] = Wilson(r.Correct, r.N)
	return r
}

// Evaluate scores model m on task t. Items are requested with up to
// opt.Parallel concurrent requests, in prompt order so that items sharing
// a prompt prefix are adjacent (a server's prompt cache then reuses it);
// the results keep the task's order. An empty response is scored wrong.
// An item longer than the model's context is truncated from the left or
// skipped, as the task's LongItems says (opt.Warn is told); any other
// failing request fails the evaluation with an error naming the item
// (retries are the backend's job).
func Evaluate(ctx context.Context, m Model, t *datasets.Task, opt Options) (*TaskResult, error) {
	items := t.Items
	if opt.Limit > 0 && opt.Limit < len(items) {
		items = items[:opt.Limit]
	}
	req := RequestFor(t)
	if err := checkLogLikelihood(m, t, req); err != nil {
		return nil, err
	}
	if err := checkChat(m, t, req); err != nil {
		return nil, err
	}
	if err := probeLogLikelihood(ctx, m, t, req); err != nil {
		return nil, err
	}
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return items[order[a]].Prompt < items[order[b]].Prompt })

	results := make([]ItemResult, len(items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(opt.Parallel, 1))
	var mu sync.Mutex
	done := 0
	for _, i := range order {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			r, err := evalItem(gctx, m, t, items[i], req, opt.Cache)
			if errors.Is(err, ErrUnsupported) && req.Kind == RequestLogLikelihood {
				return noLogLikelihood(t, m, fmt.Errorf("item %s: %w", items[i].ID, err))
			}
			if err != nil {
				return fmt.Errorf("eval: task %s: item %s: %w", t.Name, items[i].ID, err)
			}
			results[i] = r
			mu.Lock()
			defer mu.Unlock()
			if opt.Warn != nil && r.Long != LongFits {
				opt.Warn(longNote(t.Name, r))
			}
			if opt.Progress != nil {
				done++
				opt.Progress(done, len(items))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("eval: task %s: %w", t.Name, err)
	}

	return NewTaskResult(t, results), nil
}

// evalItem answers and scores one item, through the cache when there is
// one. The cache key is that of the item's rendered prompt; the record
// keeps the prompt as sent.
func evalItem(ctx context.Context, m Model, t *datasets.Task, it datasets.Item, req Request, cache Cache) (ItemResult, error) {
	if err := ctx.Err(); err != nil {
		return ItemResult{}, err
	}
	it, err := chatItem(m, t, it)
	if err != nil {
		return ItemResult{ID: it.ID}, err
	}
	r := ItemResult{ID: it.ID, Prompt: it.Prompt, Target: it.Target, Choices: it.Choices, Gold: it.Gold}
	var key string
	if cache != nil {
		key = CacheKey(m, it, req)
		rec, ok, err := cache.Get(ctx, key)
		if err != nil {
			return r, fmt.Errorf("cache get %s: %w", key, err)
		}
		if ok {
			if rec.Prompt != "" && rec.Prompt != it.Prompt {
				if skipLong(t) {
					r.Long, r.LongNote = LongSkipped, "the cache holds an answer to its truncated prompt"
					return r, nil
				}
				r.Long, r.LongNote = LongTruncated, fmt.Sprintf("%d of %d bytes sent, from the cache", len(rec.Prompt), len(it.Prompt))
				r.Prompt = rec.Prompt
			}
			r.Response, r.Latency, r.Cached = rec.Response, rec.Latency, true
			score(t, it, &r)
			return r, nil
		}
	}
	start := time.Now()
	resp, err := askFitting(ctx, m, t, it, req, &r)
	if err != nil || r.Long == LongSkipped {
		return r, err
	}
	r.Response, r.Latency = resp, time.Since(start)
	score(t, it, &r)
	if cache != nil {
		rec := CacheRecord{ModelDigest: m.Digest(), Settings: m.Settings(), Task: t.Name, ItemID: it.ID, Prompt: r.Prompt,
			Response: r.Response, Extracted: r.Extracted, Correct: r.Correct, Latency: r.Latency}
		if err := cache.Put(ctx, key, rec); err != nil {
			return r, fmt.Errorf("cache put %s: %w", key, err)
		}
	}
	return r, nil
}

// askFitting asks the item, fitting its prompt to the model's context:
// a PromptFitter cuts it to the token before the request; a prompt another
// model refuses with ErrContextOverflow is cut by a quarter of its
// characters and asked again, up to maxCuts times. Under long_items: skip
// an over-long item is not asked. r.Prompt and r.Long record what
// happened; a skipped item has no response and no error.
func askFitting(ctx context.Context, m Model, t *datasets.Task, it datasets.Item, req Request, r *ItemResult) (string, error) {
	prompt := it.Prompt
	if f, ok := m.(PromptFitter); ok {
		fitted, dropped := f.FitPrompt(prompt, fitRoom(req, it))
		if dropped > 0 {
			r.LongNote = fmt.Sprintf("%d prompt tokens dropped to leave %d for the answer", dropped, fitRoom(req, it))
			if skipLong(t) || fitted == "" {
				r.Long = LongSkipped
				return "", nil
			}
			r.Long, r.Prompt, prompt = LongTruncated, fitted, fitted
		}
	}
	for cuts := 0; ; cuts++ {
		resp, err := ask(ctx, m, prompt, it, req, r)
		if !errors.Is(err, ErrContextOverflow) {
			return resp, err
		}
		if skipLong(t) || cuts == maxCuts || prompt == "" {
			r.Long, r.LongNote = LongSkipped, err.Error()
			return "", nil
		}
		prompt = cutLeft(prompt)
		r.Long, r.Prompt = LongTruncated, prompt
		r.LongNote = fmt.Sprintf("%d of %d bytes sent", len(prompt), len(it.Prompt))
	}
}

// score fills the verdict of r; an empty response is wrong.
func score(t *datasets.Task, it datasets.Item, r *ItemResult) {
	out := t.Scorer.Score(it, r.Response)
	r.Extracted, r.Correct = out.Extracted, out.Correct
	if strings.TrimSpace(r.Response) == "" {
		r.Correct = false
	}
}

// ask sends item it's request with prompt; a log-likelihood request
// stores the choices' log-likelihoods in r.
func ask(ctx context.Context, m Model, prompt string, it datasets.Item, req Request, r *ItemResult) (string, error) {
	if req.Kind == RequestLogLikelihood {
		return askLogLikelihood(ctx, m, prompt, it, req, r)
	}
	if c, ok := serverChat(m, req); ok {
		return askChat(ctx, c, prompt, it, req)
	}
	if req.Kind == RequestChoice {
		toks, err := m.TopTokens(ctx, prompt, req.TopK)
		if err != nil && !errors.Is(err, ErrUnsupported) {
			return "", fmt.Errorf("top tokens: %w", err)
		}
		if l, ok := pickLetter(toks, len(it.Choices)); ok {
			return l, nil
		}
	}
	resp, err := m.Generate(ctx, prompt, req.Generate)
	if err != nil {
		return "", fmt.Errorf("generate: %w", err)
	}
	return resp, nil
}

// pickLetter returns the answer letter among the first n with the highest
// log-probability in toks, a letter's variants being "A" and " A"; ties go
// to the earlier letter. ok is false when no letter is present.
func pickLetter(toks []TokenLogprob, n int) (string, bool) {
	best := -1
	bestLP := math.Inf(-1)
	lp := make(map[int]float64)
	for _, tk := range toks {
		s := strings.TrimPrefix(tk.Token, " ")
		if len(s) != 1 || s[0] < 'A' || int(s[0]-'A') >= n || math.IsNaN(tk.Logprob) {
			continue
		}
		i := int(s[0] - 'A')
		if v, ok := lp[i]; !ok || tk.Logprob > v {
			lp[i] = tk.Logprob
		}
	}
	for i := range n {
		if v, ok := lp[i]; ok && (best < 0 || v > bestLP) {
			best, bestLP = i, v
		}
	}
	if best < 0 {
		return "", false
	}
	return datasets.Letter(best), true
}
