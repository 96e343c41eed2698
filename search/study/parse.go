package study

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mergetune/mergetune/merge/config/yamllimit"
	"gopkg.in/yaml.v3"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/eval/ollama"
	"github.com/mergetune/mergetune/merge/methods"
	"github.com/mergetune/mergetune/results/dsn"
	"github.com/mergetune/mergetune/search/optim"
)

// File is the study file's YAML document as written: the parser decodes
// into it, and a program that writes a study file (the demo) fills and
// marshals it, so the schema is declared once. The sections with a
// shorthand form (method, space, objective, sampler, pruner, evaluator)
// are yaml.Nodes; fill them with Node.Encode.
type File struct {
	Name       string         `yaml:"name,omitempty"`
	BaseModel  string         `yaml:"base_model,omitempty"`
	Models     []FileModel    `yaml:"models,omitempty"`
	Method     yaml.Node      `yaml:"method,omitempty"`
	Parameters map[string]any `yaml:"parameters,omitempty"`
	Dtype      string         `yaml:"dtype,omitempty"`
	Space      yaml.Node      `yaml:"space,omitempty"`
	Tasks      []string       `yaml:"tasks,omitempty"`
	Holdout    []string       `yaml:"holdout,omitempty"`
	Limit      int            `yaml:"limit,omitempty"`
	Objective  yaml.Node      `yaml:"objective,omitempty"`
	Sampler    yaml.Node      `yaml:"sampler,omitempty"`
	Trials     int            `yaml:"trials,omitempty"`
	Workers    int            `yaml:"workers,omitempty"`
	Pruner     yaml.Node      `yaml:"pruner,omitempty"`
	Evaluator  yaml.Node      `yaml:"evaluator,omitempty"`
	Storage    string         `yaml:"storage,omitempty"`
	WorkDir    string         `yaml:"work_dir,omitempty"`
	KeepBest   *int           `yaml:"keep_best,omitempty"`
	Seed       uint64         `yaml:"seed,omitempty"`
	Heartbeat  string         `yaml:"heartbeat,omitempty"`
	StaleAfter string         `yaml:"stale_after,omitempty"`
	Search     string         `yaml:"search,omitempty"`
	Confirm    *FileConfirm   `yaml:"confirm,omitempty"`
}

// FileConfirm is confirm: the best trials re-scored before freezing.
type FileConfirm struct {
	Top   *int `yaml:"top,omitempty"`
	Items *int `yaml:"items,omitempty"`
}

// FileModel is one entry of models:.
type FileModel struct {
	Model string   `yaml:"model,omitempty"`
	Name  string   `yaml:"name,omitempty"`
	Tasks []string `yaml:"tasks,omitempty"`
}

// FileParam is one entry of space: in its long form.
type FileParam struct {
	Type    string   `yaml:"type,omitempty"`
	Low     *float64 `yaml:"low,omitempty"`
	High    *float64 `yaml:"high,omitempty"`
	Step    float64  `yaml:"step,omitempty"`
	Log     bool     `yaml:"log,omitempty"`
	Choices []any    `yaml:"choices,omitempty"`
	Scope   string   `yaml:"scope,omitempty"`
	Knots   int      `yaml:"knots,omitempty"`
	Start   *float64 `yaml:"start,omitempty"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Load reads, validates and resolves the study file at path: model paths
// become absolute, tasks are loaded (and cut to limit items).
func Load(path string) (*Study, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("study: read %s: %w", path, err)
	}
	return Parse(data, path)
}

// LoadLimit loads the study file at path as Load does, with limit items
// per task instead of the file's limit (0: every item): the tasks a
// confirmation re-scores the best trials on.
func LoadLimit(path string, limit int) (*Study, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("study: read %s: %w", path, err)
	}
	return parse(data, path, &limit)
}

// Parse validates a study file's contents; path names the file in errors
// and anchors its relative paths.
func Parse(data []byte, path string) (*Study, error) {
	return parse(data, path, nil)
}

// parse is Parse, with the limit replaced when limit is not nil.
func parse(data []byte, path string, limit *int) (*Study, error) {
	p := &parser{file: path, dir: filepath.Dir(path)}
	// Aliases are bounded before any decode: fields decoded as yaml.Node
	// (method, space, objective, ...) escape yaml.v3's own alias check.
	if err := yamllimit.CheckBytes(data); err != nil {
		return nil, &Error{File: path, Field: "(document)", Msg: err.Error()}
	}
	var f File
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
		msg = strings.ReplaceAll(msg, " not found in type study.File", " is not a study field")
		return nil, &Error{File: path, Field: "(document)", Msg: msg}
	}
	if limit != nil {
		f.Limit = *limit
	}
	return p.study(&f)
}

type parser struct {
	file, dir string
}

func (p *parser) errf(field, value, format string, args ...any) error {
	return &Error{File: p.file, Field: field, Value: value, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) abs(rel string) string {
	if filepath.IsAbs(rel) {
		return filepath.Clean(rel)
	}
	a, err := filepath.Abs(filepath.Join(p.dir, rel))
	if err != nil {
		return filepath.Join(p.dir, rel)
	}
	return a
}

func (p *parser) dirExists(field, rel string) (string, error) {
	if rel == "" {
		return "", p.errf(field, "", "required")
	}
	a := p.abs(rel)
	st, err := os.Stat(a)
	if err != nil {
		return "", p.errf(field, rel, "no such model directory (%s)", a)
	}
	if !st.IsDir() {
		return "", p.errf(field, rel, "not a directory (%s)", a)
	}
	return a, nil
}

func (p *parser) study(f *File) (*Study, error) {
	s := &Study{File: p.file, Fixed: map[string]any{}, Weights: map[string]float64{}}
	s.Name = f.Name
	if s.Name == "" {
		s.Name = strings.TrimSuffix(filepath.Base(p.file), filepath.Ext(p.file))
	}
	if !nameRE.MatchString(s.Name) {
		return nil, p.errf("name", s.Name, "want letters, digits, '.', '_' or '-'")
	}
	var err error
	if s.BaseModel, err = p.dirExists("base_model", f.BaseModel); err != nil {
		return nil, err
	}
	if len(f.Models) == 0 {
		return nil, p.errf("models", "", "at least one task model is required")
	}
	seen := map[string]bool{}
	for i, m := range f.Models {
		field := fmt.Sprintf("models[%d]", i)
		dir, err := p.dirExists(field+".model", m.Model)
		if err != nil {
			return nil, err
		}
		name := m.Name
		if name == "" {
			name = filepath.Base(dir)
		}
		if !nameRE.MatchString(name) {
			return nil, p.errf(field+".name", name, "want letters, digits, '.', '_' or '-'")
		}
		if seen[name] {
			return nil, p.errf(field+".name", name, "two models share this name; set name: to tell them apart")
		}
		seen[name] = true
		s.Models = append(s.Models, Model{Path: dir, Name: name, Tasks: m.Tasks})
	}
	s.Search = cmp.Or(f.Search, SearchSample)
	modes := Modes()
	if _, ok := modes[s.Search]; !ok {
		return nil, p.errf("search", s.Search, "unknown search mode; known: %s", strings.Join(sortedKeys(modes), ", "))
	}
	if s.Search == SearchGreedySoup && f.Method.Kind == 0 {
		f.Method = yaml.Node{Kind: yaml.ScalarNode, Value: "linear"}
	}
	if err := p.methods(f, s); err != nil {
		return nil, err
	}
	reg := methods.All()
	for _, name := range sortedKeys(f.Parameters) {
		field := "parameters." + name
		if _, ok := paramDef(reg, s.Methods, name); !ok {
			return nil, p.errf(field, "", "no method of %s takes this parameter", strings.Join(s.Methods, ", "))
		}
		v, err := fixedValue(f.Parameters[name])
		if err != nil {
			return nil, p.errf(field, fmt.Sprint(f.Parameters[name]), "%v", err)
		}
		s.Fixed[name] = v
	}
	s.Dtype = f.Dtype
	if err := p.space(f, s, reg); err != nil {
		return nil, err
	}
	if f.Limit < 0 || f.Limit > MaxLimit {
		return nil, p.errf("limit", strconv.Itoa(f.Limit), "must be 0 (all items) to %d", MaxLimit)
	}
	s.Limit = f.Limit
	if err := p.tasks(f, s); err != nil {
		return nil, err
	}
	if err := p.objective(f, s); err != nil {
		return nil, err
	}
	if err := p.sampler(f, s); err != nil {
		return nil, err
	}
	if s.Search == SearchGreedySoup && f.Trials == 0 {
		f.Trials = len(s.Models)
	}
	if f.Trials < 1 {
		return nil, p.errf("trials", strconv.Itoa(f.Trials), "the study's trial budget must be at least 1")
	}
	s.Trials = f.Trials
	s.Workers = f.Workers
	if s.Workers == 0 {
		s.Workers = 1
	}
	if s.Workers < 0 {
		return nil, p.errf("workers", strconv.Itoa(f.Workers), "must be at least 1")
	}
	if err := p.pruner(f, s); err != nil {
		return nil, err
	}
	if s.Transfer != nil && s.Pruner != optim.NoPruner {
		return nil, p.errf("pruner.type", s.Pruner, "objective.transfer scores each trial on several merges: pruner must be none")
	}
	if err := p.evaluator(f, s); err != nil {
		return nil, err
	}
	if err := p.greedy(f, s); err != nil {
		return nil, err
	}
	switch {
	case f.Storage == "":
		s.Storage = p.abs(filepath.Join("results", s.Name+".db"))
	case IsPostgres(f.Storage):
		s.Storage = f.Storage
	case strings.Contains(f.Storage, "://") || strings.HasPrefix(f.Storage, "file:") || strings.ContainsRune(f.Storage, '?'):
		return nil, p.errf("storage", dsn.Redact(f.Storage), "want a SQLite file path or a postgres:// DSN")
	default:
		s.Storage = p.abs(f.Storage)
	}
	s.WorkDir = p.abs(cmp.Or(f.WorkDir, filepath.Join("work", s.Name)))
	s.KeepBest = 1
	if f.KeepBest != nil {
		if *f.KeepBest < 0 {
			return nil, p.errf("keep_best", strconv.Itoa(*f.KeepBest), "must be 0 or more")
		}
		s.KeepBest = *f.KeepBest
	}
	s.Seed = f.Seed
	if f.Confirm != nil {
		c := Confirm{Top: DefaultConfirmTop}
		if f.Confirm.Top != nil {
			c.Top = *f.Confirm.Top
		}
		if f.Confirm.Items != nil {
			c.Items = *f.Confirm.Items
		}
		if c.Top < 1 {
			return nil, p.errf("confirm.top", strconv.Itoa(c.Top), "re-score at least the best trial (1 or more)")
		}
		if c.Items < 0 || c.Items > MaxLimit {
			return nil, p.errf("confirm.items", strconv.Itoa(c.Items), "must be 0 (the whole tune split) to %d", MaxLimit)
		}
		s.Confirm = &c
	}
	if s.Heartbeat, err = p.duration("heartbeat", f.Heartbeat, 10*time.Second); err != nil {
		return nil, err
	}
	if s.StaleAfter, err = p.duration("stale_after", f.StaleAfter, 0); err != nil {
		return nil, err
	}
	if s.StaleAfter == 0 {
		s.StaleAfter = max(6*s.Heartbeat, time.Minute)
	}
	if s.StaleAfter <= s.Heartbeat {
		return nil, p.errf("stale_after", f.StaleAfter, "must be longer than heartbeat (%s)", s.Heartbeat)
	}
	return s, nil
}

// greedy checks what a greedy soup study allows: a uniform linear average
// of the models (no space, no parameters), one step per model, run in
// order by one worker, each step scored whole.
func (p *parser) greedy(f *File, s *Study) error {
	if s.Search != SearchGreedySoup {
		return nil
	}
	switch {
	case len(s.Methods) != 1 || s.Methods[0] != "linear":
		return p.errf("method", strings.Join(s.Methods, ", "), "greedy_soup averages models uniformly: method must be linear (or left out)")
	case len(s.Space) > 0:
		return p.errf("space", s.Space[0].Name, "greedy_soup searches no space: its steps are fixed by the models' own scores")
	case len(s.Fixed) > 0:
		return p.errf("parameters", sortedKeys(s.Fixed)[0], "greedy_soup takes no parameters: every soup is a uniform average")
	case s.Trials != len(s.Models):
		return p.errf("trials", strconv.Itoa(s.Trials), "greedy_soup takes one step per model (%d); leave trials out", len(s.Models))
	case s.Workers != 1:
		return p.errf("workers", strconv.Itoa(s.Workers), "greedy_soup's steps depend on each other: workers must be 1")
	case s.Pruner != optim.NoPruner:
		return p.errf("pruner", s.Pruner, "greedy_soup scores every step whole: pruner must be none")
	case s.Transfer != nil:
		return p.errf("objective.transfer", "", "greedy_soup merges subsets of the models by its own rule: leave transfer out")
	}
	return nil
}

func (p *parser) duration(field, v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, p.errf(field, v, "want a positive duration such as 10s or 2m")
	}
	return d, nil
}

func (p *parser) methods(f *File, s *Study) error {
	n := &f.Method
	reg := methods.All()
	switch n.Kind {
	case 0:
		return p.errf("method", "", "required: a merge method or a list of them")
	case yaml.ScalarNode:
		s.Methods = []string{n.Value}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return p.errf("method", "", "want a method name or a list of names")
			}
			if slices.Contains(s.Methods, c.Value) {
				return p.errf("method", c.Value, "listed twice")
			}
			s.Methods = append(s.Methods, c.Value)
		}
		if len(s.Methods) == 0 {
			return p.errf("method", "[]", "the list is empty")
		}
	default:
		return p.errf("method", "", "want a method name or a list of names")
	}
	for _, m := range s.Methods {
		if reg[m] == nil {
			return p.errf("method", m, "unknown merge method; known: %s", strings.Join(sortedKeys(reg), ", "))
		}
	}
	return nil
}

func (p *parser) objective(f *File, s *Study) error {
	n := &f.Objective
	s.Objective = ObjectiveMean
	switch n.Kind {
	case 0:
	case yaml.ScalarNode:
		s.Objective = n.Value
	case yaml.MappingNode:
		if k := checkKeys(n, "type", "weights", "transfer"); k != "" {
			return p.errf("objective."+k, "", "unknown field; known: type, weights, transfer")
		}
		var o struct {
			Type     string             `yaml:"type"`
			Weights  map[string]float64 `yaml:"weights"`
			Transfer yaml.Node          `yaml:"transfer"`
		}
		if err := n.Decode(&o); err != nil {
			return p.errf("objective", "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		s.Objective = cmp.Or(o.Type, ObjectiveMean)
		for _, k := range sortedKeys(o.Weights) {
			w := o.Weights[k]
			t := s.findTune(k)
			if t == "" {
				return p.errf("objective.weights."+k, fmtNum(w), "no tune task has this name")
			}
			if !(w > 0) || math.IsInf(w, 0) {
				return p.errf("objective.weights."+k, fmtNum(w), "a task weight must be above 0")
			}
			s.Weights[t] = w
		}
		if o.Transfer.Kind != 0 {
			if err := p.transfer(&o.Transfer, s); err != nil {
				return err
			}
		}
	default:
		return p.errf("objective", "", "want mean, normalized or {type, weights, transfer}")
	}
	switch s.Objective {
	case ObjectiveMean:
	case ObjectiveNormalized:
		for _, t := range s.Tune {
			if s.TaskModel(t.Name) == "" {
				return p.errf("objective", s.Objective, "normalized needs a model tagged with each tune task; none has task %s (add tasks: [%s] to its model)", t.Name, TaskKey(t.Name))
			}
		}
	default:
		return p.errf("objective", s.Objective, "want mean or normalized")
	}
	return nil
}

func (s *Study) findTune(name string) string {
	for _, t := range s.Tune {
		if t.Name == name || TaskKey(t.Name) == name {
			return t.Name
		}
	}
	return ""
}

func (p *parser) sampler(f *File, s *Study) error {
	n := &f.Sampler
	s.Sampler = optim.DefaultSampler
	switch n.Kind {
	case 0:
	case yaml.ScalarNode:
		s.Sampler = n.Value
	case yaml.MappingNode:
		if k := checkKeys(n, "type", "seed"); k != "" {
			return p.errf("sampler."+k, "", "unknown field; known: type, seed")
		}
		var o struct {
			Type string `yaml:"type"`
			Seed int64  `yaml:"seed"`
		}
		if err := n.Decode(&o); err != nil {
			return p.errf("sampler", "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		s.Sampler = cmp.Or(o.Type, optim.DefaultSampler)
		s.SamplerSeed = o.Seed
	default:
		return p.errf("sampler", "", "want one of %s, or {type, seed}", strings.Join(optim.Samplers().Names(), ", "))
	}
	samplers := optim.Samplers()
	e, err := samplers.Lookup(s.Sampler)
	if err != nil {
		return p.errf("sampler.type", s.Sampler, "unknown sampler; known: %s", strings.Join(samplers.Names(), ", "))
	}
	if e.Discrete {
		for _, prm := range s.Space {
			if prm.Type == "float" && (prm.Step <= 0 || prm.Log) {
				return p.errf("space."+prm.Name+".step", "", "the %s sampler needs every parameter discrete: give %s a step (or make it an int or a choice)", s.Sampler, prm.Name)
			}
		}
	}
	if d := s.dimensions(); d < e.MinDimensions {
		return p.errf("sampler.type", s.Sampler, "the %s sampler needs at least %d numeric dimensions in space, this one has %d", s.Sampler, e.MinDimensions, d)
	}
	return nil
}

// dimensions counts the numeric search dimensions of the first method.
func (s *Study) dimensions() int {
	n := 0
	for _, prm := range s.Space {
		if prm.Type == "choice" {
			continue
		}
		n += len(s.paramNames(prm))
	}
	return n
}

func (p *parser) pruner(f *File, s *Study) error {
	n := &f.Pruner
	s.Pruner = optim.NoPruner
	s.Chunks = 3
	s.Startup = 5
	switch n.Kind {
	case 0:
	case yaml.ScalarNode:
		s.Pruner = n.Value
	case yaml.MappingNode:
		if k := checkKeys(n, "type", "chunks", "startup"); k != "" {
			return p.errf("pruner."+k, "", "unknown field; known: type, chunks, startup")
		}
		var o struct {
			Type    string `yaml:"type"`
			Chunks  *int   `yaml:"chunks"`
			Startup *int   `yaml:"startup"`
		}
		if err := n.Decode(&o); err != nil {
			return p.errf("pruner", "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		s.Pruner = cmp.Or(o.Type, optim.NoPruner)
		if o.Chunks != nil {
			if *o.Chunks < 2 {
				return p.errf("pruner.chunks", strconv.Itoa(*o.Chunks), "need at least 2 chunks of the tune set")
			}
			s.Chunks = *o.Chunks
		}
		if o.Startup != nil {
			if *o.Startup < 0 {
				return p.errf("pruner.startup", strconv.Itoa(*o.Startup), "must be 0 or more")
			}
			s.Startup = *o.Startup
		}
	default:
		return p.errf("pruner", "", "want one of %s, or {type, chunks, startup}", strings.Join(optim.Pruners().Names(), ", "))
	}
	if pruners := optim.Pruners(); !pruners.Has(s.Pruner) {
		return p.errf("pruner.type", s.Pruner, "unknown pruner; known: %s", strings.Join(pruners.Names(), ", "))
	}
	return nil
}

// evaluatorKeys are the fields of a study's evaluator section: type,
// parallel, and the settings of the backends (their Driver.Settings).
const evaluatorKeys = "type, host, hosts, parallel, quantize, base_url, model, api_key_env, candidate_dir, reload_command, reload_timeout, models_dir, stream"

func (p *parser) evaluator(f *File, s *Study) error {
	n := &f.Evaluator
	s.Evaluator = backends.Builtin
	s.Parallel = eval.DefaultParallel
	known := evaluatorKeys
	table := backends.All()
	var reloadTimeout string
	var given []string // the backend's own settings given in the file
	switch n.Kind {
	case 0:
	case yaml.ScalarNode:
		s.Evaluator = n.Value
	case yaml.MappingNode:
		if k := checkKeys(n, strings.Split(known, ", ")...); k != "" {
			return p.errf("evaluator."+k, "", "unknown field; known: %s", known)
		}
		for i := 0; i < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k != "type" && k != "parallel" {
				given = append(given, k)
			}
		}
		var o struct {
			Type          string   `yaml:"type"`
			Host          string   `yaml:"host"`
			Hosts         []string `yaml:"hosts"`
			Parallel      *int     `yaml:"parallel"`
			Quantize      string   `yaml:"quantize"`
			ModelsDir     string   `yaml:"models_dir"`
			Stream        string   `yaml:"stream"`
			BaseURL       string   `yaml:"base_url"`
			Model         string   `yaml:"model"`
			APIKeyEnv     string   `yaml:"api_key_env"`
			CandidateDir  string   `yaml:"candidate_dir"`
			ReloadCommand string   `yaml:"reload_command"`
			ReloadTimeout string   `yaml:"reload_timeout"`
		}
		if err := n.Decode(&o); err != nil {
			return p.errf("evaluator", "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		s.Evaluator = cmp.Or(o.Type, backends.Builtin)
		if o.Host != "" {
			s.Hosts = append(s.Hosts, o.Host)
		}
		s.Hosts = append(s.Hosts, o.Hosts...)
		if o.Parallel != nil {
			if *o.Parallel < 1 {
				return p.errf("evaluator.parallel", strconv.Itoa(*o.Parallel), "must be at least 1")
			}
			s.Parallel = *o.Parallel
		}
		s.Quantize = o.Quantize
		switch o.ModelsDir {
		case "", "-": // "-": never put candidates into the server's store
			s.ModelsDir = o.ModelsDir
		default:
			s.ModelsDir = p.abs(o.ModelsDir)
		}
		if o.Stream != "" {
			stream, err := strconv.ParseBool(o.Stream)
			if err != nil {
				return p.errf("evaluator.stream", o.Stream, "want true or false")
			}
			s.NoStream = !stream
		}
		s.OpenAI = OpenAIEvaluator{BaseURL: o.BaseURL, Model: o.Model, APIKeyEnv: o.APIKeyEnv,
			CandidateDir: o.CandidateDir, ReloadCommand: o.ReloadCommand}
		reloadTimeout = o.ReloadTimeout
	default:
		return p.errf("evaluator", "", "want %s or {type, …}", strings.Join(table.Names(), ", "))
	}
	d, err := table.Lookup(s.Evaluator)
	if err != nil {
		return p.errf("evaluator.type", s.Evaluator, "unknown evaluator; known: %s", strings.Join(table.Names(), ", "))
	}
	for _, k := range given {
		if slices.Contains(d.Settings, k) {
			continue
		}
		for _, name := range table.Names() {
			if slices.Contains(table[name].Settings, k) {
				return p.errf("evaluator.type", s.Evaluator, "%s is a setting of the %s evaluator; %s takes %s", k, name, s.Evaluator, cmp.Or(strings.Join(d.Settings, ", "), "only parallel"))
			}
		}
	}
	o := &s.OpenAI
	if o.CandidateDir != "" {
		o.CandidateDir = p.abs(o.CandidateDir)
	}
	if reloadTimeout != "" {
		dur, err := time.ParseDuration(reloadTimeout)
		if err != nil || dur <= 0 {
			return p.errf("evaluator.reload_timeout", reloadTimeout, "want a positive duration such as 10m")
		}
		o.ReloadTimeout = dur
	}
	if d.Check != nil {
		if err := d.Check(s.EvaluatorConfig(0)); err != nil {
			var fe *backends.FieldError
			if errors.As(err, &fe) {
				return p.errf(fe.Field, fe.Value, "%s", fe.Msg)
			}
			return p.errf("evaluator", "", "%v", err)
		}
	}
	return nil
}

// EvaluatorConfig returns the setting of the study's evaluator for its
// worker i (worker i uses Hosts[i%len]), to open through the backends
// table.
func (s *Study) EvaluatorConfig(i int) backends.Config {
	host := ""
	if len(s.Hosts) > 0 {
		host = s.Hosts[i%len(s.Hosts)]
	}
	o := s.OpenAI
	return backends.Config{Parallel: s.Parallel, Host: host, Quantize: s.Quantize, ModelsDir: s.ModelsDir, NoStream: s.NoStream, NamePrefix: "mergetune-" + s.Name,
		Timeouts: ollama.Timeouts{Import: o.ReloadTimeout}, BaseURL: o.BaseURL, ServedName: o.Model, APIKeyEnv: o.APIKeyEnv,
		CandidateDir: o.CandidateDir, ReloadCommand: o.ReloadCommand, Workers: s.Workers}
}

// checkKeys returns the first key of mapping n not among allowed, or "".
func checkKeys(n *yaml.Node, allowed ...string) string {
	for i := 0; i < len(n.Content); i += 2 {
		if !slices.Contains(allowed, n.Content[i].Value) {
			return n.Content[i].Value
		}
	}
	return ""
}

// paramDef finds name among the parameters of any of the methods.
func paramDef(reg methods.Registry, ms []string, name string) (methods.ParamDef, bool) {
	for _, m := range ms {
		if d, ok := methodParam(reg[m], name); ok {
			return d, true
		}
	}
	return methods.ParamDef{}, false
}

func methodParam(m *methods.Method, name string) (methods.ParamDef, bool) {
	if m == nil {
		return methods.ParamDef{}, false
	}
	for _, d := range m.Params {
		if d.Name == name {
			return d, true
		}
	}
	return methods.ParamDef{}, false
}

// fixedValue converts a YAML value to float64, bool or []float64.
func fixedValue(v any) (any, error) {
	switch x := v.(type) {
	case int:
		return float64(x), nil
	case float64:
		return x, nil
	case bool:
		return x, nil
	case []any:
		out := make([]float64, len(x))
		for i, e := range x {
			f, ok := e.(float64)
			if n, isInt := e.(int); isInt {
				f, ok = float64(n), true
			}
			if !ok {
				return nil, fmt.Errorf("want numbers in the gradient list, got %v", e)
			}
			out[i] = f
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("an empty gradient list")
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a number, a boolean or a list of numbers")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
