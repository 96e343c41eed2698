package datasets

import (
	"cmp"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/datasets/toy"
)

// dataDir is the in-repository copy of the public benchmark files, the
// one the package embeds; given as a directory it is read from disk, as
// with --data.
var dataDir = "data"

// TestBuiltinData loads every built-in task from its real file, embedded
// and from a data directory, and checks the item count, the first item and
// the last item's ID and target.
func TestBuiltinData(t *testing.T) {
	tests := []builtinCase{
		{name: "gsm8k", n: 1319,
			prompt: "Question: Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?\nAnswer:",
			target: "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 every day at the farmer\u2019s market.\n#### 18",
			lastID: "gsm8k_test.jsonl:1319", scorer: "regex"},
		{name: "svamp", n: 300,
			prompt: "Question: Mary is baking a cake. The recipe calls for 6 cups of flour 8 cups of sugar and 7 cups of salt. She already put in 5 cups of flour. How many more cups of sugar than cups of salt does she need to add now?\nAnswer:",
			target: "1", lastID: "svamp.jsonl:300", lastTarget: "91", scorer: "regex"},
		{name: "arc_easy", n: 2376,
			prompt: "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nA. Sunlight is the source of energy for nearly all ecosystems.\nB. Most ecosystems are found on land instead of in water.\nC. Carbon dioxide is more available than other gases.\nD. The producers in all ecosystems are plants.\nAnswer:",
			target: "A", gold: 0, choices: 4, lastID: "arc_easy.jsonl:2376", lastTarget: "A", multiChoice: true},
		{name: "arc_challenge", n: 1172,
			prompt: "Question: An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?\nA. Planetary density will decrease.\nB. Planetary years will become longer.\nC. Planetary days will become shorter.\nD. Planetary gravity will become stronger.\nAnswer:",
			target: "C", gold: 2, choices: 4, lastID: "arc_challenge.jsonl:1172", lastTarget: "A", multiChoice: true},
		{name: "boolq", n: 3270, target: "A", gold: 0, choices: 2,
			lastID: "boolq.jsonl:3270", multiChoice: true},
		{name: "piqa", n: 1838,
			prompt: "Question: How do I ready a guinea pig cage for it's new occupants?\nA. Provide the guinea pig with a cage full of a few inches of bedding made of ripped paper strips, you will also need to supply it with a water bottle and a food dish.\nB. Provide the guinea pig with a cage full of a few inches of bedding made of ripped jeans material, you will also need to supply it with a water bottle and a food dish.\nAnswer:",
			target: "A", gold: 0, choices: 2, lastID: "piqa.jsonl:1838", lastTarget: "A", multiChoice: true},
		{name: "copa", n: 100,
			prompt: "The man turned on the faucet, therefore\nA. the toilet filled with water.\nB. water flowed from the spout.\nAnswer:",
			target: "B", gold: 1, choices: 2, lastID: "copa.jsonl:100", lastTarget: "B", multiChoice: true},
		{name: "openbook_qa", n: 500,
			prompt: "A person wants to start saving money so that they can afford a nice vacation at the end of the year. After looking over their budget and expenses, they decide the best way to save money is to\nA. make more phone calls\nB. quit eating lunch out\nC. buy less with monopoly money\nD. have lunch with friends\nAnswer:",
			target: "B", gold: 1, choices: 4, lastID: "openbook_qa.jsonl:500", lastTarget: "C", multiChoice: true},
		{name: "winogrande", n: 1267,
			prompt: "Sarah was a much better surgeon than Maria so _ always got the easier cases.\nQuestion: Which option fills the blank _?\nA. Sarah\nB. Maria\nAnswer:",
			target: "B", gold: 1, choices: 2, lastID: "winogrande.jsonl:1267", lastTarget: "B", multiChoice: true},
	}
	for _, tc := range tests {
		for _, dir := range []string{"", dataDir} {
			t.Run(tc.name+"/"+cmp.Or(dir, "embedded"), func(t *testing.T) {
				checkBuiltin(t, dir, tc)
			})
		}
	}
}

// builtinCase is what TestBuiltinData expects of one built-in task.
type builtinCase struct {
	name        string
	n           int
	prompt      string // the first item's prompt
	target      string // the first item's target
	gold        int
	choices     int
	lastID      string
	lastTarget  string
	scorer      string
	multiChoice bool
}

func checkBuiltin(t *testing.T, dir string, tc builtinCase) {
	t.Helper()
	task, err := Builtin(tc.name, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(task.Items) != tc.n {
		t.Errorf("%d items, want %d", len(task.Items), tc.n)
	}
	first, last := task.Items[0], task.Items[len(task.Items)-1]
	if tc.prompt != "" && first.Prompt != tc.prompt {
		t.Errorf("first prompt\n%q\nwant\n%q", first.Prompt, tc.prompt)
	}
	if first.Target != tc.target || first.Gold != tc.gold || len(first.Choices) != tc.choices {
		t.Errorf("first item target %q gold %d with %d choices, want %q, %d, %d",
			first.Target, first.Gold, len(first.Choices), tc.target, tc.gold, tc.choices)
	}
	if last.ID != tc.lastID {
		t.Errorf("last ID %q, want %q", last.ID, tc.lastID)
	}
	if tc.lastTarget != "" && last.Target != tc.lastTarget {
		t.Errorf("last target %q, want %q", last.Target, tc.lastTarget)
	}
	wantData := BuiltinDataPrefix + adapters()[tc.name].file
	if dir != "" {
		wantData = filepath.Join(dir, adapters()[tc.name].file)
	}
	if task.File != "" || task.Data != wantData {
		t.Errorf("file %q, data %q", task.File, task.Data)
	}
	if task.MultipleChoice() != tc.multiChoice || task.Split != SplitHoldout || task.Fewshot != 0 {
		t.Errorf("multiple choice %v, split %q, few-shot %d", task.MultipleChoice(), task.Split, task.Fewshot)
	}
	// Every item's gold answer is scored correct, and the
	// first choice/number of another item is not always.
	for _, it := range task.Items {
		resp := it.Target
		if tc.name == "gsm8k" {
			resp = "so the answer is " + it.Target[strings.LastIndex(it.Target, "#### ")+5:]
		}
		if out := task.Scorer.Score(it, resp); !out.Correct {
			t.Fatalf("item %s: its own target %q scored %+v", it.ID, resp, out)
		}
	}
	limited, err := Builtin(tc.name, dir, 7)
	if err != nil || len(limited.Items) != 7 || limited.Items[6].ID != task.Items[6].ID {
		t.Errorf("limit 7: %v, %d items", err, len(limited.Items))
	}
}

func TestBuiltinBoolqPrompt(t *testing.T) {
	task, err := Builtin("boolq", "", 1)
	if err != nil {
		t.Fatal(err)
	}
	p := task.Items[0].Prompt
	if !strings.HasPrefix(p, "Passage: All biomass goes through") ||
		!strings.HasSuffix(p, "\nQuestion: does ethanol take more energy make that produces?\nA. no\nB. yes\nAnswer:") {
		t.Errorf("prompt %q", p)
	}
}

func TestBuiltinGSM8KNumber(t *testing.T) {
	task, err := Builtin("gsm8k", "", 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		resp string
		want bool
	}{
		{"She makes 9 * 2 = $18 every day.", true},
		{"#### 18", true},
		{"The answer is 18.0", true},
		{"16 - 3 - 4 = 9 eggs", false},
		{"", false},
	} {
		out := task.Scorer.Score(task.Items[0], tc.resp)
		if out.Correct != tc.want {
			t.Errorf("%q: %+v, want correct %v", tc.resp, out, tc.want)
		}
	}
}

func TestBuiltinToy(t *testing.T) {
	tests := []struct {
		name  string
		limit int
		split string
		role  string
		n     int
	}{
		{"toy:reverse", 0, toy.SplitTest, SplitHoldout, toy.DefaultTest},
		{"toy:reverse@tune", 0, toy.SplitTune, SplitTune, toy.DefaultTune},
		{"toy:upper@test", 5, toy.SplitTest, SplitHoldout, 5},
		{"toy:succ", 3, toy.SplitTest, SplitHoldout, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			task, err := Builtin(tc.name, "", tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			tt, _ := toy.Lookup(strings.Split(strings.TrimPrefix(tc.name, "toy:"), "@")[0])
			want, err := tt.Items(tc.split, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(task.Items) != tc.n || task.Split != tc.role || task.Name != tc.name {
				t.Fatalf("%d items, role %q, name %q", len(task.Items), task.Split, task.Name)
			}
			for i, it := range task.Items {
				if it.Prompt != want[i].Prompt || it.Target != want[i].Target {
					t.Fatalf("item %d = %+v, want %+v", i, it, want[i])
				}
			}
			if task.Stop[0] != "\n" || task.MaxTokens != toy.MaxLen {
				t.Errorf("stop %q, max tokens %d", task.Stop, task.MaxTokens)
			}
			it := task.Items[0]
			if !task.Scorer.Score(it, it.Target).Correct || task.Scorer.Score(it, want[0].Distractor).Correct {
				t.Error("target or distractor scored wrongly")
			}
		})
	}
	if task, _ := Builtin("toy:upper", "", 1); task.Scorer.Score(task.Items[0], strings.ToLower(task.Items[0].Target)).Correct {
		t.Error("toy scoring must be case-sensitive")
	}
}

func TestBuiltinErrors(t *testing.T) {
	tests := []struct{ name, want string }{
		{"hellaswag", `unknown built-in task "hellaswag" (want arc_challenge, arc_easy, boolq, copa, gsm8k, openbook_qa, piqa, svamp, winogrande, or toy:<task>[@tune])`},
		{"toy", `unknown built-in task "toy" (want arc_challenge, arc_easy, boolq, copa, gsm8k, openbook_qa, piqa, svamp, winogrande, or toy:<task>[@tune])`},
		{"toy:nope", `built-in task "toy:nope": unknown toy task "nope" (want ` + strings.Join(toy.Names(), ", ") + ")"},
		{"toy:reverse@train", `built-in task "toy:reverse@train": unknown toy split "train" (want test or tune)`},
	}
	for _, tc := range tests {
		if _, err := Builtin(tc.name, "", 0); err == nil || err.Error() != tc.want {
			t.Errorf("Builtin(%q) = %v\nwant %s", tc.name, err, tc.want)
		}
	}
	// A huge limit is refused by the item bound before anything is
	// generated (it used to generate for hours); the error is the bound's.
	if _, err := Builtin("toy:reverse", "", 400000000); err == nil || err.Error() != `built-in task "toy:reverse": limit 400000000 is over 100000 items` {
		t.Errorf("huge toy limit: %v", err)
	}
	_, err := Builtin("copa", filepath.Join("testdata", "nowhere"), 0)
	want := "built-in copa: data: data file: stat " + filepath.Join("testdata", "nowhere", "copa.jsonl") + ": no such file or directory (the data directory " + filepath.Join("testdata", "nowhere") + " has no copa.jsonl; without a data directory the copy built into mergetune is read)"
	if err == nil || err.Error() != want {
		t.Errorf("missing data dir: %v\nwant %s", err, want)
	}
}

func TestWinograndeMapping(t *testing.T) {
	tests := []struct {
		ctx      [2]string
		cont     string
		sentence string
		options  [2]string
	}{
		{[2]string{"Sarah was better than Maria so Sarah", "Sarah was better than Maria so Maria"}, "got easy cases.",
			"Sarah was better than Maria so _ got easy cases.", [2]string{"Sarah", "Maria"}},
		{[2]string{"ruin the bed and the blanket, but the blanket", "ruin the bed and the blanket, but the bed"}, "was't ruined.",
			"ruin the bed and the blanket, but the _ was't ruined.", [2]string{"blanket", "bed"}},
		{[2]string{"easy to Monica, because Monica", "easy to Monica, because Erin"}, "'s father helped.",
			"easy to Monica, because _'s father helped.", [2]string{"Monica", "Erin"}},
	}
	for _, tc := range tests {
		rec, err := mapWinogrande(Record{"context_options": []any{tc.ctx[0], tc.ctx[1]}, "continuation": tc.cont, "gold": 1.0})
		if err != nil {
			t.Fatal(err)
		}
		if rec["sentence"] != tc.sentence || rec["option1"] != tc.options[0] || rec["option2"] != tc.options[1] || rec["gold"] != 1 {
			t.Errorf("%v → %v", tc.ctx, rec)
		}
	}
	if _, err := mapWinogrande(Record{"context_options": []any{"same", "same"}, "continuation": "x", "gold": 0.0}); err == nil {
		t.Error("identical options accepted")
	}
}
