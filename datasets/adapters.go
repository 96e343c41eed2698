package datasets

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/mergetune/mergetune/datasets/toy"
)

// adapter is a built-in record format: a mapping from the file's records
// to fields, and the task defaults that suit them.
type adapter struct {
	// file is the data file of the built-in task of the same name, in a
	// data directory (Builtin); "" for an adapter that is no built-in.
	file string
	// mapRec turns a record into the fields the templates use (nil:
	// the record as is).
	mapRec    func(Record) (Record, error)
	prompt    string
	target    string
	choices   string
	gold      string
	scorer    scorerSpec
	stop      []string
	maxTokens int
}

func ptr[T any](v T) *T { return &v }

// adapters returns the built-in adapters by name. Every call builds a
// fresh map.
//
//   - gsm8k: {question, answer} (openai/grade-school-math); the answer ends
//     in "#### N". Adds number (N without commas). Regex scorer, preset
//     gsm8k-flexible.
//   - svamp: {context, chain_of_thought, answer} (llm-foundry). Regex
//     scorer, preset gsm8k-flexible, numeric.
//   - arc, arc_easy, arc_challenge, boolq, piqa, copa, openbook_qa:
//     llm-foundry multiple choice {query, choices, gold}. Choice scorer;
//     the prompt is the query (trailing white space removed), then the
//     lettered choices and "Answer:".
//   - winogrande: llm-foundry's partial-scoring form {context_options,
//     continuation, gold}, turned into a two-option question: sentence
//     (with "_" for the blank), option1, option2, choices, gold, query.
//   - toy: the files toy.Export writes, {prompt, target, distractor};
//     exact (case-sensitive) scorer, stop at "\n".
func adapters() map[string]adapter {
	mc := adapter{
		mapRec:  mapMC,
		prompt:  "{{.query}}",
		choices: "choices",
		gold:    "gold",
		scorer:  scorerSpec{typ: ScorerChoice},
	}
	math := adapter{
		target: "answer",
		scorer: scorerSpec{typ: ScorerRegex, preset: PresetGSM8KFlexible},
		stop:   []string{"Question:", "</s>", "<|im_end|>"},
	}
	gsm8k := math
	gsm8k.file = "gsm8k_test.jsonl"
	gsm8k.mapRec = mapGSM8K
	gsm8k.prompt = "Question: {{.question}}\nAnswer:"
	svamp := math
	svamp.file = "svamp.jsonl"
	svamp.mapRec = mapSVAMP
	svamp.prompt = "Question: {{.context}}\nAnswer:"
	withFile := func(a adapter, f string) adapter { a.file = f; return a }
	wino := mc
	wino.file = "winogrande.jsonl"
	wino.mapRec = mapWinogrande
	return map[string]adapter{
		"gsm8k":         gsm8k,
		"svamp":         svamp,
		"arc":           mc,
		"arc_easy":      withFile(mc, "arc_easy.jsonl"),
		"arc_challenge": withFile(mc, "arc_challenge.jsonl"),
		"boolq":         withFile(mc, "boolq.jsonl"),
		"piqa":          withFile(mc, "piqa.jsonl"),
		"copa":          withFile(mc, "copa.jsonl"),
		"openbook_qa":   withFile(mc, "openbook_qa.jsonl"),
		"winogrande":    wino,
		"toy": {
			prompt:    "{{.prompt}}",
			target:    "target",
			scorer:    scorerSpec{typ: ScorerExact, strip: ptr(true), ignoreCase: ptr(false)},
			stop:      []string{"\n"},
			maxTokens: toy.MaxLen,
		},
	}
}

// AdapterNames returns the names of the built-in adapters, sorted.
func AdapterNames() []string {
	var names []string
	for n := range adapters() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// BuiltinNames returns the names Builtin accepts for data-file tasks,
// sorted; "toy:<task>" and "toy:<task>@tune" are accepted for every task of
// package toy as well.
func BuiltinNames() []string {
	var names []string
	for n, a := range adapters() {
		if a.file != "" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Builtin returns a built-in task: one of BuiltinNames, read from its file
// (e.g. gsm8k → gsm8k_test.jsonl) with its adapter's defaults and the role
// holdout (these are test sets); or "toy:<task>" for the test split of a
// toy task (role holdout, toy.DefaultTest items) and "toy:<task>@tune" for
// its tune split (role tune, toy.DefaultTune items). The file is read from
// dataDir when it is given, else from the copy embedded in the binary
// (BuiltinData; Task.Data is then "built-in:<file>"). limit > 0 keeps the
// first limit items.
func Builtin(name, dataDir string, limit int) (*Task, error) {
	if limit < 0 {
		return nil, fmt.Errorf("built-in task %q: negative limit %d", name, limit)
	}
	if rest, ok := strings.CutPrefix(name, "toy:"); ok {
		return builtinToy(name, rest, limit)
	}
	a, ok := adapters()[name]
	if !ok || a.file == "" {
		return nil, fmt.Errorf("unknown built-in task %q (want %s, or toy:<task>[@tune])", name, strings.Join(BuiltinNames(), ", "))
	}
	data := a.file
	if dataDir == "" {
		data = BuiltinDataPrefix + a.file
	}
	s := &taskSpec{
		file:    "built-in " + name,
		dir:     dataDir,
		name:    name,
		data:    data,
		adapter: name,
		limit:   limit,
		split:   SplitHoldout,
		lines:   map[string]int{},
		builtin: true,
	}
	t, err := build(s)
	if err != nil && dataDir != "" {
		if _, serr := os.Stat(filepath.Join(dataDir, a.file)); serr != nil {
			return nil, fmt.Errorf("%w (the data directory %s has no %s; without a data directory the copy built into mergetune is read)", err, dataDir, a.file)
		}
	}
	return t, err
}

// MaxToyItems bounds the items of a built-in toy task: they are generated,
// and a huge limit would take hours and all memory.
const MaxToyItems = 100_000

func builtinToy(name, rest string, limit int) (*Task, error) {
	task, split, _ := strings.Cut(rest, "@")
	if split == "" {
		split = toy.SplitTest
	}
	tt, ok := toy.Lookup(task)
	if !ok {
		return nil, fmt.Errorf("built-in task %q: unknown toy task %q (want %s)", name, task, strings.Join(toy.Names(), ", "))
	}
	role, n := SplitHoldout, toy.DefaultTest
	switch split {
	case toy.SplitTest:
	case toy.SplitTune:
		role, n = SplitTune, toy.DefaultTune
	default:
		return nil, fmt.Errorf("built-in task %q: unknown toy split %q (want %s or %s)", name, split, toy.SplitTest, toy.SplitTune)
	}
	if limit > 0 {
		n = limit
	}
	if n > MaxToyItems {
		return nil, fmt.Errorf("built-in task %q: limit %d is over %d items", name, n, MaxToyItems)
	}
	items, err := tt.Items(split, n)
	if err != nil && !(errors.Is(err, toy.ErrExhausted) && len(items) > 0) {
		return nil, fmt.Errorf("built-in task %q: %w", name, err)
	}
	id := "toy:" + tt.Name + "@" + split
	rows := make([]row, len(items))
	for i, it := range items {
		rows[i] = row{
			rec: Record{"prompt": it.Prompt, "target": it.Target, "distractor": it.Distractor},
			id:  fmt.Sprintf("%s:%d", id, i+1),
		}
	}
	s := &taskSpec{
		file:    "built-in " + id,
		name:    name,
		data:    id,
		adapter: "toy",
		split:   role,
		rows:    rows,
		lines:   map[string]int{},
		builtin: true,
	}
	return build(s)
}

// field returns a record's string field.
func field(rec Record, name string) (string, error) {
	v, ok := rec[name]
	if !ok {
		return "", fmt.Errorf("no field %q", name)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("field %q is %T, want a string", name, v)
	}
	return s, nil
}

// stringsField returns a record's list-of-strings field.
func stringsField(rec Record, name string) ([]string, error) {
	v, ok := rec[name]
	if !ok {
		return nil, fmt.Errorf("no field %q", name)
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("field %q is %T, want a list", name, v)
	}
	out := make([]string, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("field %q[%d] is %T, want a string", name, i, e)
		}
		out[i] = s
	}
	return out, nil
}

// mapMC checks llm-foundry's {query, choices, gold}.
func mapMC(rec Record) (Record, error) {
	q, err := field(rec, "query")
	if err != nil {
		return nil, err
	}
	cs, err := stringsField(rec, "choices")
	if err != nil {
		return nil, err
	}
	g, err := toIndex(rec["gold"])
	if err != nil {
		return nil, fmt.Errorf("field \"gold\": %w", err)
	}
	if g < 0 || g >= len(cs) {
		return nil, fmt.Errorf("field \"gold\": index %d out of range for %d choices", g, len(cs))
	}
	out := Record{"query": strings.TrimRightFunc(q, unicode.IsSpace), "choices": toAny(cs), "gold": g}
	return out, nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// mapGSM8K checks {question, answer} and adds number, the reference after
// the last "#### " without commas.
func mapGSM8K(rec Record) (Record, error) {
	q, err := field(rec, "question")
	if err != nil {
		return nil, err
	}
	a, err := field(rec, "answer")
	if err != nil {
		return nil, err
	}
	i := strings.LastIndex(a, "#### ")
	if i < 0 {
		return nil, errors.New("field \"answer\" has no \"#### \" line")
	}
	num := strings.ReplaceAll(strings.TrimSpace(a[i+5:]), ",", "")
	return Record{"question": q, "answer": a, "number": num}, nil
}

// mapSVAMP checks {context, chain_of_thought, answer}.
func mapSVAMP(rec Record) (Record, error) {
	out := Record{}
	for _, k := range []string{"context", "chain_of_thought", "answer"} {
		s, err := field(rec, k)
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

// mapWinogrande turns {context_options: [2], continuation, gold} into a
// two-option fill-in-the-blank question. The options are the differing
// last words of the two contexts (from the last space before they
// differ).
func mapWinogrande(rec Record) (Record, error) {
	ctx, err := stringsField(rec, "context_options")
	if err != nil {
		return nil, err
	}
	if len(ctx) != 2 {
		return nil, fmt.Errorf("field \"context_options\" has %d entries, want 2", len(ctx))
	}
	cont, err := field(rec, "continuation")
	if err != nil {
		return nil, err
	}
	g, err := toIndex(rec["gold"])
	if err != nil || g < 0 || g > 1 {
		return nil, fmt.Errorf("field \"gold\" = %v, want 0 or 1", rec["gold"])
	}
	a, b := ctx[0], ctx[1]
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	cut := strings.LastIndexByte(a[:n], ' ') + 1
	o1, o2 := a[cut:], b[cut:]
	if o1 == "" || o2 == "" || o1 == o2 {
		return nil, fmt.Errorf("field \"context_options\": cannot find the two options in %q and %q", a, b)
	}
	sep := " "
	if cont != "" && (cont[0] == '.' || cont[0] == ',' || cont[0] == '\'') {
		sep = ""
	}
	sentence := a[:cut] + "_" + sep + cont
	return Record{
		"sentence": sentence,
		"option1":  o1,
		"option2":  o2,
		"choices":  []any{o1, o2},
		"gold":     g,
		"query":    sentence + "\nQuestion: Which option fills the blank _?",
	}, nil
}
