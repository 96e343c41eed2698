package datasets

import (
	"cmp"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"
)

// Split roles of a task (the task file's split field).
const (
	// SplitTune marks a task the search may optimise on.
	SplitTune = "tune"
	// SplitHoldout marks a task kept for reporting, never optimised on.
	SplitHoldout = "holdout"
)

// FewshotHead is the few-shot split that takes the examples from the first
// records of the data file; those records are then not scored.
const FewshotHead = "head"

// Prompt assembly delimiters, as in lm-evaluation-harness: a few-shot
// example is its prompt, TargetDelimiter, its target and FewshotDelimiter.
const (
	TargetDelimiter  = " "
	FewshotDelimiter = "\n\n"
)

// Defaults of a task file.
const (
	// DefaultMaxTokens bounds a generation (lm-eval's max_gen_toks).
	DefaultMaxTokens = 256
	// DefaultChoiceMaxTokens bounds the generation a choice task falls
	// back to when the backend gives no letter log-probabilities.
	DefaultChoiceMaxTokens = 16
	// DefaultAnswerPrefix ends a choice prompt after its lettered lines.
	DefaultAnswerPrefix = "Answer:"
)

// DefaultStop returns the stop strings of a task that names none: the
// few-shot delimiter, as in lm-eval.
func DefaultStop() []string { return []string{FewshotDelimiter} }

// Item is one scored example of a task.
type Item struct {
	// ID names the record: "file.jsonl:LINE", "file.json[INDEX]" or
	// "toy:TASK@SPLIT:N".
	ID string
	// Prompt is the complete prompt: the few-shot examples, then the
	// rendered prompt template (and, for a choice task, the lettered
	// choices and the answer prefix).
	Prompt string
	// Target is the reference answer: the rendered target, or for a
	// choice task the gold letter.
	Target string
	// Choices are the answer options of a multiple-choice item.
	Choices []string
	// Gold is the index of the correct choice (0 without choices).
	Gold int
}

// Task is a loaded task: its items rendered and its scorer ready.
type Task struct {
	// Name identifies the task in results.
	Name string
	// File is the task file ("" for a built-in task).
	File string
	// Data is the data file read ("" for a toy task).
	Data string
	// Split is the task's role: SplitTune or SplitHoldout.
	Split string
	// Scorer judges the responses; a *ChoiceScorer makes it a
	// multiple-choice task (see MultipleChoice).
	Scorer Scorer
	// Stop and MaxTokens control generation.
	Stop      []string
	MaxTokens int
	// Scoring is the ScoringModes name of a multiple-choice task
	// ("" for other tasks): how the evaluator picks the answer.
	Scoring string
	// Chat says the prompt is sent to an instruct model as one user
	// turn, wrapped in the model's chat template (task field chat).
	Chat bool
	// LongItems says what happens to an item longer than the model's
	// context: LongItemsTruncate (the default) or LongItemsSkip.
	LongItems string
	// Fewshot is the number of examples before each item's own prompt.
	Fewshot int
	// Items are the scored items, in data file order.
	Items []Item
}

// MultipleChoice reports whether the task reads answer letters (its scorer
// is a ChoiceScorer): the evaluator then asks for next-token
// log-probabilities first.
func (t *Task) MultipleChoice() bool {
	switch t.Scorer.(type) {
	case ChoiceScorer, *ChoiceScorer:
		return true
	}
	return false
}

// Load reads a task file holding one task. Relative paths in it are
// resolved against the task file's directory. A task file that splits its
// data (split: {holdout: F, seed: S}) must be named with its part:
// "path@tune" or "path@holdout".
func Load(path string) (*Task, error) {
	path, part := cutPart(path)
	spec, err := loadSpec(path)
	if err != nil {
		return nil, err
	}
	if spec.hashSplit != nil && part == "" {
		return nil, fmt.Errorf("%s: split: the task splits its data into tune and holdout; name a part: %s@%s or %s@%s (LoadAll loads both)", at(path, &yaml.Node{Line: spec.lines["split"]}), path, SplitTune, path, SplitHoldout)
	}
	ts, err := buildParts(spec, part)
	if err != nil {
		return nil, err
	}
	return ts[0], nil
}

// loadSpec reads a task file holding one task (not a set).
func loadSpec(path string) (*taskSpec, error) {
	root, err := readYAML(path)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(root.Content); i += 2 {
		if root.Content[i].Value == "tasks" {
			return nil, fmt.Errorf("%s: holds a task set (tasks: …); use LoadAll", at(path, root.Content[i]))
		}
	}
	return parseTask(path, filepath.Dir(path), root)
}

// LoadAll reads a task set: a file whose field tasks lists tasks, each
// either a task mapping (as in a task file), the path of a task file
// (relative to the set file), a built-in toy task ("toy:reverse",
// "toy:reverse@tune") or a built-in task on the embedded public files
// ("gsm8k", "arc_easy", …; see BuiltinNames). A file holding a single task
// is a set of one. Task names must be unique.
//
// A task that splits its data file (split: {holdout: F, seed: S}) gives
// two tasks, NAME@tune and NAME@holdout; a path ending in "@tune" or
// "@holdout" (the file's or a listed task file's) keeps only that part.
func LoadAll(path string) ([]*Task, error) {
	path, part := cutPart(path)
	root, err := readYAML(path)
	if err != nil {
		return nil, err
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "tasks" {
			list = root.Content[i+1]
		}
	}
	if list == nil {
		spec, err := parseTask(path, filepath.Dir(path), root)
		if err != nil {
			return nil, err
		}
		return buildParts(spec, part)
	}
	if part != "" {
		return nil, fmt.Errorf("%s: @%s: a task set has no parts; name the part on its entries (tasks: [x.yml@%s])", path, part, part)
	}
	if _, err := pairs(path, "", root, []string{"tasks"}); err != nil {
		return nil, err
	}
	if list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		return nil, specError(path, list, "tasks", "want a non-empty list of tasks")
	}
	dir := filepath.Dir(path)
	var tasks []*Task
	first := map[string]string{} // name → where it was defined
	for _, n := range list.Content {
		var ts []*Task
		switch {
		case n.Kind == yaml.ScalarNode && (strings.HasPrefix(n.Value, "toy:") || slices.Contains(BuiltinNames(), n.Value)):
			var t *Task
			t, err = Builtin(n.Value, "", 0)
			ts = []*Task{t}
		case n.Kind == yaml.ScalarNode:
			p, part := cutPart(n.Value)
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			var spec *taskSpec
			if spec, err = loadSpec(p); err == nil {
				ts, err = buildParts(spec, part)
			}
		default:
			var spec *taskSpec
			spec, err = parseTask(path, dir, n)
			if err == nil {
				ts, err = buildParts(spec, "")
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: tasks: %w", at(path, n), err)
		}
		for _, t := range ts {
			if prev, ok := first[t.Name]; ok {
				return nil, fmt.Errorf("%s: tasks: duplicate task name %q (first at %s)", at(path, n), t.Name, prev)
			}
			first[t.Name] = at(path, n)
			tasks = append(tasks, t)
		}
	}
	return tasks, nil
}

// build reads a task's data and renders its items.
func build(s *taskSpec) (*Task, error) {
	b := &builder{s: s}
	return b.build()
}

type builder struct {
	s *taskSpec
	// effective settings, after the adapter's defaults
	ad           adapter
	prompt       *boundedTemplate
	target       *boundedTemplate // nil: targetField or choices[gold]
	targetField  string
	choiceField  string
	choiceTmpls  []*boundedTemplate
	gold         string
	choice       bool
	loglik       bool // a log-likelihood scoring mode
	listChoices  bool
	answerPrefix string
	// headerHint ends a missing-field message when a CSV/TSV header row
	// named the fields (it may have been a record).
	headerHint string
}

// where returns "file:line" of a field of the task, or of the task.
func (b *builder) where(field string) string {
	if l, ok := b.s.lines[field]; ok && l > 0 {
		return fmt.Sprintf("%s:%d", b.s.file, l)
	}
	if b.s.line > 0 {
		return fmt.Sprintf("%s:%d", b.s.file, b.s.line)
	}
	if b.s.file != "" {
		return b.s.file
	}
	return "built-in"
}

func (b *builder) errf(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %s", b.where(field), field, fmt.Sprintf(format, args...))
}

// funcs are the functions prompt and target templates may call.
func funcs() template.FuncMap {
	return template.FuncMap{
		"letter": func(i any) (string, error) {
			n, err := toIndex(i)
			if err != nil {
				return "", fmt.Errorf("letter: %w", err)
			}
			return Letter(n), nil
		},
		"trim": strings.TrimSpace,
	}
}

func (b *builder) parseTemplate(field, text string) (*boundedTemplate, error) {
	t, err := newBoundedTemplate(field, text, funcs())
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", b.where(field), field, err)
	}
	return t, nil
}

func isTemplate(s string) bool { return strings.Contains(s, "{{") }

func (b *builder) build() (*Task, error) {
	s := b.s
	if s.adapter != "" {
		b.ad = adapters()[s.adapter]
	}
	sc := s.scorer
	sc.merge(b.ad.scorer)
	mode, err := LookupScoring(s.scoring)
	if err != nil {
		return nil, b.errf("scoring", "%v", err)
	}
	if sc.typ == "" && s.scoring != "" {
		sc.typ = ScorerChoice
	}
	if sc.typ == "" {
		sc.typ = ScorerExact
	}
	b.choice = sc.typ == ScorerChoice
	if s.scoring != "" && !b.choice {
		return nil, b.errf("scoring", "%q is for multiple-choice tasks (scorer: choice, with choices and gold); this task's scorer is %s", s.scoring, sc.typ)
	}
	b.loglik = mode.LogLikelihood
	// A log-likelihood mode scores the choices' texts as continuations
	// (lm-eval's multiple_choice): the prompt lists no lettered choices
	// unless asked to.
	b.listChoices = sc.listChoices == nil && !b.loglik || sc.listChoices != nil && *sc.listChoices
	b.answerPrefix = DefaultAnswerPrefix
	if sc.answerPrefix != nil {
		b.answerPrefix = *sc.answerPrefix
	}
	scorer, err := b.scorer(sc)
	if err != nil {
		return nil, err
	}

	// Templates and fields.
	promptText := cmp.Or(s.prompt, b.ad.prompt)
	if promptText == "" {
		return nil, fmt.Errorf("%s: missing field \"prompt\" (or an adapter that supplies it)", b.where(""))
	}
	if b.prompt, err = b.parseTemplate("prompt", promptText); err != nil {
		return nil, err
	}
	targetText := b.ad.target
	if s.target != nil {
		targetText = *s.target
	}
	if isTemplate(targetText) {
		if b.target, err = b.parseTemplate("target", targetText); err != nil {
			return nil, err
		}
	} else {
		b.targetField = targetText
	}
	cs := s.choices
	if cs == nil && b.ad.choices != "" {
		cs = &choicesSpec{field: b.ad.choices}
	}
	if cs != nil {
		b.choiceField = cs.field
		for _, c := range cs.list {
			t, err := b.parseTemplate("choices", c)
			if err != nil {
				return nil, err
			}
			b.choiceTmpls = append(b.choiceTmpls, t)
		}
	}
	b.gold = cmp.Or(s.gold, b.ad.gold)
	hasChoices := b.choiceField != "" || len(b.choiceTmpls) > 0
	if b.choice && (!hasChoices || b.gold == "") {
		return nil, b.errf("scorer", "the choice scorer needs choices and gold")
	}
	if !b.choice && targetText == "" && (!hasChoices || b.gold == "") {
		return nil, fmt.Errorf("%s: missing field \"target\" (or choices and gold)", b.where(""))
	}

	// Records.
	rows, dataPath, err := b.rows(s.data, s.format, "data")
	if err != nil {
		return nil, err
	}
	var shots []row
	switch {
	case s.fewshot.count == 0:
	case s.fewshot.split == FewshotHead:
		if s.fewshot.count >= len(rows) {
			return nil, b.errf("fewshot", "count %d leaves no scored record of %d", s.fewshot.count, len(rows))
		}
		shots, rows = rows[:s.fewshot.count], rows[s.fewshot.count:]
	default:
		fsPath := s.fewshot.file
		if !filepath.IsAbs(fsPath) && !strings.HasPrefix(fsPath, BuiltinDataPrefix) && !strings.HasPrefix(fsPath, HFPrefix) {
			fsPath = filepath.Join(s.dir, fsPath)
		}
		if same(fsPath, dataPath) {
			// The scored file itself: its first records are the
			// examples and are not scored.
			if s.fewshot.count >= len(rows) {
				return nil, b.errf("fewshot", "count %d leaves no scored record of %d", s.fewshot.count, len(rows))
			}
			shots, rows = rows[:s.fewshot.count], rows[s.fewshot.count:]
			break
		}
		fsRows, _, err := b.rows(s.fewshot.file, "", "fewshot")
		if err != nil {
			return nil, err
		}
		if len(fsRows) < s.fewshot.count {
			return nil, b.errf("fewshot", "count %d but %s holds %d records", s.fewshot.count, s.fewshot.file, len(fsRows))
		}
		shots = fsRows[:s.fewshot.count]
	}

	if s.hashSplit != nil {
		// The records of this part; few-shot examples from the file's
		// head were taken out before, from both parts alike.
		kept := rows[:0:0]
		for _, r := range rows {
			if r.holdout == (s.part == SplitHoldout) {
				kept = append(kept, r)
			}
		}
		if len(kept) == 0 {
			return nil, b.errf("split", "no record of %d falls in the %s part (holdout %g, seed %d)", len(rows), s.part, s.hashSplit.holdout, s.hashSplit.seed)
		}
		rows = kept
	}

	// Few-shot context.
	var ctx strings.Builder
	shotText := map[string]bool{}
	for _, r := range shots {
		it, err := b.item(r)
		if err != nil {
			return nil, fmt.Errorf("few-shot example: %w", err)
		}
		shotText[it.Prompt] = true
		ctx.WriteString(it.Prompt + TargetDelimiter + b.shotTarget(it) + FewshotDelimiter)
		if ctx.Len() > MaxRenderedBytes {
			return nil, b.errf("fewshot", "record %s: the few-shot context exceeds %d bytes", r.id, MaxRenderedBytes)
		}
	}

	t := &Task{
		Name:      s.name,
		Data:      dataPath,
		Split:     cmp.Or(s.part, cmp.Or(s.split, SplitTune)),
		Scorer:    scorer,
		Stop:      DefaultStop(),
		MaxTokens: DefaultMaxTokens,
		Fewshot:   len(shots),
		LongItems: cmp.Or(s.longItems, LongItemsTruncate),
		Chat:      s.chat,
	}
	if s.part != "" {
		t.Name = s.name + "@" + s.part
	}
	if !s.builtin {
		t.File = s.file
	}
	if b.choice {
		t.MaxTokens = DefaultChoiceMaxTokens
		t.Scoring = mode.Name
	}
	if b.ad.stop != nil {
		t.Stop = b.ad.stop
	}
	if s.hasStop {
		t.Stop = s.stop
	}
	if b.ad.maxTokens > 0 {
		t.MaxTokens = b.ad.maxTokens
	}
	if s.maxTokens > 0 {
		t.MaxTokens = s.maxTokens
	}
	total := 0 // bytes of the prompts
	for _, r := range rows {
		if s.limit > 0 && len(t.Items) >= s.limit {
			break
		}
		it, err := b.item(r)
		if err != nil {
			return nil, err
		}
		if shotText[it.Prompt] {
			continue // a few-shot example is never scored
		}
		it.Prompt = ctx.String() + it.Prompt
		if total += len(it.Prompt); total > MaxTaskPromptBytes {
			return nil, b.errf("prompt", "record %s: the prompts of the task exceed %d bytes", r.id, MaxTaskPromptBytes)
		}
		t.Items = append(t.Items, it)
	}
	if len(t.Items) == 0 {
		return nil, fmt.Errorf("%s: no items to score", b.where("data"))
	}
	return t, nil
}

// shotTarget is the answer written after a few-shot example: the gold
// letter for a choice task, the gold choice's text under a log-likelihood
// scoring mode (as lm-eval writes it), else the target.
func (b *builder) shotTarget(it Item) string {
	if b.loglik {
		return it.Choices[it.Gold]
	}
	if b.choice {
		return Letter(it.Gold)
	}
	return it.Target
}

func same(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && filepath.Clean(aa) == filepath.Clean(bb)
}

// rows reads and adapts the records of a data file named in field.
func (b *builder) rows(name, format, field string) ([]row, string, error) {
	if b.s.rows != nil && field == "data" {
		return b.s.rows, "", nil
	}
	path := name
	if !filepath.IsAbs(path) && !strings.HasPrefix(path, BuiltinDataPrefix) && !strings.HasPrefix(path, HFPrefix) {
		path = filepath.Join(b.s.dir, path)
	}
	if format == "" {
		f, ok := formatOf(path)
		if !ok {
			return nil, "", b.errf(field, "cannot tell the format of %q from its extension; set format (%s)", name, strings.Join(Formats(), ", "))
		}
		format = f
	}
	rows, err := readRecords(path, format, b.s.read)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %s: %w", b.where(field), field, err)
	}
	if field == "data" && (format == "csv" || format == "tsv") && !b.s.read.noHeader && b.s.read.columns == nil {
		b.headerHint = fmt.Sprintf("; the first row of %s named the fields: if it holds a record, set header: false and columns: [...]", name)
	}
	for i := range rows {
		if field == "data" && b.s.hashSplit != nil {
			h, err := b.s.hashSplit.inHoldout(rows[i].rec)
			if err != nil {
				return nil, "", fmt.Errorf("%s: split.key: %s: %w", b.where("split"), rows[i].where(path), err)
			}
			rows[i].holdout = h
		}
		if b.ad.mapRec != nil {
			rec, err := b.ad.mapRec(rows[i].rec)
			if err != nil {
				return nil, "", fmt.Errorf("%s: %s: %s: adapter %s: %w (the record has fields %s)", b.where(field), field, rows[i].where(path), b.s.adapter, err, fieldList(rows[i].rec))
			}
			rows[i].rec = rec
		}
	}
	return rows, path, nil
}

// fieldList lists a record's field names, sorted, for messages.
func fieldList(rec Record) string {
	if len(rec) == 0 {
		return "(none)"
	}
	return strings.Join(sortedKeys(rec), ", ")
}

// noField is the error for a field a record lacks; it lists the fields
// the record has.
func noField(rec Record, name string) error {
	return fmt.Errorf("no field %q (the record has fields %s)", name, fieldList(rec))
}

func (r row) where(path string) string {
	if r.line > 0 {
		return fmt.Sprintf("%s:%d", path, r.line)
	}
	return fmt.Sprintf("%s: record %s", path, r.id)
}

// item renders one record.
func (b *builder) item(r row) (Item, error) {
	it := Item{ID: r.id}
	fail := func(field string, err error) (Item, error) {
		if strings.Contains(err.Error(), "map has no entry for key") {
			err = fmt.Errorf("%w (the record has fields %s%s)", err, fieldList(r.rec), b.headerHint)
		} else if strings.Contains(err.Error(), "no field ") {
			err = fmt.Errorf("%w%s", err, b.headerHint)
		}
		return Item{}, fmt.Errorf("%s: %s: record %s: %w", b.where(field), field, r.id, err)
	}
	text, err := render(b.prompt, r.rec)
	if err != nil {
		return fail("prompt", err)
	}
	if b.choiceField != "" {
		v, ok := r.rec[b.choiceField]
		if !ok {
			return fail("choices", noField(r.rec, b.choiceField))
		}
		list, ok := v.([]any)
		if !ok {
			return fail("choices", fmt.Errorf("field %q is not a list", b.choiceField))
		}
		for _, c := range list {
			it.Choices = append(it.Choices, scalarText(c))
		}
	}
	for _, t := range b.choiceTmpls {
		c, err := render(t, r.rec)
		if err != nil {
			return fail("choices", err)
		}
		it.Choices = append(it.Choices, c)
	}
	if len(it.Choices) > maxChoices {
		return fail("choices", fmt.Errorf("%d choices, at most %d", len(it.Choices), maxChoices))
	}
	if b.gold != "" {
		v, ok := r.rec[b.gold]
		if !ok {
			return fail("gold", noField(r.rec, b.gold))
		}
		g, err := goldIndex(v, it.Choices)
		if err != nil {
			return fail("gold", fmt.Errorf("field %q: %w", b.gold, err))
		}
		it.Gold = g
	}
	switch {
	case b.choice:
		if len(it.Choices) < 2 {
			return fail("choices", fmt.Errorf("%d choices, want at least 2", len(it.Choices)))
		}
		it.Target = Letter(it.Gold)
		if b.listChoices {
			var sb strings.Builder
			sb.WriteString(strings.TrimRight(text, " \t\n"))
			for i, c := range it.Choices {
				sb.WriteString("\n" + Letter(i) + ". " + c)
			}
			if b.answerPrefix != "" {
				sb.WriteString("\n" + b.answerPrefix)
			}
			text = sb.String()
		} else if t := strings.TrimRight(text, " \t\n"); b.loglik && b.answerPrefix != "" && !strings.HasSuffix(t, b.answerPrefix) {
			// lm-eval's "…\nAnswer:" before " " + each choice.
			text = t + "\n" + b.answerPrefix
		}
	case b.target != nil:
		if it.Target, err = render(b.target, r.rec); err != nil {
			return fail("target", err)
		}
	case b.targetField != "":
		v, ok := r.rec[b.targetField]
		if !ok {
			return fail("target", noField(r.rec, b.targetField))
		}
		it.Target = scalarText(v)
	default:
		it.Target = it.Choices[it.Gold]
	}
	it.Prompt = text
	return it, nil
}

// render executes a template on a record, within the bounds of
// boundedTemplate.
func render(t *boundedTemplate, rec Record) (string, error) {
	return t.render(rec)
}

// scalarText formats a record value as text: integral numbers without a
// decimal point.
func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// toIndex converts an integral value (int, float64 or a decimal string)
// to an int.
func toIndex(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case float64:
		if x != float64(int(x)) {
			return 0, fmt.Errorf("%v is not an integer", x)
		}
		return int(x), nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%v (%T) is not an integer", v, v)
}

// goldIndex reads a gold value: an index into choices, or the text of one
// of the choices.
func goldIndex(v any, choices []string) (int, error) {
	g, err := toIndex(v)
	if err != nil {
		if s, ok := v.(string); ok {
			for i, c := range choices {
				if c == s {
					return i, nil
				}
			}
		}
		return 0, err
	}
	if len(choices) > 0 && (g < 0 || g >= len(choices)) {
		return 0, fmt.Errorf("index %d out of range for %d choices", g, len(choices))
	}
	return g, nil
}

// scorer builds the scorer of the merged options.
func (b *builder) scorer(sc scorerSpec) (Scorer, error) {
	if sc.typ == ScorerChoice {
		return ChoiceScorer{}, nil
	}
	norm := Normalize{Strip: true}
	var pattern string
	group := 0
	numeric := false
	switch sc.preset {
	case PresetGSM8KStrict, PresetGSM8KFlexible:
		norm.IgnoreCase = true
		norm.RegexesToIgnore = gsm8kIgnore()
		numeric = true
		pattern = gsm8kStrict
		if sc.preset == PresetGSM8KFlexible {
			pattern, group = gsm8kFlexible, -1
		}
	}
	if sc.strip != nil {
		norm.Strip = *sc.strip
	}
	if sc.ignoreCase != nil {
		norm.IgnoreCase = *sc.ignoreCase
	}
	if sc.ignorePunct != nil {
		norm.IgnorePunctuation = *sc.ignorePunct
	}
	if sc.regexes != nil {
		norm.RegexesToIgnore = nil
		for _, r := range *sc.regexes {
			re, err := regexp.Compile(r)
			if err != nil {
				return nil, b.errf("scorer", "regexes_to_ignore: invalid regex %q: %v", r, err)
			}
			norm.RegexesToIgnore = append(norm.RegexesToIgnore, re)
		}
	}
	if sc.typ == ScorerExact {
		return &ExactScorer{Normalize: norm}, nil
	}
	if sc.pattern != "" {
		pattern = sc.pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, b.errf("scorer", "pattern: invalid regex %q: %v", pattern, err)
	}
	if sc.groupSelect != nil {
		group = *sc.groupSelect
	}
	if sc.numeric != nil {
		numeric = *sc.numeric
	}
	rs := &RegexScorer{Pattern: re, GroupSelect: group, Normalize: norm, Numeric: numeric}
	if sc.fallback != nil {
		rs.Fallback = *sc.fallback
	}
	return rs, nil
}
