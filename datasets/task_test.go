package datasets

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func td(name string) string { return filepath.Join("testdata", name) }

// TestLoad loads the example task files and checks their items.
func TestLoad(t *testing.T) {
	tests := []struct {
		file     string
		name     string
		split    string
		n        int
		fewshot  int
		ids      []string // the IDs of the items, in order
		prompt   string   // the first item's prompt
		target   string
		choices  []string
		gold     int
		stop     []string
		maxTok   int
		multiple bool
	}{
		{file: "qa.yml", name: "qa", split: SplitHoldout, n: 5, fewshot: 2,
			ids:    []string{"qa.jsonl:1", "qa.jsonl:2", "qa.jsonl:4", "qa.jsonl:5", "qa.jsonl:6"},
			prompt: "Q: What is 1+1?\nA: 2\n\nQ: What is the opposite of hot?\nA: cold\n\nQ: What is the capital of France?\nA:",
			target: "Paris", stop: []string{"\n"}, maxTok: 32},
		{file: "qa_overlap.yml", name: "qa_overlap", split: SplitTune, n: 4, fewshot: 3,
			ids:    []string{"qa.jsonl:1", "qa.jsonl:2", "qa.jsonl:4", "qa.jsonl:6"}, // qa.jsonl:5 is an example
			prompt: "Q: What is 1+1?\nA: 2\n\nQ: What is the opposite of hot?\nA: cold\n\nQ: Who wrote Hamlet?\nA: William Shakespeare\n\nQ: What is the capital of France?\nA:",
			target: "Paris", stop: DefaultStop(), maxTok: DefaultMaxTokens},
		{file: "qa_head.yml", name: "qa_head", split: SplitTune, n: 2, fewshot: 2,
			ids:    []string{"qa.jsonl:4", "qa.jsonl:5"},
			prompt: "Q: What is the capital of France?\nA: Paris\n\nQ: What colour is the sky on a clear day?\nA: Blue.\n\nQ: How many legs has a spider?\nA:",
			target: "8", stop: DefaultStop(), maxTok: DefaultMaxTokens},
		{file: "qa_same.yml", name: "qa_same", split: SplitTune, n: 3, fewshot: 2,
			ids:    []string{"qa.jsonl:4", "qa.jsonl:5", "qa.jsonl:6"},
			prompt: "Q: What is the capital of France?\nA: Paris\n\nQ: What colour is the sky on a clear day?\nA: Blue.\n\nQ: How many legs has a spider?\nA:",
			target: "8", stop: DefaultStop(), maxTok: DefaultMaxTokens},
		{file: "mc.yml", name: "mc_csv", split: SplitTune, n: 3,
			ids:    []string{"mc.csv:2", "mc.csv:3", "mc.csv:4"},
			prompt: "Question: Which is a fruit?\nA. apple\nB. carrot\nC. potato\nAnswer:",
			target: "A", choices: []string{"apple", "carrot", "potato"}, gold: 0,
			stop: DefaultStop(), maxTok: DefaultChoiceMaxTokens, multiple: true},
		{file: "math.yml", name: "math_tsv", split: SplitTune, n: 2,
			ids:    []string{"math.tsv:2", "math.tsv:3"},
			prompt: "Question: What is 6*7?\nAnswer:", target: "$42",
			stop: DefaultStop(), maxTok: DefaultMaxTokens},
		{file: "mgsm.yml", name: "mgsm_tsv", split: SplitTune, n: 3,
			ids:    []string{"mgsm.tsv:1", "mgsm.tsv:2", "mgsm.tsv:3"},
			prompt: "Question: Janet has 3 apples and buys 9 more. How many apples has she?\nAnswer:", target: "12",
			stop: DefaultStop(), maxTok: DefaultMaxTokens},
		{file: "bbh.yml", name: "boolean_expressions", split: SplitTune, n: 3,
			ids:    []string{"bbh.json[0]", "bbh.json[1]", "bbh.json[2]"},
			prompt: "Q: not ( True ) and ( True ) is\nA:", target: "False",
			stop: DefaultStop(), maxTok: DefaultMaxTokens},
		{file: "letters.yml", name: "letters_json", split: SplitTune, n: 2,
			ids:    []string{"letters.json[0]", "letters.json[1]"},
			prompt: "Pick the vowel.\nA) b\nB) a\nC) c\nAnswer:", target: "B",
			choices: []string{"b", "a", "c"}, gold: 1,
			stop: DefaultStop(), maxTok: DefaultChoiceMaxTokens, multiple: true},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			task, err := Load(td(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if task.Name != tc.name || task.Split != tc.split || task.Fewshot != tc.fewshot || task.File != td(tc.file) {
				t.Errorf("name %q split %q few-shot %d file %q", task.Name, task.Split, task.Fewshot, task.File)
			}
			var ids []string
			for _, it := range task.Items {
				ids = append(ids, it.ID)
			}
			if !slices.Equal(ids, tc.ids) || len(task.Items) != tc.n {
				t.Errorf("IDs %q, want %q", ids, tc.ids)
			}
			it := task.Items[0]
			if it.Prompt != tc.prompt {
				t.Errorf("prompt\n%q\nwant\n%q", it.Prompt, tc.prompt)
			}
			if it.Target != tc.target || !slices.Equal(it.Choices, tc.choices) || it.Gold != tc.gold {
				t.Errorf("target %q choices %q gold %d", it.Target, it.Choices, it.Gold)
			}
			if !slices.Equal(task.Stop, tc.stop) || task.MaxTokens != tc.maxTok || task.MultipleChoice() != tc.multiple {
				t.Errorf("stop %q max tokens %d multiple choice %v", task.Stop, task.MaxTokens, task.MultipleChoice())
			}
		})
	}
}

// TestFewshotNeverScored checks, for every way of taking few-shot
// examples, that no scored item is one of the examples.
func TestFewshotNeverScored(t *testing.T) {
	tests := []struct {
		file  string
		shots []string // the examples' own prompts
	}{
		{"qa.yml", []string{"Q: What is 1+1?\nA:", "Q: What is the opposite of hot?\nA:"}},
		{"qa_overlap.yml", []string{"Q: What is 1+1?\nA:", "Q: What is the opposite of hot?\nA:", "Q: Who wrote Hamlet?\nA:"}},
		{"qa_head.yml", []string{"Q: What is the capital of France?\nA:", "Q: What colour is the sky on a clear day?\nA:"}},
		{"qa_same.yml", []string{"Q: What is the capital of France?\nA:", "Q: What colour is the sky on a clear day?\nA:"}},
		{"arc_fewshot.yml", nil},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			task, err := Load(td(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			ctxLen := -1
			for _, it := range task.Items {
				// The context is the same for every item: the
				// prompt up to the last few-shot delimiter.
				i := strings.LastIndex(it.Prompt, FewshotDelimiter)
				if i < 0 {
					t.Fatalf("item %s has no few-shot context", it.ID)
				}
				if ctxLen >= 0 && i != ctxLen {
					t.Fatalf("item %s: context of %d bytes, others %d", it.ID, i, ctxLen)
				}
				ctxLen = i
				own := it.Prompt[i+len(FewshotDelimiter):]
				if slices.Contains(tc.shots, own) || strings.Contains(it.Prompt[:i], own) {
					t.Errorf("item %s is also a few-shot example", it.ID)
				}
				if n := strings.Count(it.Prompt, FewshotDelimiter); n != task.Fewshot {
					t.Errorf("item %s: %d delimiters, want %d", it.ID, n, task.Fewshot)
				}
			}
		})
	}
	task, err := Load(td("arc_fewshot.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(task.Items) != 10 || task.Items[0].ID != "arc_easy.jsonl:4" || task.Fewshot != 3 {
		t.Fatalf("%d items, first %s, few-shot %d", len(task.Items), task.Items[0].ID, task.Fewshot)
	}
	if !strings.HasPrefix(task.Items[0].Prompt, "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nA. Sunlight") ||
		!strings.Contains(task.Items[0].Prompt, "\nD. The producers in all ecosystems are plants.\nAnswer: A\n\nQuestion: Which piece of safety equipment") {
		t.Errorf("few-shot context %q", task.Items[0].Prompt[:400])
	}
}

func TestLoadAll(t *testing.T) {
	tasks, err := LoadAll(td("set.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, task := range tasks {
		got = append(got, task.Name+":"+task.Split+":"+strings.Repeat("x", len(task.Items)))
	}
	want := []string{"qa:holdout:xxxxx", "mc_csv:tune:xxx", "inline:tune:x", "toy:reverse@tune:tune:" + strings.Repeat("x", 100)}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if tasks[2].Items[0].Prompt != "What is the capital of France?" || tasks[2].File != td("set.yml") {
		t.Errorf("inline task: %+v", tasks[2])
	}
	// A single task file is a set of one.
	one, err := LoadAll(td("qa.yml"))
	if err != nil || len(one) != 1 || one[0].Name != "qa" {
		t.Errorf("LoadAll(qa.yml) = %v, %v", one, err)
	}
	if _, err := Load(td("set.yml")); err == nil || err.Error() != td("set.yml")+":2: holds a task set (tasks: …); use LoadAll" {
		t.Errorf("Load(set.yml) = %v", err)
	}
}

// TestExampleTasks loads the shipped examples/tasks files.
func TestExampleTasks(t *testing.T) {
	tasks, err := LoadAll(filepath.Join("..", "examples", "tasks", "set.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 || tasks[0].Name != "gsm8k" || len(tasks[0].Items) != 250 || tasks[1].Name != "arc_easy" ||
		len(tasks[1].Items) != 250 || !tasks[1].MultipleChoice() || tasks[1].Split != SplitHoldout {
		t.Errorf("example tasks: %d", len(tasks))
	}
}

// TestBadTaskFiles checks the exact error of each broken task file.
func TestBadTaskFiles(t *testing.T) {
	b := filepath.Join("testdata", "bad")
	tests := []struct{ file, want string }{
		{"unknown_field.yml", `:3: unknown field "promt" (known: name, data, format, records, header, columns, adapter, prompt, target, choices, gold, fewshot, limit, split, stop, max_tokens, long_items, scorer, scoring, chat)`},
		{"dup_field.yml", `:4: duplicate field "prompt"`},
		{"missing_name.yml", `:1: missing field "name"`},
		{"missing_data.yml", `:1: task "nodata": missing field "data"`},
		{"missing_prompt.yml", `:1: missing field "prompt" (or an adapter that supplies it)`},
		{"unknown_scorer.yml", `:5: scorer.type: unknown scorer "fuzzy" (want exact, regex or choice)`},
		{"scorer_option.yml", `:7: scorer.pattern: not an option of the exact scorer (its options: strip, ignore_case, ignore_punctuation, regexes_to_ignore)`},
		{"bad_pattern.yml", ":6: scorer: pattern: invalid regex \"^(.*?)(?=\\\\n|$)\": error parsing regexp: invalid or unsupported Perl syntax: `(?=`"},
		{"template_syntax.yml", `:3: prompt: template: prompt:1: unclosed action`},
		{"template_field.yml", `:3: prompt: record qa.jsonl:1: template: prompt:1:5: executing "prompt" at <.questoin>: map has no entry for key "questoin" (the record has fields answer, question)`},
		{"target_field.yml", `:4: target: record qa.jsonl:1: no field "answers" (the record has fields answer, question)`},
		{"empty_data.yml", `:2: data: ` + filepath.Join(b, "empty.jsonl") + `: no records`},
		{"non_utf8.yml", `:2: data: ` + filepath.Join(b, "latin1.jsonl") + `:2: invalid UTF-8`},
		{"bad_json.yml", `:2: data: ` + filepath.Join(b, "broken.jsonl") + `:2: not a JSON object: invalid character '}' looking for beginning of value`},
		{"bad_split.yml", `:5: split: unknown split role "train" (want tune or holdout, or a mapping {holdout: 0.3, seed: 1} that splits the file into both)`},
		{"bad_limit.yml", `:5: limit: want an integer, got "ten"`},
		{"bad_format.yml", `:2: data: cannot tell the format of "../qa.txt" from its extension; set format (jsonl, json, csv, tsv, parquet)`},
		{"bad_adapter.yml", `:3: adapter: unknown adapter "hellaswag" (want arc, arc_challenge, arc_easy, boolq, copa, gsm8k, openbook_qa, piqa, svamp, toy, winogrande)`},
		{"fewshot_nosource.yml", `:5: fewshot: count 2 needs a file or split: head`},
		{"choice_nochoices.yml", `:5: scorer: the choice scorer needs choices and gold`},
		{"gold_range.yml", `:5: gold: record gold.csv:2: field "label": index 5 out of range for 2 choices`},
		{"empty.yml", `: empty task file`},
		{"list_task.yml", `:1: the task file must be a mapping (name: …, data: …), not a list`},
		{"adapter_record.yml", `:2: data: ` + filepath.Join("testdata", "qa.jsonl") + `:1: adapter copa: no field "query" (the record has fields answer, question)`},
		{"tsv_header_guess.yml", `:4: prompt: record mgsm.tsv:2: template: prompt:1:12: executing "prompt" at <.question>: map has no entry for key "question" (the record has fields 12, Janet has 3 apples and buys 9 more. How many apples has she?; the first row of ../mgsm.tsv named the fields: if it holds a record, set header: false and columns: [...])`},
		{"json_object.yml", `:2: data: ` + filepath.Join("testdata", "bbh.json") + `: not a JSON list of objects but an object with keys canary, examples; set the task field records to the key of the list (examples)`},
		{"json_records_missing.yml", `:2: data: ` + filepath.Join("testdata", "bbh.json") + `: records "data.examples": the document has no key "data" (its keys: canary, examples)`},
		{"records_not_json.yml", `:3: records: only for a json data file (a list inside an object); ../qa.jsonl is jsonl`},
		{"header_no_columns.yml", `:3: header: false needs columns: [name, ...] to name the fields`},
		{"columns_count.yml", `:2: data: ` + filepath.Join("testdata", "mgsm.tsv") + `: record on line 1: wrong number of fields (columns names 3: question, answer, extra)`},
		{"split_bad_fraction.yml", `:5: split.holdout: want a fraction between 0 and 1 (exclusive), got "1.5"`},
		{"split_no_holdout.yml", `:5: split: missing field "holdout" (the fraction of the records held out, e.g. {holdout: 0.3, seed: 1})`},
		{"split_key_missing.yml", `:5: split.key: ` + filepath.Join("testdata", "qa.jsonl") + `:1: no field "id" (the record has fields answer, question)`},
		{"dup_names.yml", `:3: tasks: duplicate task name "qa" (first at ` + filepath.Join(b, "dup_names.yml") + `:2)`},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(b, tc.file)
			_, err := LoadAll(path)
			want := path + tc.want
			if err == nil || err.Error() != want {
				t.Errorf("error\n%v\nwant\n%s", err, want)
			}
		})
	}
}

func TestTemplateFuncs(t *testing.T) {
	b := &builder{s: &taskSpec{file: "x.yml", lines: map[string]int{}}}
	tests := []struct {
		tmpl string
		rec  Record
		want string
	}{
		{"{{letter 0}}{{letter 3}}{{letter .g}}", Record{"g": 25.0}, "ADZ"},
		{"{{range $i, $c := .cs}}{{letter $i}}. {{$c}}\n{{end}}", Record{"cs": []any{"x", "y"}}, "A. x\nB. y\n"},
		{"[{{trim .q}}]", Record{"q": "  hi \n"}, "[hi]"},
		{"{{.n}} {{.f}}", Record{"n": 3.0, "f": 2.5}, "3 2.5"},
	}
	for _, tc := range tests {
		tm, err := b.parseTemplate("prompt", tc.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		got, err := render(tm, tc.rec)
		if err != nil || got != tc.want {
			t.Errorf("%q = %q, %v; want %q", tc.tmpl, got, err, tc.want)
		}
	}
	tm, _ := b.parseTemplate("prompt", "{{letter .g}}")
	if _, err := render(tm, Record{"g": "x"}); err == nil || !strings.Contains(err.Error(), `letter: "x" is not an integer`) {
		t.Errorf("letter of a non-number: %v", err)
	}
}
