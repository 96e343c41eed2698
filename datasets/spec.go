package datasets

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mergetune/mergetune/merge/config/yamllimit"
	"gopkg.in/yaml.v3"
)

// taskSpec is a task as written in a task file, before its data is read.
type taskSpec struct {
	file string // the task file, for messages
	dir  string // relative paths are resolved against it
	line int    // line of the task's mapping
	// lines holds the line of each field, for messages.
	lines map[string]int

	name, data, format, adapter, prompt string
	target                              *string
	choices                             *choicesSpec
	gold                                string
	fewshot                             fewshotSpec
	limit                               int
	split                               string
	// hashSplit, when set, splits the data file into the parts tune and
	// holdout (split: {holdout: F, seed: S}).
	hashSplit *splitSpec
	// part is the part of a split file this task is: SplitTune or
	// SplitHoldout ("" for a task without hashSplit).
	part string
	// read shapes how the data (and few-shot) file is read: records,
	// header, columns.
	read      readOptions
	stop      []string
	hasStop   bool
	maxTokens int
	longItems string // long_items (LongItemsTruncate, LongItemsSkip)
	scorer    scorerSpec
	scoring   string // scoring: a ScoringModes name ("" the default)
	chat      bool   // chat: the prompt is sent as a user turn

	// rows, when set, are the records (a built-in toy task) instead of
	// the data file.
	rows []row
	// builtin marks a task made by Builtin (file only names it).
	builtin bool
}

// choicesSpec is either a field holding a list or a list of templates.
type choicesSpec struct {
	field string
	list  []string
}

type fewshotSpec struct {
	count int
	file  string
	split string
}

// scorerSpec holds the scorer options; nil pointers are unset.
type scorerSpec struct {
	typ          string
	strip        *bool
	ignoreCase   *bool
	ignorePunct  *bool
	numeric      *bool
	regexes      *[]string
	preset       string
	pattern      string
	groupSelect  *int
	fallback     *string
	listChoices  *bool
	answerPrefix *string
}

// taskKeys lists the fields of a task, in documentation order.
func taskKeys() []string {
	return []string{"name", "data", "format", "records", "header", "columns", "adapter", "prompt", "target", "choices", "gold",
		"fewshot", "limit", "split", "stop", "max_tokens", "long_items", "scorer", "scoring", "chat"}
}

// at formats a position prefix "file:line".
func at(file string, n *yaml.Node) string {
	if n == nil || n.Line == 0 {
		return file
	}
	return fmt.Sprintf("%s:%d", file, n.Line)
}

// specError is an error about a field of a task file.
func specError(file string, n *yaml.Node, field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %s", at(file, n), field, fmt.Sprintf(format, args...))
}

// readYAML parses a YAML file into its document's root node.
func readYAML(path string) (*yaml.Node, error) {
	b, err := readRegular(path)
	if err != nil {
		return nil, fmt.Errorf("task file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := yamllimit.Check(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty task file", path)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: the task file must be a mapping (name: …, data: …), not a %s", at(path, root), kindName(root))
	}
	return root, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return "scalar"
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

// pairs returns a mapping's key/value pairs and rejects duplicate keys
// and keys not in known.
func pairs(file, field string, n *yaml.Node, known []string) ([][2]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, specError(file, n, field, "want a mapping, got a %s", kindName(n))
	}
	seen := map[string]bool{}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := join(field, k.Value)
		if !slices.Contains(known, k.Value) {
			return nil, fmt.Errorf("%s: unknown field %q (known: %s)", at(file, k), name, strings.Join(known, ", "))
		}
		if seen[k.Value] {
			return nil, fmt.Errorf("%s: duplicate field %q", at(file, k), name)
		}
		seen[k.Value] = true
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out, nil
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func scalarString(file, field string, n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", specError(file, n, field, "want a string, got a %s", kindName(n))
	}
	return n.Value, nil
}

func scalarInt(file, field string, n *yaml.Node, minimum int) (int, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, specError(file, n, field, "want an integer, got a %s", kindName(n))
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		return 0, specError(file, n, field, "want an integer, got %q", n.Value)
	}
	if v < minimum {
		return 0, specError(file, n, field, "want an integer >= %d, got %d", minimum, v)
	}
	return v, nil
}

func scalarBool(file, field string, n *yaml.Node) (bool, error) {
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "true", "True", "TRUE", "yes":
			return true, nil
		case "false", "False", "FALSE", "no":
			return false, nil
		}
	}
	return false, specError(file, n, field, "want true or false, got %q", n.Value)
}

// stringList reads a list of strings; a single string is a list of one.
func stringList(file, field string, n *yaml.Node) ([]string, error) {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, specError(file, n, field, "want a list of strings, got a %s", kindName(n))
	}
	out := make([]string, 0, len(n.Content))
	for _, e := range n.Content {
		s, err := scalarString(file, field, e)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// parseTask reads one task mapping.
func parseTask(file, dir string, n *yaml.Node) (*taskSpec, error) {
	ps, err := pairs(file, "", n, taskKeys())
	if err != nil {
		return nil, err
	}
	s := &taskSpec{file: file, dir: dir, line: n.Line, lines: map[string]int{}}
	for _, p := range ps {
		k, v := p[0].Value, p[1]
		s.lines[k] = v.Line
		switch k {
		case "name":
			s.name, err = scalarString(file, k, v)
			if err == nil && strings.TrimSpace(s.name) == "" {
				err = specError(file, v, k, "empty task name")
			}
		case "data":
			s.data, err = scalarString(file, k, v)
		case "format":
			s.format, err = scalarString(file, k, v)
			if err == nil && !slices.Contains(Formats(), s.format) {
				err = specError(file, v, k, "unknown format %q (want %s)", s.format, strings.Join(Formats(), ", "))
			}
		case "adapter":
			s.adapter, err = scalarString(file, k, v)
			if err == nil {
				if _, ok := adapters()[s.adapter]; !ok {
					err = specError(file, v, k, "unknown adapter %q (want %s)", s.adapter, strings.Join(AdapterNames(), ", "))
				}
			}
		case "prompt":
			s.prompt, err = scalarString(file, k, v)
		case "target":
			var t string
			t, err = scalarString(file, k, v)
			s.target = &t
		case "choices":
			s.choices = &choicesSpec{}
			if v.Kind == yaml.ScalarNode {
				s.choices.field = v.Value
			} else {
				s.choices.list, err = stringList(file, k, v)
			}
		case "gold":
			s.gold, err = scalarString(file, k, v)
		case "fewshot":
			err = parseFewshot(file, v, &s.fewshot)
		case "limit":
			s.limit, err = scalarInt(file, k, v, 0)
		case "split":
			if v.Kind == yaml.MappingNode {
				s.hashSplit, err = parseHashSplit(file, v)
				break
			}
			s.split, err = scalarString(file, k, v)
			if err == nil && s.split != SplitTune && s.split != SplitHoldout {
				err = specError(file, v, k, "unknown split role %q (want %s or %s, or a mapping {holdout: 0.3, seed: 1} that splits the file into both)", s.split, SplitTune, SplitHoldout)
			}
		case "records":
			s.read.records, err = scalarString(file, k, v)
			if err == nil && (s.read.records == "" || slices.Contains(strings.Split(s.read.records, "."), "")) {
				err = specError(file, v, k, "want a key path such as examples or data.rows, got %q", s.read.records)
			}
		case "header":
			var h bool
			h, err = scalarBool(file, k, v)
			s.read.noHeader = !h
		case "columns":
			s.read.columns, err = stringList(file, k, v)
			if err == nil && len(s.read.columns) == 0 {
				err = specError(file, v, k, "want a non-empty list of column names")
			}
		case "stop":
			s.stop, err = stringList(file, k, v)
			s.hasStop = true
		case "max_tokens":
			s.maxTokens, err = scalarInt(file, k, v, 1)
		case "long_items":
			s.longItems, err = parseLongItems(file, v)
		case "scorer":
			err = parseScorer(file, v, &s.scorer)
		case "chat":
			s.chat, err = scalarBool(file, k, v)
		case "scoring":
			s.scoring, err = scalarString(file, k, v)
			if err == nil {
				if _, lerr := LookupScoring(s.scoring); lerr != nil {
					err = specError(file, v, k, "%v", lerr)
				}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if s.name == "" {
		return nil, fmt.Errorf("%s: missing field \"name\"", at(file, n))
	}
	if s.data == "" {
		return nil, fmt.Errorf("%s: task %q: missing field \"data\"", at(file, n), s.name)
	}
	if err := s.checkRead(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkRead checks that records, header and columns suit the data file's
// format.
func (s *taskSpec) checkRead() error {
	where := func(field string) string { return fmt.Sprintf("%s:%d", s.file, s.lines[field]) }
	format := s.format
	if format == "" {
		format, _ = formatOf(s.data)
	}
	if s.read.records != "" && format != "" && format != "json" {
		return fmt.Errorf("%s: records: only for a json data file (a list inside an object); %s is %s", where("records"), s.data, format)
	}
	csvLike := format == "csv" || format == "tsv"
	if _, ok := s.lines["header"]; ok && format != "" && !csvLike {
		return fmt.Errorf("%s: header: only for a csv or tsv data file; %s is %s", where("header"), s.data, format)
	}
	if s.read.columns != nil && format != "" && !csvLike {
		return fmt.Errorf("%s: columns: only for a csv or tsv data file; %s is %s", where("columns"), s.data, format)
	}
	if s.read.noHeader && s.read.columns == nil {
		return fmt.Errorf("%s: header: false needs columns: [name, ...] to name the fields", where("header"))
	}
	return nil
}

func parseFewshot(file string, n *yaml.Node, f *fewshotSpec) error {
	ps, err := pairs(file, "fewshot", n, []string{"count", "file", "split"})
	if err != nil {
		return err
	}
	for _, p := range ps {
		k, v := p[0].Value, p[1]
		field := "fewshot." + k
		switch k {
		case "count":
			f.count, err = scalarInt(file, field, v, 0)
		case "file":
			f.file, err = scalarString(file, field, v)
		case "split":
			f.split, err = scalarString(file, field, v)
			if err == nil && f.split != FewshotHead {
				err = specError(file, v, field, "unknown few-shot split %q (want %q: the first count records of the data file, which are then not scored)", f.split, FewshotHead)
			}
		}
		if err != nil {
			return err
		}
	}
	if f.file != "" && f.split != "" {
		return specError(file, n, "fewshot", "give file or split, not both")
	}
	if f.count > 0 && f.file == "" && f.split == "" {
		return specError(file, n, "fewshot", "count %d needs a file or split: %s", f.count, FewshotHead)
	}
	return nil
}

// Scorer types.
const (
	ScorerExact  = "exact"
	ScorerRegex  = "regex"
	ScorerChoice = "choice"
)

// Regex scorer presets (scorer.preset).
const (
	PresetGSM8KStrict   = "gsm8k-strict"
	PresetGSM8KFlexible = "gsm8k-flexible"
)

// scorerOptions lists the options each scorer type accepts.
func scorerOptions() map[string][]string {
	norm := []string{"type", "strip", "ignore_case", "ignore_punctuation", "regexes_to_ignore"}
	return map[string][]string{
		ScorerExact:  norm,
		ScorerRegex:  append(slices.Clone(norm), "preset", "pattern", "group_select", "fallback", "numeric"),
		ScorerChoice: {"type", "list_choices", "answer_prefix"},
	}
}

func parseScorer(file string, n *yaml.Node, s *scorerSpec) error {
	if n.Kind == yaml.ScalarNode {
		n = &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "type", Line: n.Line}, n}}
	}
	if n.Kind != yaml.MappingNode {
		return specError(file, n, "scorer", "want a scorer type (exact, regex, choice) or a mapping, got a %s", kindName(n))
	}
	var all []string
	for _, t := range []string{ScorerExact, ScorerRegex, ScorerChoice} {
		for _, o := range scorerOptions()[t] {
			if !slices.Contains(all, o) {
				all = append(all, o)
			}
		}
	}
	ps, err := pairs(file, "scorer", n, all)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p[0].Value == "type" {
			s.typ, err = scalarString(file, "scorer.type", p[1])
			if err != nil {
				return err
			}
			if _, ok := scorerOptions()[s.typ]; !ok {
				return specError(file, p[1], "scorer.type", "unknown scorer %q (want %s, %s or %s)", s.typ, ScorerExact, ScorerRegex, ScorerChoice)
			}
		}
	}
	if s.typ == "" {
		return specError(file, n, "scorer", "missing field \"type\" (%s, %s or %s)", ScorerExact, ScorerRegex, ScorerChoice)
	}
	opts := scorerOptions()[s.typ]
	for _, p := range ps {
		k, v := p[0].Value, p[1]
		field := "scorer." + k
		if !slices.Contains(opts, k) {
			return fmt.Errorf("%s: %s: not an option of the %s scorer (its options: %s)", at(file, p[0]), field, s.typ, strings.Join(opts[1:], ", "))
		}
		var b bool
		switch k {
		case "strip", "ignore_case", "ignore_punctuation", "numeric", "list_choices":
			b, err = scalarBool(file, field, v)
			bp := &b
			switch k {
			case "strip":
				s.strip = bp
			case "ignore_case":
				s.ignoreCase = bp
			case "ignore_punctuation":
				s.ignorePunct = bp
			case "numeric":
				s.numeric = bp
			case "list_choices":
				s.listChoices = bp
			}
		case "regexes_to_ignore":
			var l []string
			l, err = stringList(file, field, v)
			s.regexes = &l
		case "preset":
			s.preset, err = scalarString(file, field, v)
			if err == nil && s.preset != PresetGSM8KStrict && s.preset != PresetGSM8KFlexible {
				err = specError(file, v, field, "unknown preset %q (want %s or %s)", s.preset, PresetGSM8KStrict, PresetGSM8KFlexible)
			}
		case "pattern":
			s.pattern, err = scalarString(file, field, v)
		case "group_select":
			if v.Kind != yaml.ScalarNode {
				err = specError(file, v, field, "want an integer, got a %s", kindName(v))
				break
			}
			var g int
			g, err = strconv.Atoi(v.Value)
			if err != nil {
				err = specError(file, v, field, "want an integer (0 first match, -1 last), got %q", v.Value)
			}
			s.groupSelect = &g
		case "fallback":
			var f string
			f, err = scalarString(file, field, v)
			s.fallback = &f
		case "answer_prefix":
			var a string
			a, err = scalarString(file, field, v)
			s.answerPrefix = &a
		}
		if err != nil {
			return err
		}
	}
	if s.typ == ScorerRegex && s.preset == "" && s.pattern == "" {
		return specError(file, n, "scorer", "the regex scorer needs a pattern or a preset (%s, %s)", PresetGSM8KStrict, PresetGSM8KFlexible)
	}
	return nil
}

// merge fills the unset options of s from d (an adapter's defaults).
func (s *scorerSpec) merge(d scorerSpec) {
	if s.typ != "" && s.typ != d.typ {
		return // another scorer type: the adapter's options do not apply
	}
	if s.typ == "" {
		s.typ = d.typ
	}
	if s.preset == "" && s.pattern == "" {
		s.preset, s.pattern = d.preset, d.pattern
	}
	s.strip = cmp.Or(s.strip, d.strip)
	s.ignoreCase = cmp.Or(s.ignoreCase, d.ignoreCase)
	s.ignorePunct = cmp.Or(s.ignorePunct, d.ignorePunct)
	s.numeric = cmp.Or(s.numeric, d.numeric)
	s.regexes = cmp.Or(s.regexes, d.regexes)
	s.groupSelect = cmp.Or(s.groupSelect, d.groupSelect)
	s.fallback = cmp.Or(s.fallback, d.fallback)
	s.listChoices = cmp.Or(s.listChoices, d.listChoices)
	s.answerPrefix = cmp.Or(s.answerPrefix, d.answerPrefix)
}
