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
//	search: sample                 # or greedy_soup (Model Soups' recipe; method linear, no space)
//	method: breadcrumbs            # or a list, searched as a categorical
//	parameters: {normalize: false} # fixed parameters (global or per-model)
//	dtype: bfloat16
//	space:
//	  lambda:  {type: float, low: 0.1, high: 1.5}                # scope global
//	  weight:  {type: float, low: 0.2, high: 1, scope: per_model}
//	  density: {type: float, low: 0.5, high: 1, scope: shared}
//	  gamma:   {type: float, low: 0.001, high: 0.05, log: true, scope: per_layer, knots: 3}
//	  # start: the first trial's value (default: the method's start value)
//	  # lambda: {type: float, low: 0.01, high: 1, start: 0.2}
//	tasks: [toy:swapcase@tune, toy:rot1@tune, tasks/my-task.yml]
//	holdout: [toy:swapcase, toy:rot1]
//	limit: 30                      # items per task (0: all; at most MaxLimit); a task file's smaller limit wins
//	objective: {type: normalized, weights: {toy:rot1@tune: 2}}   # or: mean
//	# objective: {type: normalized, transfer: {sizes: [k/2, k], subsets: 3, seed: 1}}: score each
//	#   candidate on random subsets of the models at several sizes (see Transfer)
//	sampler: {type: tpe, seed: 1}  # tpe (default), cmaes, random, sobol, grid (see package optim)
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
//	confirm: {top: 3, items: 0}    # before freezing, re-score the 3 best trials on 0 (all) tune items each
//
// A float or int range written without low and high gets the range the
// method suggests for the parameter (merge/methods declares it with the
// parameter), e.g. gamma: {type: float} searches 0.001 to 0.05 on a log
// scale for breadcrumbs.
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
	"fmt"
	"time"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/results/dsn"
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
	ObjectiveMean       = eval.ObjectiveMean
	ObjectiveNormalized = eval.ObjectiveNormalized
)

// Search modes: how a study proposes its trials (search: in the file).
const (
	// SearchSample samples the space with the study's sampler (the
	// default).
	SearchSample = "sample"
	// SearchGreedySoup is Model Soups' greedy soup (Wortsman et al.,
	// arXiv 2203.05482, recipe 1): the models, sorted by their own score
	// on the tune tasks, are added one by one to a uniform average, each
	// kept only if the soup's tune score does not drop. Each step is a
	// trial; the last soup kept is the best trial.
	SearchGreedySoup = results.SearchGreedySoup
)

// Mode is one search mode a study file may name.
type Mode struct {
	Name string
	Help string // one line, for messages and the README
}

// Modes returns the search modes by name, built afresh on each call.
func Modes() map[string]Mode {
	return map[string]Mode{
		SearchSample:     {SearchSample, "sample the space with the study's sampler (default)"},
		SearchGreedySoup: {SearchGreedySoup, "Model Soups' greedy soup: add the models, best first, to a uniform average while its tune score does not drop"},
	}
}

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
	// Start is the value the study's first trial gives the parameter
	// (start: in its space entry); nil: the method's start value
	// (methods.ParamDef.StartValue). Left out of the definition's JSON
	// when nil, so studies written before it keep their definition.
	Start *float64 `json:",omitempty"`
}

// Study is a validated study file, with its tasks loaded.
type Study struct {
	File      string // the study file path
	Name      string
	Search    string // search mode: SearchSample or SearchGreedySoup
	BaseModel string // absolute
	Models    []Model
	Methods   []string
	Fixed     map[string]any // fixed parameters: float64, bool or []float64
	Dtype     string
	Space     []Param // sorted by name
	Tune      []*datasets.Task
	Holdout   []*datasets.Task
	Limit     int
	Objective string
	Weights   map[string]float64 // task name → weight (1 when absent)
	// Confirm, when set, re-scores the best trials on more items before
	// freezing (confirm:; see Confirm).
	Confirm *Confirm
	// Transfer, when set, makes the objective extension-aware
	// (objective.transfer; see Transfer).
	Transfer    *Transfer
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
	ModelsDir   string          // evaluator.models_dir of an ollama evaluator (absolute; relative to the study file; "-": none)
	NoStream    bool            // evaluator.stream: false: an ollama evaluator uploads a candidate after its merge
	OpenAI      OpenAIEvaluator // the openai evaluator's settings
	Storage     string          // absolute SQLite path, or a PostgreSQL DSN
	WorkDir     string          // absolute
	KeepBest    int
	Seed        uint64
	Heartbeat   time.Duration
	StaleAfter  time.Duration
}

// Confirm is a study's confirmation before freezing (confirm: in the
// study file): the Top trials by tune objective are re-scored on Items
// items per tune task (0: the whole tune split), and the one with the best
// confirmed score is frozen. It is not part of the definition: it changes
// no trial's value.
type Confirm struct {
	Top   int
	Items int
}

// DefaultConfirmTop is confirm.top when left out.
const DefaultConfirmTop = 3

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
