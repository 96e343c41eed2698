package study

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"sort"

	"github.com/mergetune/mergetune/eval/backends"
)

// DefinitionFields are the fields of a study's definition: everything a
// trial's objective value depends on. A study whose file changes in one of
// them is a different search, and its old trials must not be mixed with
// the new ones (see search.Run). Tasks count by their content (every
// item's prompt and target), not only their names, and paths relative to
// the study file, so moving a whole checkout changes nothing.
//
// Left out, because changing them does not change what a trial's value
// means: name (the key the definition is stored under), trials and
// workers (the budget and its spending), sampler and pruner (how points
// are proposed and stopped early), holdout (scored only after the
// search), storage, work_dir, keep_best, heartbeat, stale_after, and the
// evaluator's hosts and parallel (where and how fast it evaluates; its
// type and quantize do count).
var DefinitionFields = []string{"base_model", "models", "method", "parameters", "dtype", "space", "tasks", "limit", "objective", "evaluator", "seed"}

// Definition returns the study's normalized definition: for each of
// DefinitionFields, its value as canonical JSON.
func (s *Study) Definition() map[string]string {
	dir := filepath.Dir(s.File)
	if a, err := filepath.Abs(dir); err == nil {
		dir = a
	}
	rel := func(p string) string {
		if r, err := filepath.Rel(dir, p); err == nil {
			return filepath.ToSlash(r)
		}
		return filepath.ToSlash(p)
	}
	type model struct {
		Model string   `json:"model"`
		Name  string   `json:"name"`
		Tasks []string `json:"tasks"`
	}
	models := make([]model, len(s.Models))
	for i, m := range s.Models {
		models[i] = model{Model: rel(m.Path), Name: m.Name, Tasks: m.Tasks}
	}
	type task struct {
		Name   string `json:"name"`
		Digest string `json:"digest"`
	}
	tasks := make([]task, len(s.Tune))
	for i, t := range s.Tune {
		content, _ := json.Marshal(struct {
			Items     any
			Stop      []string
			MaxTokens int
			Fewshot   int
			Scorer    string
		}{t.Items, t.Stop, t.MaxTokens, t.Fewshot, fmt.Sprintf("%T", t.Scorer)})
		sum := sha256.Sum256(content)
		tasks[i] = task{Name: t.Name, Digest: hex.EncodeToString(sum[:])}
	}
	// The backend's settings that change its answers (its Identity);
	// "quantize" is recorded, empty, for every backend, as it always was.
	evaluator := map[string]any{"type": s.Evaluator, "quantize": ""}
	if d, err := backends.All().Lookup(s.Evaluator); err == nil && d.Identity != nil {
		maps.Copy(evaluator, d.Identity(s.EvaluatorConfig(0)))
	}
	values := map[string]any{
		"base_model": rel(s.BaseModel),
		"models":     models,
		"method":     s.Methods,
		"parameters": s.Fixed,
		"dtype":      s.Dtype,
		"space":      s.Space,
		"tasks":      tasks,
		"limit":      s.Limit,
		"objective":  map[string]any{"type": s.Objective, "weights": s.Weights},
		"evaluator":  evaluator,
		"seed":       s.Seed,
	}
	// The transfer objective counts with the objective, only when set,
	// so the definitions of studies without it stay as they were.
	if s.Transfer != nil {
		values["objective"] = map[string]any{"type": s.Objective, "weights": s.Weights, "transfer": s.Transfer}
	}
	// A search mode other than sampling changes what a trial is (greedy
	// soup's steps): it counts with the method, and only when set, so
	// the definitions of sampling studies stay as they were.
	if s.Search != SearchSample && s.Search != "" {
		values["method"] = map[string]any{"search": s.Search, "method": s.Methods}
	}
	out := make(map[string]string, len(values))
	for k, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			// Every value is made of strings, numbers, booleans,
			// slices and string-keyed maps; NaN and ±Inf cannot pass
			// validation. Keep the field comparable anyway.
			b = []byte(fmt.Sprintf("%q", fmt.Sprint(v)))
		}
		out[k] = string(b)
	}
	return out
}

// DefinitionJSON returns the study's definition as one JSON object (keys
// sorted) and its hex SHA-256, the hash the records keep.
func (s *Study) DefinitionJSON() (text, hash string) {
	return EncodeDefinition(s.Definition())
}

// EncodeDefinition renders a definition as one JSON object with sorted
// keys, and its hex SHA-256.
func EncodeDefinition(def map[string]string) (text, hash string) {
	raw := make(map[string]json.RawMessage, len(def))
	for k, v := range def {
		raw[k] = json.RawMessage(v)
	}
	b, err := json.Marshal(raw) // map keys are sorted
	if err != nil {
		b, _ = json.Marshal(def)
	}
	sum := sha256.Sum256(b)
	return string(b), hex.EncodeToString(sum[:])
}

// DecodeDefinition reads a definition written by EncodeDefinition.
func DecodeDefinition(text string) (map[string]string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("study definition: %w", err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		out[k] = string(v)
	}
	return out, nil
}

// DefinitionChanges returns the fields whose values differ between two
// definitions (present in one only, or different), sorted.
func DefinitionChanges(old, cur map[string]string) []string {
	var out []string
	for k, v := range cur {
		if w, ok := old[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range old {
		if _, ok := cur[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
