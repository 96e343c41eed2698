// Package study reads and validates mergetune study files and turns a
// point of a study's search space into a mergekit configuration.
//
// A study file is YAML:
//
//	name: toy-breadcrumbs          # default: the file name without extension
//	base_model: ../family/base     # paths are relative to the study file
//	models:
//	  - model: ../family/swapcase
//	    tasks: [swapcase]          # the task(s) this model was tuned for
//	  - model: ../family/rot1
//	    name: rot1                 # label in parameter names (default: base name)
//	    tasks: [rot1, my-task]     # my-task: the name: in tasks/my-task.yml
//	method: breadcrumbs            # or a list, searched as a categorical
//	parameters: {normalize: false} # fixed parameters (global or per-model)
//	dtype: bfloat16
//	space:
//	  lambda:  {type: float, low: 0.1, high: 1.5}                # scope global
//	  weight:  {type: float, low: 0.2, high: 1, scope: per_model}
//	  density: {type: float, low: 0.5, high: 1, scope: shared}
//	  gamma:   {type: float, low: 0.001, high: 0.05, log: true, scope: per_layer, knots: 3}
//	tasks: [toy:swapcase@tune, toy:rot1@tune, tasks/my-task.yml]
//	holdout: [toy:swapcase, toy:rot1]
//	limit: 30                      # items per task (0: all; at most MaxLimit); a task file's smaller limit wins
//	objective: {type: normalized, weights: {toy:rot1@tune: 2}}   # or: mean
//	sampler: {type: tpe, seed: 1}  # tpe (default), cmaes, random, sobol (see package optim)
//	trials: 10                     # one budget for the whole study
//	workers: 2
//	pruner: {type: median, chunks: 3, startup: 5}   # none (default), median, asha (see package optim)
//	evaluator: {type: builtin}     # or {type: ollama, hosts: [...], parallel: 4, quantize: q8_0}
//	                               # or {type: openai, base_url: http://127.0.0.1:8000, model: cand,
//	                               #     api_key_env: VLLM_KEY, candidate_dir: serve/current,
//	                               #     reload_command: ./reload.sh, reload_timeout: 10m, parallel: 8}
//	storage: results/toy.db        # default results/<name>.db; or a postgres:// DSN
//	work_dir: work/toy             # default work/<name>
//	keep_best: 2                   # merged models kept on disk (default 1)
//	seed: 0                        # merge seed (DARE, DELLA)
//	heartbeat: 10s                 # how often a running trial says it is alive
//	stale_after: 2m                # when a silent running trial is declared dead
//
// Scopes: global (one value, for a global method parameter), per_model (one
// value per model), shared (one value given to every model), per_layer (K
// knots interpolated over the layers as a mergekit gradient list; for a
// per-model parameter each model gets its own K knots).
//
// Every validation error is an *Error naming the file, the field and the
// offending value.
package study

import (
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

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval/backends"
	"github.com/mergetune/mergetune/eval/ollama"
	"github.com/mergetune/mergetune/merge/methods"
	"github.com/mergetune/mergetune/results/dsn"
	"github.com/mergetune/mergetune/search/optim"
)

// Error is a study-file validation error.
type Error struct {
	File  string // the study file
	Field string // the field path, e.g. "space.lambda.low"
	Value string // the offending value as written ("" when missing)
	Msg   string // what is wrong
}

// Error renders the error as `file: field: value "v": msg`.
func (e *Error) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s: %s", e.File, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s: value %q: %s", e.File, e.Field, e.Value, e.Msg)
}

// Scopes of a searched parameter.
const (
	ScopeGlobal   = "global"
	ScopePerModel = "per_model"
	ScopeShared   = "shared"
	ScopePerLayer = "per_layer"
)

// Objectives a study may name (the samplers and pruners are those of
// package optim, the evaluators those of package eval/backends).
const (
	ObjectiveMean       = "mean"
	ObjectiveNormalized = "normalized"
)

// Model is one task model of a study.
type Model struct {
	Path  string   // absolute model directory
	Name  string   // label used in parameter names and records
	Tasks []string // tasks the model was tuned for (as written)
}

// Param is one searched parameter.
type Param struct {
	Name     string
	Type     string   // float, int or choice
	Low      float64  // float, int
	High     float64  // float, int
	Step     float64  // > 0: a stepped float or int
	Log      bool     // float only: sample on a log scale
	Choices  []string // choice only
	Scope    string
	Knots    int  // per_layer only
	PerModel bool // the method parameter is resolved per model
}

// Study is a validated study file, with its tasks loaded.
type Study struct {
	File        string // the study file path
	Name        string
	BaseModel   string // absolute
	Models      []Model
	Methods     []string
	Fixed       map[string]any // fixed parameters: float64, bool or []float64
	Dtype       string
	Space       []Param // sorted by name
	Tune        []*datasets.Task
	Holdout     []*datasets.Task
	Limit       int
	Objective   string
	Weights     map[string]float64 // task name → weight (1 when absent)
	Sampler     string
	SamplerSeed int64
	Trials      int
	Workers     int
	Pruner      string
	Chunks      int // pruner steps: the tune set is scored in this many chunks
	Startup     int // median pruner: complete trials before it prunes
	Evaluator   string
	Hosts       []string // ollama hosts; worker i uses Hosts[i%len]
	Parallel    int
	Quantize    string
	OpenAI      OpenAIEvaluator // the openai evaluator's settings
	Storage     string          // absolute SQLite path, or a PostgreSQL DSN
	WorkDir     string          // absolute
	KeepBest    int
	Seed        uint64
	Heartbeat   time.Duration
	StaleAfter  time.Duration
}

// OpenAIEvaluator is the setting of an evaluator of type openai: a
// server with an OpenAI-compatible completions API (see package
// eval/openai).
type OpenAIEvaluator struct {
	BaseURL       string        // base_url
	Model         string        // model: the served name
	APIKeyEnv     string        // api_key_env
	CandidateDir  string        // candidate_dir (absolute; relative to the study file)
	ReloadCommand string        // reload_command
	ReloadTimeout time.Duration // reload_timeout (0: the backend's default)
}

// Postgres reports whether the storage is a PostgreSQL DSN.
func (s *Study) Postgres() bool { return IsPostgres(s.Storage) }

// IsPostgres reports whether a storage string is a PostgreSQL DSN.
func IsPostgres(storage string) bool { return dsn.IsPostgres(storage) }

// file mirrors the YAML document.
type file struct {
	Name       string         `yaml:"name"`
	BaseModel  string         `yaml:"base_model"`
	Models     []fileModel    `yaml:"models"`
	Method     yaml.Node      `yaml:"method"`
	Parameters map[string]any `yaml:"parameters"`
	Dtype      string         `yaml:"dtype"`
	Space      yaml.Node      `yaml:"space"`
	Tasks      []string       `yaml:"tasks"`
	Holdout    []string       `yaml:"holdout"`
	Limit      int            `yaml:"limit"`
	Objective  yaml.Node      `yaml:"objective"`
	Sampler    yaml.Node      `yaml:"sampler"`
	Trials     int            `yaml:"trials"`
	Workers    int            `yaml:"workers"`
	Pruner     yaml.Node      `yaml:"pruner"`
	Evaluator  yaml.Node      `yaml:"evaluator"`
	Storage    string         `yaml:"storage"`
	WorkDir    string         `yaml:"work_dir"`
	KeepBest   *int           `yaml:"keep_best"`
	Seed       uint64         `yaml:"seed"`
	Heartbeat  string         `yaml:"heartbeat"`
	StaleAfter string         `yaml:"stale_after"`
}

type fileModel struct {
	Model string   `yaml:"model"`
	Name  string   `yaml:"name"`
	Tasks []string `yaml:"tasks"`
}

type fileParam struct {
	Type    string   `yaml:"type"`
	Low     *float64 `yaml:"low"`
	High    *float64 `yaml:"high"`
	Step    float64  `yaml:"step"`
	Log     bool     `yaml:"log"`
	Choices []any    `yaml:"choices"`
	Scope   string   `yaml:"scope"`
	Knots   int      `yaml:"knots"`
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

// Parse validates a study file's contents; path names the file in errors
// and anchors its relative paths.
func Parse(data []byte, path string) (*Study, error) {
	p := &parser{file: path, dir: filepath.Dir(path)}
	// Aliases are bounded before any decode: fields decoded as yaml.Node
	// (method, space, objective, ...) escape yaml.v3's own alias check.
	if err := yamllimit.CheckBytes(data); err != nil {
		return nil, &Error{File: path, Field: "(document)", Msg: err.Error()}
	}
	var f file
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
		msg = strings.ReplaceAll(msg, " not found in type study.file", " is not a study field")
		return nil, &Error{File: path, Field: "(document)", Msg: msg}
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

func (p *parser) study(f *file) (*Study, error) {
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
	if err := p.evaluator(f, s); err != nil {
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
	s.WorkDir = p.abs(cmpOr(f.WorkDir, filepath.Join("work", s.Name)))
	s.KeepBest = 1
	if f.KeepBest != nil {
		if *f.KeepBest < 0 {
			return nil, p.errf("keep_best", strconv.Itoa(*f.KeepBest), "must be 0 or more")
		}
		s.KeepBest = *f.KeepBest
	}
	s.Seed = f.Seed
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

func (p *parser) methods(f *file, s *Study) error {
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

func (p *parser) space(f *file, s *Study, reg methods.Registry) error {
	n := &f.Space
	if n.Kind == 0 {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return p.errf("space", "", "want a mapping of parameter names to ranges")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name := n.Content[i].Value
		field := "space." + name
		var fp fileParam
		dec := n.Content[i+1]
		if dec.Kind != yaml.MappingNode {
			return p.errf(field, "", "want a mapping such as {type: float, low: 0, high: 1}")
		}
		if err := checkKeys(dec, "type", "low", "high", "step", "log", "choices", "scope", "knots"); err != "" {
			return p.errf(field+"."+err, "", "unknown field; known: type, low, high, step, log, choices, scope, knots")
		}
		if err := dec.Decode(&fp); err != nil {
			return p.errf(field, "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		def, ok := paramDef(reg, s.Methods, name)
		if !ok && name != "method" {
			return p.errf(field, "", "no method of %s takes this parameter", strings.Join(s.Methods, ", "))
		}
		if name == "method" {
			return p.errf(field, "", "list the methods under method: to search over them")
		}
		if _, fixed := f.Parameters[name]; fixed {
			return p.errf(field, "", "also fixed under parameters; keep one")
		}
		prm := Param{Name: name, Type: fp.Type, Step: fp.Step, Log: fp.Log, Scope: fp.Scope, Knots: fp.Knots, PerModel: def.PerModel}
		switch fp.Type {
		case "float", "int":
			if fp.Low == nil || fp.High == nil {
				return p.errf(field+".low", "", "a %s needs low and high", fp.Type)
			}
			prm.Low, prm.High = *fp.Low, *fp.High
			if !(prm.Low < prm.High) {
				return p.errf(field+".high", fmtNum(prm.High), "must be above low (%s)", fmtNum(prm.Low))
			}
			if fp.Type == "int" && (prm.Low != math.Trunc(prm.Low) || prm.High != math.Trunc(prm.High)) {
				return p.errf(field+".low", fmtNum(prm.Low), "an int range needs whole bounds")
			}
			if fp.Log && fp.Type == "int" {
				return p.errf(field+".log", "true", "log scale is for floats only")
			}
			if fp.Log && prm.Low <= 0 {
				return p.errf(field+".low", fmtNum(prm.Low), "a log-scale range must be above 0")
			}
			if fp.Log && fp.Step != 0 {
				return p.errf(field+".step", fmtNum(fp.Step), "a log-scale range cannot be stepped")
			}
			if fp.Step < 0 || (fp.Type == "int" && fp.Step != math.Trunc(fp.Step)) {
				return p.errf(field+".step", fmtNum(fp.Step), "want a positive step (whole for an int)")
			}
			if len(fp.Choices) > 0 {
				return p.errf(field+".choices", "", "only a choice has choices")
			}
		case "choice":
			if len(fp.Choices) == 0 {
				return p.errf(field+".choices", "", "a choice needs a non-empty list of choices")
			}
			for j, c := range fp.Choices {
				v, err := fixedValue(c)
				if _, isList := v.([]float64); err != nil || isList {
					return p.errf(fmt.Sprintf("%s.choices[%d]", field, j), fmt.Sprint(c), "want a number or a boolean")
				}
				prm.Choices = append(prm.Choices, fmt.Sprint(c))
			}
			if fp.Low != nil || fp.High != nil || fp.Log || fp.Step != 0 {
				return p.errf(field+".type", "choice", "a choice takes choices, not low/high/log/step")
			}
		case "":
			return p.errf(field+".type", "", "required: float, int or choice")
		default:
			return p.errf(field+".type", fp.Type, "want float, int or choice")
		}
		if prm.Scope == "" {
			prm.Scope = ScopeGlobal
			if def.PerModel {
				prm.Scope = ScopeShared
			}
		}
		switch prm.Scope {
		case ScopeGlobal:
			if def.PerModel {
				return p.errf(field+".scope", prm.Scope, "%s is a per-model parameter: use per_model, shared or per_layer", name)
			}
		case ScopePerModel, ScopeShared:
			if !def.PerModel {
				return p.errf(field+".scope", prm.Scope, "%s is a global parameter: use global or per_layer", name)
			}
		case ScopePerLayer:
			if prm.Knots == 0 {
				prm.Knots = 3
			}
			if prm.Knots < 2 {
				return p.errf(field+".knots", strconv.Itoa(prm.Knots), "per_layer needs at least 2 knots")
			}
		default:
			return p.errf(field+".scope", prm.Scope, "want global, per_model, shared or per_layer")
		}
		if prm.Scope != ScopePerLayer && fp.Knots != 0 {
			return p.errf(field+".knots", strconv.Itoa(fp.Knots), "knots are for scope per_layer")
		}
		s.Space = append(s.Space, prm)
	}
	sort.Slice(s.Space, func(a, b int) bool { return s.Space[a].Name < s.Space[b].Name })
	return nil
}

func (p *parser) tasks(f *file, s *Study) error {
	if len(f.Tasks) == 0 {
		return p.errf("tasks", "", "at least one tune task is required")
	}
	names := map[string]string{}
	load := func(field, spec, role string) ([]*datasets.Task, error) {
		var ts []*datasets.Task
		if strings.HasPrefix(spec, "toy:") || slices.Contains(datasets.BuiltinNames(), spec) {
			t, err := datasets.Builtin(spec, "", s.Limit)
			if err != nil {
				return nil, p.errf(field, spec, "%v", err)
			}
			ts = []*datasets.Task{t}
		} else {
			if err := checkTaskPath(p.abs(spec)); err != nil {
				return nil, p.errf(field, spec, "%v", err)
			}
			all, err := datasets.LoadAll(p.abs(spec))
			if err != nil {
				return nil, p.errf(field, spec, "%v", err)
			}
			ts = all
		}
		for _, t := range ts {
			if role == datasets.SplitTune && t.Split != datasets.SplitTune {
				return nil, p.errf(field, spec, "task %s is a %s split; tune on a tune split (toy:<task>@tune, split: tune in the task file, or FILE@tune for a file with split: {holdout: F, seed: S})", t.Name, t.Split)
			}
			if prev, dup := names[t.Name]; dup {
				return nil, p.errf(field, spec, "task %s is already listed (%s)", t.Name, prev)
			}
			names[t.Name] = field
			if s.Limit > 0 && len(t.Items) > s.Limit {
				t.Items = t.Items[:s.Limit]
			}
			if len(t.Items) == 0 {
				return nil, p.errf(field, spec, "task %s has no items", t.Name)
			}
			t.Split = role
		}
		return ts, nil
	}
	for i, spec := range f.Tasks {
		ts, err := load(fmt.Sprintf("tasks[%d]", i), spec, datasets.SplitTune)
		if err != nil {
			return err
		}
		s.Tune = append(s.Tune, ts...)
	}
	for i, spec := range f.Holdout {
		ts, err := load(fmt.Sprintf("holdout[%d]", i), spec, datasets.SplitHoldout)
		if err != nil {
			return err
		}
		s.Holdout = append(s.Holdout, ts...)
	}
	for i, m := range s.Models {
		for j, tag := range m.Tasks {
			if s.TaskModel(tag) == "" && !s.knownTag(tag) {
				return p.errf(fmt.Sprintf("models[%d].tasks[%d]", i, j), tag, "matches no task of tasks or holdout")
			}
		}
	}
	return nil
}

// MaxLimit bounds a study's limit (items per task; 0 keeps all): a
// built-in toy task generates that many distinct items, which takes
// seconds at this bound and would take hours at millions.
const MaxLimit = 10000

// checkTaskPath refuses a task path that is neither a regular file nor a
// directory (a FIFO, a device such as /dev/zero), which reading would
// block on or never finish. A missing path is left to the task loader's
// own message.
func checkTaskPath(path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().IsRegular() || fi.IsDir() {
		return nil
	}
	return fmt.Errorf("%s is not a regular file or directory (%s)", path, fi.Mode().Type())
}

// TaskKey is a task's short name: "toy:swapcase@tune" → "swapcase"; a part
// of a split task file, "gsm8k@tune" or "gsm8k@holdout", → "gsm8k"; other
// names are unchanged.
func TaskKey(name string) string {
	k := strings.TrimPrefix(name, "toy:")
	if i := strings.IndexByte(k, '@'); i >= 0 && strings.HasPrefix(name, "toy:") {
		k = k[:i]
	}
	for _, part := range []string{datasets.SplitTune, datasets.SplitHoldout} {
		if base, ok := strings.CutSuffix(k, "@"+part); ok && base != "" {
			return base
		}
	}
	return k
}

func (s *Study) knownTag(tag string) bool {
	for _, t := range append(append([]*datasets.Task{}, s.Tune...), s.Holdout...) {
		if t.Name == tag || TaskKey(t.Name) == tag {
			return true
		}
	}
	return false
}

// TaskModel returns the name of the model tagged with the task (by its
// full name or TaskKey), or "" when no model is.
func (s *Study) TaskModel(task string) string {
	for _, m := range s.Models {
		for _, tag := range m.Tasks {
			if tag == task || tag == TaskKey(task) {
				return m.Name
			}
		}
	}
	return ""
}

func (p *parser) objective(f *file, s *Study) error {
	n := &f.Objective
	s.Objective = ObjectiveMean
	switch n.Kind {
	case 0:
	case yaml.ScalarNode:
		s.Objective = n.Value
	case yaml.MappingNode:
		if k := checkKeys(n, "type", "weights"); k != "" {
			return p.errf("objective."+k, "", "unknown field; known: type, weights")
		}
		var o struct {
			Type    string             `yaml:"type"`
			Weights map[string]float64 `yaml:"weights"`
		}
		if err := n.Decode(&o); err != nil {
			return p.errf("objective", "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		s.Objective = cmpOr(o.Type, ObjectiveMean)
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
	default:
		return p.errf("objective", "", "want mean, normalized or {type, weights}")
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

func (p *parser) sampler(f *file, s *Study) error {
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
		s.Sampler = cmpOr(o.Type, optim.DefaultSampler)
		s.SamplerSeed = o.Seed
	default:
		return p.errf("sampler", "", "want one of %s, or {type, seed}", strings.Join(optim.Samplers().Names(), ", "))
	}
	samplers := optim.Samplers()
	e, err := samplers.Lookup(s.Sampler)
	if err != nil {
		return p.errf("sampler.type", s.Sampler, "unknown sampler; known: %s", strings.Join(samplers.Names(), ", "))
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

func (p *parser) pruner(f *file, s *Study) error {
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
		s.Pruner = cmpOr(o.Type, optim.NoPruner)
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

func (p *parser) evaluator(f *file, s *Study) error {
	n := &f.Evaluator
	s.Evaluator = backends.Builtin
	s.Parallel = 2
	known := "type, host, hosts, parallel, quantize, base_url, model, api_key_env, candidate_dir, reload_command, reload_timeout"
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
		s.Evaluator = cmpOr(o.Type, backends.Builtin)
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
				return p.errf("evaluator.type", s.Evaluator, "%s is a setting of the %s evaluator; %s takes %s", k, name, s.Evaluator, cmpOr(strings.Join(d.Settings, ", "), "only parallel"))
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
	return backends.Config{Parallel: s.Parallel, Host: host, Quantize: s.Quantize, NamePrefix: "mergetune-" + s.Name,
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

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// LoadTasks loads a task spec as a study does: a built-in toy task
// ("toy:swapcase", "toy:swapcase@tune"), a built-in task on a public file
// ("gsm8k", a holdout task), or a task or task-set file (relative to dir;
// "x.yml@tune" for a part of a split file), each cut to limit items (0:
// all; a task file's own limit, when smaller, wins).
func LoadTasks(spec, dir string, limit int) ([]*datasets.Task, error) {
	var ts []*datasets.Task
	if strings.HasPrefix(spec, "toy:") || slices.Contains(datasets.BuiltinNames(), spec) {
		t, err := datasets.Builtin(spec, "", limit)
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", spec, err)
		}
		ts = []*datasets.Task{t}
	} else {
		p := spec
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := checkTaskPath(p); err != nil {
			return nil, fmt.Errorf("task %s: %w", spec, err)
		}
		all, err := datasets.LoadAll(p)
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", spec, err)
		}
		ts = all
	}
	for _, t := range ts {
		if limit > 0 && len(t.Items) > limit {
			t.Items = t.Items[:limit]
		}
	}
	return ts, nil
}
