package study

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeQA writes n records and a task file with the given extra fields
// into dir and returns the task file's name.
func writeQA(t *testing.T, dir string, n int, extra string) string {
	t.Helper()
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "{\"question\": \"q%d\", \"answer\": \"a%d\"}\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "qa.jsonl"), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	task := "name: qa\ndata: qa.jsonl\nprompt: \"{{.question}}\"\ntarget: answer\n" + extra
	if err := os.WriteFile(filepath.Join(dir, "qa.yml"), []byte(task), 0o644); err != nil {
		t.Fatal(err)
	}
	return "qa.yml"
}

// TestLimitCombines: a study's limit and a task file's limit combine, the
// smaller wins, whichever of the two it is; 0 means no limit on either
// side.
func TestLimitCombines(t *testing.T) {
	fam := family(t)
	for _, tc := range []struct{ task, study, want int }{
		{3, 5, 3}, {10, 5, 5}, {0, 5, 5}, {7, 0, 7}, {0, 0, 20},
	} {
		t.Run(fmt.Sprintf("task%d_study%d", tc.task, tc.study), func(t *testing.T) {
			dir := t.TempDir()
			extra := "split: tune\n"
			if tc.task > 0 {
				extra += fmt.Sprintf("limit: %d\n", tc.task)
			}
			writeQA(t, dir, 20, extra)
			text := strings.Replace(base(fam), "tasks: [toy:swapcase@tune, toy:rot1@tune]", "tasks: [qa.yml]", 1)
			text = strings.Replace(text, "limit: 5", fmt.Sprintf("limit: %d", tc.study), 1)
			s, err := Parse([]byte(text), filepath.Join(dir, "s.yml"))
			if err != nil {
				t.Fatal(err)
			}
			if got := len(s.Tune[0].Items); got != tc.want {
				t.Errorf("task limit %d, study limit %d: %d items, want %d", tc.task, tc.study, got, tc.want)
			}
		})
	}
}

// TestSplitFileParts: one file split by a seeded hash serves as the tune
// task (file@tune) and the holdout task (file@holdout); the model tag and
// the objective's weights name the task without the part.
func TestSplitFileParts(t *testing.T) {
	fam := family(t)
	dir := t.TempDir()
	writeQA(t, dir, 40, "split: {holdout: 0.3, seed: 1}\n")
	text := fmt.Sprintf(`base_model: %[1]s/base
models:
  - {model: %[1]s/swapcase, tasks: [qa]}
  - {model: %[1]s/rot1}
method: ties
tasks: [qa.yml@tune]
holdout: [qa.yml@holdout]
objective: {type: normalized, weights: {qa: 2}}
trials: 4
`, fam)
	s, err := Parse([]byte(text), filepath.Join(dir, "s.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tune) != 1 || s.Tune[0].Name != "qa@tune" || len(s.Holdout) != 1 || s.Holdout[0].Name != "qa@holdout" {
		t.Fatalf("tune %v, holdout %v", s.Tune, s.Holdout)
	}
	seen := map[string]bool{}
	for _, it := range s.Tune[0].Items {
		seen[it.ID] = true
	}
	for _, it := range s.Holdout[0].Items {
		if seen[it.ID] {
			t.Errorf("item %s in both tune and holdout", it.ID)
		}
	}
	if n := len(s.Tune[0].Items) + len(s.Holdout[0].Items); n != 40 {
		t.Errorf("%d items in the two parts, want 40", n)
	}
	if s.TaskModel("qa@tune") != "swapcase" || s.Weights["qa@tune"] != 2 {
		t.Errorf("tag or weight not matched: model %q, weights %v", s.TaskModel("qa@tune"), s.Weights)
	}

	// The whole split file as a tune task is refused: its holdout part
	// would be tuned on.
	text = strings.Replace(text, "tasks: [qa.yml@tune]", "tasks: [qa.yml]", 1)
	text = strings.Replace(text, "holdout: [qa.yml@holdout]\n", "", 1)
	_, err = Parse([]byte(text), filepath.Join(dir, "s.yml"))
	if err == nil || !strings.Contains(err.Error(), "task qa@holdout is a holdout split; tune on a tune split (toy:<task>@tune, split: tune in the task file, or FILE@tune for a file with split: {holdout: F, seed: S})") {
		t.Errorf("whole split file as tune tasks: %v", err)
	}
}

// TestBuiltinHoldout: a built-in task on a shipped public file (gsm8k)
// may be a study's holdout task, cut to the study's limit.
func TestBuiltinHoldout(t *testing.T) {
	text := base(family(t)) + "holdout: [gsm8k]\n"
	s, err := Parse([]byte(text), filepath.Join(t.TempDir(), "s.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Holdout) != 1 || s.Holdout[0].Name != "gsm8k" || len(s.Holdout[0].Items) != 5 {
		t.Errorf("holdout %+v", s.Holdout)
	}
}
