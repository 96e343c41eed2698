package search

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/study"
)

// recordSettings records what the study runs with (results.StudySettings),
// so that a report of its database needs nothing else.
func (st *Store) recordSettings(ctx context.Context, s *study.Study) error {
	set, err := Settings(s)
	if err == nil {
		err = st.Results.PutStudySettings(ctx, set)
	}
	if err != nil {
		return fmt.Errorf("search: %s: %w", s.File, err)
	}
	return nil
}

// Settings are a study's settings as its records keep them: its task
// models and the model tuned for each task, its objective and task
// weights, its task names, the study file's text and a summary of every
// setting.
func Settings(s *study.Study) (results.StudySettings, error) {
	out := results.StudySettings{Study: s.Name, File: s.File, Methods: s.Methods, Objective: s.Objective,
		Weights: s.Weights, TaskModels: map[string]string{}}
	if s.Search != study.SearchSample {
		out.Search = s.Search
	}
	if s.File != "" {
		text, err := os.ReadFile(s.File)
		if err != nil {
			return out, fmt.Errorf("study settings: %w", err)
		}
		out.Text = string(text)
	}
	for _, m := range s.Models {
		out.Models = append(out.Models, results.StudyModel{Name: m.Name, Path: m.Path, Tasks: m.Tasks})
	}
	for _, t := range s.Tune {
		out.Tune = append(out.Tune, t.Name)
	}
	for _, t := range s.Holdout {
		out.Holdout = append(out.Holdout, t.Name)
	}
	for _, t := range append(append([]string{}, out.Tune...), out.Holdout...) {
		if m := s.TaskModel(t); m != "" {
			out.TaskModels[t] = m
		}
	}
	out.Summary = summary(s)
	return out, nil
}

// summary lists a study's settings for a report.
func summary(c *study.Study) []results.Setting {
	var models []string
	for _, m := range c.Models {
		models = append(models, fmt.Sprintf("%s (%s)", m.Name, strings.Join(m.Tasks, ", ")))
	}
	names := func(ts []string) string { return strings.Join(ts, ", ") }
	var tune, hold []string
	for _, t := range c.Tune {
		tune = append(tune, t.Name)
	}
	for _, t := range c.Holdout {
		hold = append(hold, t.Name)
	}
	var fixed []string
	for k, v := range c.Fixed {
		fixed = append(fixed, k+"="+fmtFixed(v))
	}
	sort.Strings(fixed)
	var space []string
	for _, p := range c.Space {
		r := fmt.Sprintf("%s: %s [%g, %g]", p.Name, p.Type, p.Low, p.High)
		if p.Type == "choice" {
			r = fmt.Sprintf("%s: choice {%s}", p.Name, strings.Join(p.Choices, ", "))
		}
		if p.Log {
			r += " log"
		}
		r += ", " + p.Scope
		space = append(space, r)
	}
	limit := "all items"
	if c.Limit > 0 {
		limit = fmt.Sprintf("%d items per task", c.Limit)
	}
	eval := c.Evaluator
	if len(c.Hosts) > 0 {
		eval += " (" + strings.Join(c.Hosts, ", ") + ")"
	}
	objective := c.Objective
	if len(c.Weights) > 0 {
		var w []string
		for t, v := range c.Weights {
			w = append(w, t+"="+strconv.FormatFloat(v, 'g', -1, 64))
		}
		sort.Strings(w)
		objective += " (weights " + strings.Join(w, ", ") + ")"
	}
	return []results.Setting{
		{Key: "study file", Value: c.File},
		{Key: "methods", Value: names(c.Methods)},
		{Key: "base model", Value: c.BaseModel},
		{Key: "task models", Value: names(models)},
		{Key: "search space", Value: strings.Join(space, "; ")},
		{Key: "fixed parameters", Value: cmp.Or(strings.Join(fixed, ", "), "none")},
		{Key: "dtype", Value: cmp.Or(c.Dtype, "as the base model")},
		{Key: "tune tasks", Value: names(tune)},
		{Key: "holdout tasks", Value: cmp.Or(names(hold), "none")},
		{Key: "items", Value: limit},
		{Key: "objective", Value: objective},
		{Key: "sampler", Value: fmt.Sprintf("%s (seed %d)", c.Sampler, c.SamplerSeed)},
		{Key: "trial budget", Value: fmt.Sprintf("%d, %d workers", c.Trials, c.Workers)},
		{Key: "pruner", Value: c.Pruner},
		{Key: "evaluator", Value: eval},
		{Key: "storage", Value: results.RedactDSN(c.Storage)},
	}
}

// fmtFixed renders a fixed parameter's value.
func fmtFixed(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', 4, 64)
	case []float64:
		parts := make([]string, len(x))
		for i, f := range x {
			parts[i] = strconv.FormatFloat(f, 'g', 3, 64)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}
