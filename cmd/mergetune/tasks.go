package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/datasets/toy"
)

// taskInfo describes a built-in task for `mergetune tasks`.
type taskInfo struct {
	Name           string      `json:"name"`
	Split          string      `json:"split"`
	Items          int         `json:"items"`
	Data           string      `json:"data"`
	Scorer         string      `json:"scorer"`
	MultipleChoice bool        `json:"multiple_choice"`
	Fewshot        int         `json:"fewshot"`
	Stop           []string    `json:"stop"`
	MaxTokens      int         `json:"max_tokens"`
	Example        exampleInfo `json:"example"`
}

// exampleInfo is a task's first item, as the model would see it.
type exampleInfo struct {
	ID      string   `json:"id"`
	Prompt  string   `json:"prompt"`
	Target  string   `json:"target"`
	Choices []string `json:"choices,omitempty"`
	Gold    *int     `json:"gold,omitempty"`
}

func newTasksCmd() *cobra.Command {
	var asJSON bool
	var data string
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "List the built-in tasks, each with its first item's rendered prompt",
		Long: `List the built-in tasks that --tasks (eval) and a study's tasks/holdout accept
by name: the public benchmark files shipped inside mergetune (gsm8k, arc_easy,
…; --data DIR reads your own copies instead) and the toy tasks (toy:<task>
is the test split, toy:<task>@tune the tune split). Each comes with its item
count, scorer and its first item exactly as the model sees it: prompt,
target and, for multiple choice, the choices. --json writes the same as a
JSON list.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			infos, err := builtinTaskInfos(data)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(infos)
			}
			writeTaskInfos(cmd.OutOrStdout(), infos)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "write a JSON list instead of text")
	cmd.Flags().StringVar(&data, "data", "", "directory of your own copies of the public benchmark files (default: the copies built into mergetune)")
	return cmd
}

// builtinTaskNames returns every name a built-in task answers to: the
// data-file tasks, then toy:<task> for each toy task.
func builtinTaskNames() []string {
	names := datasets.BuiltinNames()
	for _, n := range toy.Names() {
		names = append(names, "toy:"+n)
	}
	return names
}

// builtinTaskInfos loads every built-in task and describes it.
func builtinTaskInfos(dataDir string) ([]taskInfo, error) {
	var out []taskInfo
	for _, name := range builtinTaskNames() {
		t, err := datasets.Builtin(name, dataDir, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, describeTask(t))
	}
	return out, nil
}

// describeTask summarizes a loaded task and its first item.
func describeTask(t *datasets.Task) taskInfo {
	info := taskInfo{
		Name: t.Name, Split: t.Split, Items: len(t.Items), Data: t.Data,
		Scorer: scorerType(t.Scorer), MultipleChoice: t.MultipleChoice(),
		Fewshot: t.Fewshot, Stop: t.Stop, MaxTokens: t.MaxTokens,
	}
	if len(t.Items) > 0 {
		it := t.Items[0]
		info.Example = exampleInfo{ID: it.ID, Prompt: it.Prompt, Target: it.Target, Choices: it.Choices}
		if len(it.Choices) > 0 {
			g := it.Gold
			info.Example.Gold = &g
		}
	}
	return info
}

// scorerType names a scorer as a task file's scorer field does.
func scorerType(s datasets.Scorer) string {
	switch s.(type) {
	case *datasets.ExactScorer:
		return datasets.ScorerExact
	case *datasets.RegexScorer:
		return datasets.ScorerRegex
	case datasets.ChoiceScorer, *datasets.ChoiceScorer:
		return datasets.ScorerChoice
	}
	return fmt.Sprintf("%T", s)
}

// writeTaskInfos prints each task's summary line and its example, the
// prompt indented as it is sent.
func writeTaskInfos(w io.Writer, infos []taskInfo) {
	fmt.Fprintln(w, "Built-in tasks, for eval --tasks NAME[,NAME...] and a study's tasks/holdout (toy:<task>@tune: a toy task's tune split):")
	for _, t := range infos {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%s: %d items, %s, %s scorer, data %s\n", t.Name, t.Items, t.Split, t.Scorer, t.Data)
		fmt.Fprintf(w, "  example %s, prompt:\n", t.Example.ID)
		for _, ln := range strings.Split(t.Example.Prompt, "\n") {
			fmt.Fprintf(w, "    | %s\n", ln)
		}
		fmt.Fprintf(w, "  target: %q\n", t.Example.Target)
	}
}
