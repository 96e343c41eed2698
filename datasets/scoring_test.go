package datasets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeMC writes a task file over testdata/mc.csv with the extra lines.
func writeMC(t *testing.T, extra string) string {
	t.Helper()
	data, err := filepath.Abs(filepath.Join("testdata", "mc.csv"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "task.yml")
	body := "name: mc\ndata: " + data + "\nprompt: \"Question: {{.question}}\\nAnswer:\"\n" +
		"choices: [\"{{.option_a}}\", \"{{.option_b}}\", \"{{.option_c}}\"]\ngold: label\n" + extra
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScoringField(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		scoring     string // want Task.Scoring
		listed      bool   // the prompt lists lettered choices
		err         []string
	}{
		{name: "default", extra: "scorer: choice\n", scoring: ScoringLetter, listed: true},
		{name: "letter", extra: "scoring: letter\n", scoring: ScoringLetter, listed: true},
		{name: "acc", extra: "scoring: acc\n", scoring: ScoringAcc},
		{name: "acc_norm with scorer", extra: "scorer: choice\nscoring: acc_norm\n", scoring: ScoringAccNorm},
		{name: "acc_bytes listed", extra: "scorer: {type: choice, list_choices: true}\nscoring: acc_bytes\n", scoring: ScoringAccBytes, listed: true},
		{name: "no choice task", extra: "target: label\nscorer: exact\n", scoring: ""},
		{name: "unknown", extra: "scoring: accnorm\n", err: []string{"task.yml:6", "scoring", `"accnorm"`, "letter, acc, acc_norm, acc_bytes"}},
		{name: "not a choice scorer", extra: "target: label\nscorer: exact\nscoring: acc\n", err: []string{"task.yml", "scoring", "multiple-choice", "exact"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task, err := Load(writeMC(t, tc.extra))
			if tc.err != nil {
				if err == nil {
					t.Fatalf("loaded; want an error with %q", tc.err)
				}
				for _, w := range tc.err {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if task.Scoring != tc.scoring {
				t.Errorf("Scoring = %q, want %q", task.Scoring, tc.scoring)
			}
			if got := strings.Contains(task.Items[0].Prompt, "\nA. apple"); got != tc.listed {
				t.Errorf("prompt %q: lists choices %v, want %v", task.Items[0].Prompt, got, tc.listed)
			}
		})
	}
}

// TestScoringFewshot: under a log-likelihood mode a few-shot example ends
// with the gold choice's text (lm-eval), under letter scoring with its
// letter.
func TestScoringFewshot(t *testing.T) {
	for mode, want := range map[string]string{"acc_norm": "Answer: apple\n\n", "letter": "Answer: A\n\n"} {
		task, err := Load(writeMC(t, "scoring: "+mode+"\nscorer: {type: choice, list_choices: false}\nfewshot: {count: 1, split: head}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if p := task.Items[0].Prompt; !strings.HasPrefix(p, "Question: Which is a fruit?\n"+want) {
			t.Errorf("%s: prompt %q, want the example answered %q", mode, p, want)
		}
	}
}

func TestPickChoice(t *testing.T) {
	choices := []string{"ab", "abcdef", "éé"}
	lls := []float64{-3, -6, -3.6}
	for _, tc := range []struct {
		mode string
		want int
	}{
		{ScoringAcc, 0},      // -3 is the highest
		{ScoringAccNorm, 1},  // -1.5, -1, -1.8 per character
		{ScoringAccBytes, 2}, // -1.5, -1, -0.9 per byte
	} {
		m, err := LookupScoring(tc.mode)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.PickChoice(choices, lls); got != tc.want {
			t.Errorf("%s: picked %d, want %d", tc.mode, got, tc.want)
		}
	}
	m, _ := LookupScoring(ScoringAcc)
	if got := m.PickChoice([]string{"a", "b"}, []float64{-1, -1}); got != 0 {
		t.Errorf("tie: picked %d, want the earlier choice", got)
	}
	nan := 0.0
	nan /= nan
	if got := m.PickChoice([]string{"a", "b"}, []float64{nan, -9}); got != 1 {
		t.Errorf("NaN: picked %d, want 1", got)
	}
	if _, err := LookupScoring("bogus"); err == nil || !strings.Contains(err.Error(), "acc_norm") {
		t.Errorf("LookupScoring(bogus) = %v, want an error listing the modes", err)
	}
}

func TestChatField(t *testing.T) {
	task, err := Load(writeMC(t, "chat: true\nscoring: acc\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !task.Chat {
		t.Error("chat: true not set")
	}
	if task, err = Load(writeMC(t, "scorer: choice\n")); err != nil || task.Chat {
		t.Errorf("default: chat %v, %v", task != nil && task.Chat, err)
	}
	_, err = Load(writeMC(t, "chat: maybe\n"))
	if err == nil || !strings.Contains(err.Error(), "task.yml:6: chat:") || !strings.Contains(err.Error(), `"maybe"`) {
		t.Errorf("chat: maybe: %v, want an error naming file, line, field and value", err)
	}
}

// TestScoringARC: the shipped ARC file under acc_norm is lm-eval's
// arc_easy: the query ("Question: …\nAnswer:") with no lettered lines, and
// the choices' texts to score.
func TestScoringARC(t *testing.T) {
	p := filepath.Join(t.TempDir(), "arc.yml")
	if err := os.WriteFile(p, []byte("name: arc\ndata: built-in:arc_easy.jsonl\nadapter: arc_easy\nscoring: acc_norm\nlimit: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	task, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range task.Items {
		if !strings.HasPrefix(it.Prompt, "Question: ") || !strings.HasSuffix(it.Prompt, "\nAnswer:") || strings.Contains(it.Prompt, "\nA. ") || len(it.Choices) < 3 {
			t.Errorf("%s: prompt %q, choices %q", it.ID, it.Prompt, it.Choices)
		}
	}
	if task.Scoring != ScoringAccNorm || len(task.Items) != 3 {
		t.Errorf("scoring %q, %d items", task.Scoring, len(task.Items))
	}
}
