package toy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mergetune/mergetune/datasets/toy"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/runner"
)

const familyDir = "family"

// familyResults is the part of family/results.json (the numbers of the
// family README's tables) the tests check.
type familyResults struct {
	Tasks    []string           `json:"tasks"`
	Base     map[string]float64 `json:"base"`
	Finetune map[string]float64 `json:"finetune"`
}

func readResults(t *testing.T) familyResults {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(familyDir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r familyResults
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("parse results.json: %v", err)
	}
	if len(r.Tasks) < 16 {
		t.Fatalf("results.json lists %d tasks", len(r.Tasks))
	}
	return r
}

type prediction struct {
	Model, Task, Prompt, Target, Answer string
}

func readPredictions(t *testing.T) map[string][]prediction {
	t.Helper()
	f, err := os.Open(filepath.Join(familyDir, "predictions.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]prediction{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var p prediction
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		out[p.Model] = append(out[p.Model], p)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var greedy = eval.GenerateOptions{MaxTokens: 32, Stop: []string{"\n"}}

// TestFamilyFineTunes reloads every fine-tune, answers its task's test
// split with the built-in runner, and checks each answer against the
// training script's (predictions.jsonl) and the accuracy against the
// README's table (results.json), within 2 points.
func TestFamilyFineTunes(t *testing.T) {
	res := readResults(t)
	preds := readPredictions(t)
	ctx := context.Background()
	b := runner.New(runner.Options{})
	for _, name := range res.Tasks {
		t.Run(name, func(t *testing.T) {
			task, ok := toy.Lookup(name)
			if !ok {
				t.Fatalf("task %s unknown to datasets/toy", name)
			}
			m, err := b.Open(ctx, filepath.Join(familyDir, name))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			items, err := task.Items(toy.SplitTest, len(preds[name]))
			if err != nil {
				t.Fatal(err)
			}
			if len(items) == 0 || len(items) != len(preds[name]) {
				t.Fatalf("%d test items, %d predictions", len(items), len(preds[name]))
			}
			correct := 0
			for i, p := range preds[name] {
				if items[i].Prompt != p.Prompt {
					t.Fatalf("item %d: Go prompt %q, training script's %q", i, items[i].Prompt, p.Prompt)
				}
				got, err := m.Generate(ctx, p.Prompt, greedy)
				if err != nil {
					t.Fatal(err)
				}
				if got != p.Answer {
					t.Errorf("%q: runner answers %q, training script %q", p.Prompt, got, p.Answer)
				}
				if got == items[i].Target {
					correct++
				}
			}
			acc := float64(correct) / float64(len(items))
			if want := res.Finetune[name]; math.Abs(acc-want) > 0.02 {
				t.Errorf("accuracy %.3f, README %.3f", acc, want)
			}
			if acc < 0.95 {
				t.Errorf("fine-tune scores %.3f on its own task (target ≥ 0.95)", acc)
			}
		})
	}
}

// TestFamilyBase checks the base model's accuracy on every task against
// the README's table (within 2 points) and the ≤ 35% target.
func TestFamilyBase(t *testing.T) {
	res := readResults(t)
	preds := readPredictions(t)
	ctx := context.Background()
	m, err := runner.New(runner.Options{}).Open(ctx, filepath.Join(familyDir, "base"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, name := range res.Tasks {
		task, _ := toy.Lookup(name)
		items, err := task.Items(toy.SplitTest, len(preds[name]))
		if err != nil {
			t.Fatal(err)
		}
		correct := 0
		for _, it := range items {
			got, err := m.Generate(ctx, it.Prompt, greedy)
			if err != nil {
				t.Fatal(err)
			}
			if got == it.Target {
				correct++
			}
		}
		acc := float64(correct) / float64(len(items))
		if want := res.Base[name]; math.Abs(acc-want) > 0.02 {
			t.Errorf("base on %s: accuracy %.3f, README %.3f", name, acc, want)
		}
		if acc > 0.35 {
			t.Errorf("base on %s scores %.3f (target ≤ 0.35)", name, acc)
		}
	}
}

// TestFamilyFixtures compares the runner's logits, log-likelihoods and
// greedy answers with the training script's float32 forward pass.
func TestFamilyFixtures(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(familyDir, "fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Entries []struct {
			Model, Prompt, Continuation, Greedy string
			Logits                              []float64
			Logprob                             float64
		}
	}
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx.Entries) < 6 {
		t.Fatalf("%d fixture entries", len(fx.Entries))
	}
	ctx := context.Background()
	b := runner.New(runner.Options{})
	for _, e := range fx.Entries {
		m, err := b.OpenModel(ctx, filepath.Join(familyDir, e.Model))
		if err != nil {
			t.Fatal(err)
		}
		logits, err := m.Logits(ctx, m.Encode(e.Prompt))
		if err != nil {
			t.Fatal(err)
		}
		last := logits[len(logits)-1]
		for i, want := range e.Logits {
			if d := math.Abs(float64(last[i]) - want); d > 1e-4*math.Max(1, math.Abs(want)) {
				t.Fatalf("%s %q: logit %d = %v, reference %v", e.Model, e.Prompt, i, last[i], want)
			}
		}
		ll, err := m.LogLikelihood(ctx, e.Prompt, e.Continuation)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(ll-e.Logprob) > 1e-4*math.Max(1, math.Abs(e.Logprob)) {
			t.Errorf("%s %q: log-likelihood %v, reference %v", e.Model, e.Prompt, ll, e.Logprob)
		}
		g, err := m.Generate(ctx, e.Prompt, greedy)
		if err != nil {
			t.Fatal(err)
		}
		if g != e.Greedy {
			t.Errorf("%s %q: greedy %q, reference %q", e.Model, e.Prompt, g, e.Greedy)
		}
		m.Close()
	}
}

// BenchmarkRunnerItems reports the built-in runner's items/s on one task
// for one fine-tune: the reverse fine-tune answering its test split
// (greedy, stop at the newline), one item at a time.
func BenchmarkRunnerItems(b *testing.B) {
	ctx := context.Background()
	m, err := runner.New(runner.Options{}).Open(ctx, filepath.Join(familyDir, "reverse"))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	task, _ := toy.Lookup("reverse")
	items, err := task.Items(toy.SplitTest, 200)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Generate(ctx, items[i%len(items)].Prompt, greedy); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
}
