package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/datasets"
)

// TestTasksCommand: `mergetune tasks` lists every built-in task with its
// first item rendered; --json gives the same as a list.
func TestTasksCommand(t *testing.T) {
	out := mustRunCLI(t, "tasks")
	for _, want := range []string{
		"gsm8k: 1319 items, holdout, regex scorer, data built-in:gsm8k_test.jsonl",
		"    | Question: Janet’s ducks lay 16 eggs per day.",
		"arc_easy: 2376 items, holdout, choice scorer",
		"    | A. Sunlight is the source of energy for nearly all ecosystems.",
		"toy:reverse: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tasks output lacks %q", want)
		}
	}
	var infos []taskInfo
	if err := json.Unmarshal([]byte(mustRunCLI(t, "tasks", "--json")), &infos); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
		if in.Items == 0 || in.Example.Prompt == "" || in.Example.Target == "" || in.Example.ID == "" {
			t.Errorf("%s: incomplete %+v", in.Name, in)
		}
		if in.MultipleChoice != (len(in.Example.Choices) > 0) || (in.MultipleChoice && in.Example.Gold == nil) {
			t.Errorf("%s: choices %v gold %v for multiple choice %v", in.Name, in.Example.Choices, in.Example.Gold, in.MultipleChoice)
		}
	}
	for _, n := range datasets.BuiltinNames() {
		if !slices.Contains(names, n) {
			t.Errorf("--json lacks %s", n)
		}
	}
	if !slices.Contains(names, "toy:swapcase") {
		t.Errorf("--json lacks the toy tasks: %v", names)
	}
}

// TestEvalTaskList: --tasks takes a comma-separated list of built-in
// names and files (x.yml@tune for a part of a split file); a name that is
// neither is an error listing the built-ins; a task listed twice is
// refused.
func TestEvalTaskList(t *testing.T) {
	ts, err := loadTasks("gsm8k, copa,toy:reverse@tune", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tk := range ts {
		names = append(names, tk.Name)
	}
	if want := []string{"gsm8k", "copa", "toy:reverse@tune"}; !slices.Equal(names, want) {
		t.Errorf("tasks %v, want %v", names, want)
	}

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "d.jsonl"), []byte("{\"q\": \"a\", \"a\": \"1\"}\n{\"q\": \"b\", \"a\": \"2\"}\n{\"q\": \"c\", \"a\": \"3\"}\n{\"q\": \"d\", \"a\": \"4\"}\n"), 0o644)
	task := filepath.Join(dir, "t.yml")
	os.WriteFile(task, []byte("name: t\ndata: d.jsonl\nprompt: \"{{.q}}\"\ntarget: a\nsplit: {holdout: 0.5, seed: 4}\n"), 0o644)
	ts, err = loadTasks(task+"@holdout,"+task+"@tune", "")
	if err != nil || len(ts) != 2 || ts[0].Name != "t@holdout" || ts[1].Name != "t@tune" || len(ts[0].Items)+len(ts[1].Items) != 4 {
		t.Fatalf("split parts: %v %v", ts, err)
	}

	if _, err := loadTasks("copa,nope", ""); err == nil || !strings.Contains(err.Error(), "--tasks nope: no such task file, and no built-in task of that name (built-ins: arc_challenge, arc_easy, boolq, copa, gsm8k,") || !strings.Contains(err.Error(), "mergetune tasks lists them") {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := loadTasks("copa,copa", ""); err == nil || !strings.Contains(err.Error(), "task copa is listed twice") {
		t.Errorf("twice: %v", err)
	}
	if _, err := loadTasks("copa,", ""); err == nil || !strings.Contains(err.Error(), "an empty entry") {
		t.Errorf("empty entry: %v", err)
	}

	// The whole command, on two toy tasks at once.
	model := filepath.Join("..", "..", "datasets", "toy", "family", "reverse")
	out, err := runCLI(t, "eval", "--model", model, "--tasks", "toy:reverse,toy:upper", "--db", filepath.Join(t.TempDir(), "r.db"), "--limit", "5", "-q")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "toy:reverse") || !strings.Contains(out, "toy:upper") {
		t.Errorf("eval of two tasks:\n%s", out)
	}
}
