package study

import (
	"fmt"

	"github.com/mergetune/mergetune/datasets"
)

func (p *parser) tasks(f *File, s *Study) error {
	if len(f.Tasks) == 0 {
		return p.errf("tasks", "", "at least one tune task is required")
	}
	names := map[string]string{}
	load := func(field, spec, role string) ([]*datasets.Task, error) {
		ts, err := datasets.Resolve(spec, p.abs("."), "", 0)
		if err != nil {
			return nil, p.errf(field, spec, "%v", err)
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

// TaskKey is a task's short name (datasets.TaskKey).
func TaskKey(name string) string { return datasets.TaskKey(name) }

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

// LoadTasks loads a task spec as a study does (datasets.Resolve, relative
// to dir, built-in files from the copies built into mergetune), each cut
// to limit items (0: all).
func LoadTasks(spec, dir string, limit int) ([]*datasets.Task, error) {
	ts, err := datasets.Resolve(spec, dir, "", limit)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", spec, err)
	}
	return ts, nil
}
