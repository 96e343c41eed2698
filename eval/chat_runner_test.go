package eval_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/chat"
	"github.com/mergetune/mergetune/eval/runner"
)

// chatModelDir returns the toy reverse fine-tune with a chat template
// (testdata/chat_template's tokenizer_config.json) in a temporary folder.
func chatModelDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src, err := filepath.Abs(filepath.Join(familyDir, "reverse"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json"} {
		if err := os.Symlink(filepath.Join(src, f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join("testdata", "chat_template", "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestChatRunner: a chat task on the built-in runner sends each prompt
// rendered with the model's chat_template (what the item records show),
// for generation and for log-likelihood scoring (the choice follows the
// assistant's opening with no delimiter).
func TestChatRunner(t *testing.T) {
	ctx := context.Background()
	m, err := runner.New(runner.Options{}).Open(ctx, chatModelDir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, file := range []string{"toy_chat.yml", "toy_chat_acc.yml"} {
		task, err := datasets.Load(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if !task.Chat || !eval.RequestFor(task).Chat {
			t.Fatalf("%s: Chat not set", file)
		}
		res, err := eval.Evaluate(ctx, m, task, eval.Options{Parallel: 2})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res.Items {
			it := task.Items[i]
			if want := "<user>" + it.Prompt + "<a>"; r.Prompt != want || r.Long != eval.LongFits {
				t.Errorf("%s %s: sent %q (long %q), want %q", file, r.ID, r.Prompt, r.Long, want)
			}
			if task.Scoring != datasets.ScoringAcc {
				continue
			}
			for j, c := range it.Choices {
				want, err := m.(eval.LogLikelihooder).LogLikelihood(ctx, r.Prompt, c)
				if err != nil {
					t.Fatal(err)
				}
				if r.LogLikelihoods[j] != want {
					t.Errorf("%s: choice %d log-likelihood %v, by hand %v", r.ID, j, r.LogLikelihoods[j], want)
				}
			}
		}
		t.Logf("%s: %d/%d, %s → %q", file, res.Correct, res.N, res.Items[0].Prompt, res.Items[0].Response)
	}
}

// TestChatNoTemplate: a chat task fails, naming the task and the reason,
// on a model without a chat_template and on a backend with no chat
// template at all.
func TestChatNoTemplate(t *testing.T) {
	ctx := context.Background()
	task, err := datasets.Load(filepath.Join("testdata", "toy_chat.yml"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := runner.New(runner.Options{}).Open(ctx, filepath.Join(familyDir, "reverse"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = eval.Evaluate(ctx, m, task, eval.Options{})
	if !errors.Is(err, chat.ErrNoTemplate) || !strings.Contains(err.Error(), "task toy_chat") || !strings.Contains(err.Error(), "tokenizer_config.json") {
		t.Errorf("runner without chat_template: %v", err)
	}
	_, err = eval.Evaluate(ctx, noLL{}, task, eval.Options{})
	if !errors.Is(err, eval.ErrUnsupported) || !strings.Contains(err.Error(), "task toy_chat") || !strings.Contains(err.Error(), "chat: true") {
		t.Errorf("backend without chat: %v", err)
	}
}
