package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mergetune/mergetune/datasets"
)

// fakeModel answers from functions of the prompt and records its calls.
type fakeModel struct {
	digest, settings string
	gen              func(prompt string) (string, error)
	top              func(prompt string) ([]TokenLogprob, error)
	// gather, when positive, holds each call until gather calls have
	// been in flight at once, so that a test sees the concurrency it
	// allows without hoping that sleeps overlap on a busy machine.
	// gathered must then be a fresh channel. A run that never gets
	// there is let go after a minute (a hang guard only), and its peak
	// shows it.
	gather   int32
	gathered chan struct{}
	once     sync.Once

	mu       sync.Mutex
	calls    []string // "gen " or "top " + prompt
	inflight atomic.Int32
	peak     atomic.Int32
}

func (m *fakeModel) enter(kind, prompt string) func() {
	m.mu.Lock()
	m.calls = append(m.calls, kind+" "+prompt)
	m.mu.Unlock()
	n := m.inflight.Add(1)
	for {
		p := m.peak.Load()
		if n <= p || m.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if m.gather > 0 {
		if n >= m.gather {
			m.once.Do(func() { close(m.gathered) })
		}
		select {
		case <-m.gathered:
		case <-time.After(time.Minute):
			m.once.Do(func() { close(m.gathered) })
		}
	}
	return func() { m.inflight.Add(-1) }
}

func (m *fakeModel) Generate(ctx context.Context, prompt string, opt GenerateOptions) (string, error) {
	defer m.enter("gen", prompt)()
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return m.gen(prompt)
}

func (m *fakeModel) LogLikelihood(context.Context, string, string) (float64, error) {
	return 0, ErrUnsupported
}

func (m *fakeModel) TopTokens(ctx context.Context, prompt string, k int) ([]TokenLogprob, error) {
	defer m.enter("top", prompt)()
	if m.top == nil {
		return nil, ErrUnsupported
	}
	return m.top(prompt)
}

func (m *fakeModel) Digest() string   { return m.digest }
func (m *fakeModel) Settings() string { return m.settings }
func (m *fakeModel) Close() error     { return nil }

func (m *fakeModel) callList() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

// memCache is an in-memory Cache.
type memCache struct {
	mu         sync.Mutex
	m          map[string]CacheRecord
	gets, hits int
	getErr     error
}

func (c *memCache) Get(_ context.Context, key string) (CacheRecord, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets++
	if c.getErr != nil {
		return CacheRecord{}, false, c.getErr
	}
	r, ok := c.m[key]
	if ok {
		c.hits++
	}
	return r, ok, nil
}

func (c *memCache) Put(_ context.Context, key string, r CacheRecord) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]CacheRecord{}
	}
	c.m[key] = r
	return nil
}

func loadTask(t *testing.T, name string) *datasets.Task {
	t.Helper()
	task, err := datasets.Load(filepath.Join("..", "datasets", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// lastLine returns the item's own question: the prompt's last "Q: " line.
func question(prompt string) string {
	i := strings.LastIndex(prompt, "Q: ")
	return strings.TrimSuffix(prompt[i+3:], "\nA:")
}

// qaAnswers answers the questions of datasets/testdata/qa.jsonl.
func qaAnswers(prompt string) (string, error) {
	switch q := question(prompt); q {
	case "What is the capital of France?":
		return " paris", nil
	case "What colour is the sky on a clear day?":
		return "BLUE", nil
	case "How many legs has a spider?":
		return "eight", nil
	case "Who wrote Hamlet?":
		return "", nil // an empty response is wrong, not a crash
	case "What is frozen water called?":
		return "the ice!", nil
	default:
		return "", fmt.Errorf("unexpected question %q", q)
	}
}

func TestEvaluateGenerate(t *testing.T) {
	task := loadTask(t, "qa.yml")
	m := &fakeModel{digest: "d1", settings: "s", gen: qaAnswers}
	var progress [][2]int
	res, err := Evaluate(context.Background(), m, task, Options{Parallel: 2,
		Progress: func(done, total int) { progress = append(progress, [2]int{done, total}) }})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id, ext string
		ok      bool
	}{
		{"qa.jsonl:1", "paris", true},
		{"qa.jsonl:2", "blue", true},
		{"qa.jsonl:4", "eight", false},
		{"qa.jsonl:5", "", false},
		{"qa.jsonl:6", "ice", true},
	}
	if res.N != 5 || res.Correct != 3 || res.Accuracy != 0.6 || res.Task != "qa" || res.Split != "holdout" {
		t.Errorf("result %+v", res)
	}
	for i, w := range want {
		r := res.Items[i]
		if r.ID != w.id || r.Extracted != w.ext || r.Correct != w.ok || r.Cached || r.Prompt != task.Items[i].Prompt {
			t.Errorf("item %d = %+v, want %+v", i, r, w)
		}
	}
	if res.CI95[0] > res.Accuracy || res.CI95[1] < res.Accuracy || res.CI95[0] < 0 || res.CI95[1] > 1 {
		t.Errorf("CI95 %v around %v", res.CI95, res.Accuracy)
	}
	if len(progress) != 5 || progress[4] != [2]int{5, 5} {
		t.Errorf("progress %v", progress)
	}
	for i, p := range progress {
		if p[0] != i+1 {
			t.Errorf("progress %v", progress)
		}
	}

	lim, err := Evaluate(context.Background(), m, task, Options{Limit: 2})
	if err != nil || lim.N != 2 || lim.Items[1].ID != "qa.jsonl:2" {
		t.Errorf("Limit 2: %+v, %v", lim, err)
	}
}

// TestEvaluateOrder checks that requests go out in prompt order (shared
// prefixes adjacent) while the results keep the task's order.
func TestEvaluateOrder(t *testing.T) {
	task, err := datasets.Builtin("toy:reverse", "", 30)
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeModel{gen: func(p string) (string, error) { return "x", nil }}
	res, err := Evaluate(context.Background(), m, task, Options{Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	calls := m.callList()
	if !sort.StringsAreSorted(calls) || len(calls) != 30 {
		t.Errorf("requests not in prompt order: %q", calls)
	}
	for i, r := range res.Items {
		if r.ID != task.Items[i].ID {
			t.Fatalf("result %d is %s, want %s", i, r.ID, task.Items[i].ID)
		}
	}
}

func TestEvaluateParallel(t *testing.T) {
	task, err := datasets.Builtin("toy:upper", "", 40)
	if err != nil {
		t.Fatal(err)
	}
	for _, parallel := range []int{0, 1, 3, 8} {
		want := max(parallel, 1)
		m := &fakeModel{gather: int32(want), gathered: make(chan struct{}), gen: func(p string) (string, error) {
			return strings.ToUpper(strings.TrimSuffix(strings.TrimPrefix(p, "up "), "=")), nil
		}}
		res, err := Evaluate(context.Background(), m, task, Options{Parallel: parallel})
		if err != nil {
			t.Fatal(err)
		}
		// The first calls wait for one another, so the peak is the
		// concurrency Evaluate allows, whatever the machine's speed.
		if peak := int(m.peak.Load()); peak != want {
			t.Errorf("parallel %d: peak of %d concurrent requests", parallel, peak)
		}
		// 40 of 40: the Wilson interval does not collapse to [1, 1].
		if res.Correct != 40 || math.Abs(res.CI95[0]-0.91238) > 1e-5 || res.CI95[1] != 1 {
			t.Errorf("parallel %d: %d correct, CI95 %v", parallel, res.Correct, res.CI95)
		}
	}
}

func TestEvaluateCache(t *testing.T) {
	task := loadTask(t, "qa.yml")
	cache := &memCache{}
	m := &fakeModel{digest: "weights-1", settings: "s", gen: qaAnswers}
	first, err := Evaluate(context.Background(), m, task, Options{Parallel: 3, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if len(cache.m) != 5 || cache.hits != 0 || len(m.callList()) != 5 {
		t.Fatalf("first run: %d records, %d hits, %d calls", len(cache.m), cache.hits, len(m.callList()))
	}
	// The same weights under another model object: everything cached.
	again := &fakeModel{digest: "weights-1", settings: "s", gen: func(string) (string, error) {
		return "", errors.New("must not be called")
	}}
	second, err := Evaluate(context.Background(), again, task, Options{Parallel: 3, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range second.Items {
		f := first.Items[i]
		if !r.Cached || r.Response != f.Response || r.Correct != f.Correct || r.Extracted != f.Extracted || r.Latency != f.Latency {
			t.Errorf("item %s: cached %+v, first %+v", r.ID, r, f)
		}
	}
	if second.Correct != first.Correct || second.CI95 != first.CI95 || cache.hits != 5 {
		t.Errorf("second run: %d correct (first %d), %d hits", second.Correct, first.Correct, cache.hits)
	}
	// Other weights or other settings miss.
	for _, other := range []*fakeModel{
		{digest: "weights-2", settings: "s", gen: qaAnswers},
		{digest: "weights-1", settings: "num_ctx=4096", gen: qaAnswers},
	} {
		res, err := Evaluate(context.Background(), other, task, Options{Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		if res.Items[0].Cached || len(other.callList()) != 5 {
			t.Errorf("digest %s settings %s: served from the cache", other.digest, other.settings)
		}
	}
	// A cache failure fails the evaluation, naming the item.
	bad := &memCache{getErr: errors.New("disk full")}
	_, err = Evaluate(context.Background(), m, task, Options{Cache: bad, Limit: 1})
	if err == nil || !strings.HasPrefix(err.Error(), "eval: task qa: item qa.jsonl:1: cache get ") || !strings.HasSuffix(err.Error(), ": disk full") {
		t.Errorf("cache error: %v", err)
	}
}

func TestCacheKey(t *testing.T) {
	m := &fakeModel{digest: "d", settings: "s"}
	it := datasets.Item{ID: "a", Prompt: "p", Target: "t", Choices: []string{"x", "y"}}
	req := Request{Kind: RequestGenerate, Generate: GenerateOptions{MaxTokens: 8, Stop: []string{"\n"}}}
	base := CacheKey(m, it, req)
	if len(base) != 64 {
		t.Fatalf("key %q", base)
	}
	same := []struct {
		name string
		m    Model
		it   datasets.Item
		req  Request
	}{
		{"another ID and target", m, datasets.Item{ID: "b", Prompt: "p", Target: "u", Choices: []string{"x", "y"}}, req},
		{"another model object", &fakeModel{digest: "d", settings: "s"}, it, req},
	}
	for _, tc := range same {
		if CacheKey(tc.m, tc.it, tc.req) != base {
			t.Errorf("%s: key changed", tc.name)
		}
	}
	choice := Request{Kind: RequestChoice, Generate: req.Generate, TopK: 20}
	differ := []struct {
		name string
		m    Model
		it   datasets.Item
		req  Request
	}{
		{"digest", &fakeModel{digest: "e", settings: "s"}, it, req},
		{"settings", &fakeModel{digest: "d", settings: "t"}, it, req},
		{"prompt", m, datasets.Item{Prompt: "q"}, req},
		{"max tokens", m, it, Request{Kind: RequestGenerate, Generate: GenerateOptions{MaxTokens: 9, Stop: []string{"\n"}}}},
		{"stop", m, it, Request{Kind: RequestGenerate, Generate: GenerateOptions{MaxTokens: 8, Stop: []string{"\n\n"}}}},
		{"kind", m, it, choice},
	}
	seen := map[string]string{base: "base"}
	for _, tc := range differ {
		k := CacheKey(tc.m, tc.it, tc.req)
		if prev, ok := seen[k]; ok {
			t.Errorf("%s: same key as %s", tc.name, prev)
		}
		seen[k] = tc.name
	}
	three := it
	three.Choices = []string{"x", "y", "z"}
	if CacheKey(m, three, choice) == CacheKey(m, it, choice) {
		t.Error("choice key ignores the number of choices")
	}
}

func TestEvaluateRequestError(t *testing.T) {
	task := loadTask(t, "qa.yml")
	cause := errors.New("connection reset by peer")
	m := &fakeModel{gen: func(p string) (string, error) {
		if question(p) == "How many legs has a spider?" {
			return "", cause
		}
		return qaAnswers(p)
	}}
	for _, parallel := range []int{1, 4} {
		res, err := Evaluate(context.Background(), m, task, Options{Parallel: parallel})
		if res != nil || !errors.Is(err, cause) ||
			err.Error() != "eval: task qa: item qa.jsonl:4: generate: connection reset by peer" {
			t.Errorf("parallel %d: %v", parallel, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Evaluate(ctx, &fakeModel{gen: qaAnswers}, task, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestEvaluateChoice reads answer letters from TopTokens, with generation
// as the fallback.
func TestEvaluateChoice(t *testing.T) {
	task := loadTask(t, "mc.yml") // 3 items, gold A, B, C
	tops := func(lists ...[]TokenLogprob) func(string) ([]TokenLogprob, error) {
		return func(p string) ([]TokenLogprob, error) {
			for i, it := range task.Items {
				if it.Prompt == p {
					return lists[i], nil
				}
			}
			return nil, fmt.Errorf("unknown prompt %q", p)
		}
	}
	tl := func(pairs ...any) []TokenLogprob {
		var out []TokenLogprob
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, TokenLogprob{Token: pairs[i].(string), Logprob: pairs[i+1].(float64)})
		}
		return out
	}
	errTop := errors.New("top_logprobs: 500")
	tests := []struct {
		name      string
		top       func(string) ([]TokenLogprob, error)
		gen       func(string) (string, error)
		responses []string
		correct   int
		gens      int // generation calls
		err       string
	}{
		{name: "top letters",
			top:       tops(tl("A", -0.1, "B", -2.0), tl(" B", -0.2, "B", -0.9, "A", -1.0), tl("C", -3.0, " A", -0.5)),
			responses: []string{"A", "B", "A"}, correct: 2},
		{name: "argmax among letters, not the top token",
			top:       tops(tl(" The", -0.1, "\n", -0.2, "C", -2.0, " A", -1.9), tl("I", -0.1, " D", -0.2, "B", -4.0), tl("c", -0.1, " C", -3.0, "B", -3.5)),
			responses: []string{"A", "B", "C"}, correct: 3},
		{name: "no letter: generation fallback",
			top: tops(tl(" The", -0.1), nil, tl("A", -0.1)),
			gen: func(p string) (string, error) {
				if strings.Contains(p, "fruit") {
					return " The answer is A.", nil
				}
				return "", nil // empty: wrong
			},
			responses: []string{" The answer is A.", "", "A"}, correct: 1, gens: 2},
		{name: "TopTokens unsupported",
			gen:       func(p string) (string, error) { return "(B) it is", nil },
			responses: []string{"(B) it is", "(B) it is", "(B) it is"}, correct: 1, gens: 3},
		{name: "TopTokens fails",
			top: func(string) ([]TokenLogprob, error) { return nil, errTop },
			err: "eval: task mc_csv: item mc.csv:2: top tokens: top_logprobs: 500"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &fakeModel{top: tc.top, gen: tc.gen}
			res, err := Evaluate(context.Background(), m, task, Options{Parallel: 1})
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range res.Items {
				got = append(got, r.Response)
			}
			if !slices.Equal(got, tc.responses) || res.Correct != tc.correct {
				t.Errorf("responses %q, %d correct; want %q, %d", got, res.Correct, tc.responses, tc.correct)
			}
			gens := 0
			for _, c := range m.callList() {
				if strings.HasPrefix(c, "gen ") {
					gens++
				}
			}
			if gens != tc.gens {
				t.Errorf("%d generations, want %d", gens, tc.gens)
			}
		})
	}
	if r := RequestFor(task); r.Kind != RequestChoice || r.TopK != ChoiceTopK || r.Generate.MaxTokens != datasets.DefaultChoiceMaxTokens {
		t.Errorf("RequestFor = %+v", r)
	}
}

func TestPickLetter(t *testing.T) {
	tests := []struct {
		toks []TokenLogprob
		n    int
		want string
	}{
		{[]TokenLogprob{{"A", -1}, {" B", -0.5}}, 2, "B"},
		{[]TokenLogprob{{"B", -1}, {"A", -1}}, 2, "A"}, // ties: the earlier letter
		{[]TokenLogprob{{"  B", -0.1}, {"b", -0.2}, {"AB", -0.3}, {"C", -0.4}}, 2, ""},
		{nil, 4, ""},
	}
	for _, tc := range tests {
		got, ok := pickLetter(tc.toks, tc.n)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("pickLetter(%v, %d) = %q, %v", tc.toks, tc.n, got, ok)
		}
	}
}
