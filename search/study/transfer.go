package study

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mergetune/mergetune/datasets"
)

// Transfer is a study's extension-aware objective (objective.transfer in
// the study file): each candidate is merged over random subsets of the
// study's task models at several sizes, each subset scored on its models'
// tune tasks by the study's objective, and the trial's objective is the
// mean of those scores, so the winner is a setting that holds at other
// numbers of models rather than one fitted to the study's count.
//
//	objective:
//	  type: normalized
//	  transfer:
//	    sizes: [k/2, k]   # numbers of models merged: integers, k (the study's models) or k/D
//	    subsets: 3        # random subsets per size (default 3; fewer exist at k: one)
//	    seed: 1           # draws the subsets, the same for every trial (default 0)
//	    rule: fixed       # scale rule giving the candidate's λ to n of k models (fixed, mean, sqrt)
type Transfer struct {
	// Sizes are the numbers of models merged, ascending, each 1 to the
	// number of the study's models.
	Sizes []int
	// Subsets is the number of random subsets drawn at each size.
	Subsets int
	// Seed draws the subsets.
	Seed uint64
	// Rule is the scale rule (package search's ScaleRules) by which the
	// candidate's λ, tuned for all k models, is given to a subset of n;
	// "" is fixed. Package search checks it when the study runs.
	Rule string
}

// DefaultTransferSubsets is objective.transfer.subsets when left out.
const DefaultTransferSubsets = 3

// maxTransferSubsets bounds objective.transfer.subsets: each subset is a
// merge and an evaluation per trial.
const maxTransferSubsets = 100

// transfer parses objective.transfer; the study's models and tune tasks
// are known.
func (p *parser) transfer(n *yaml.Node, s *Study) error {
	const field = "objective.transfer"
	if n.Kind != yaml.MappingNode {
		return p.errf(field, "", "want {sizes, subsets, seed, rule}")
	}
	if k := checkKeys(n, "sizes", "subsets", "seed", "rule"); k != "" {
		return p.errf(field+"."+k, "", "unknown field; known: sizes, subsets, seed, rule")
	}
	var o struct {
		Sizes   []string `yaml:"sizes"`
		Subsets *int     `yaml:"subsets"`
		Seed    uint64   `yaml:"seed"`
		Rule    string   `yaml:"rule"`
	}
	if err := n.Decode(&o); err != nil {
		return p.errf(field, "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	k := len(s.Models)
	t := &Transfer{Subsets: DefaultTransferSubsets, Seed: o.Seed, Rule: o.Rule}
	if len(o.Sizes) == 0 {
		return p.errf(field+".sizes", "", "required: the numbers of models to merge, e.g. [k/2, k]")
	}
	for i, v := range o.Sizes {
		f := fmt.Sprintf("%s.sizes[%d]", field, i)
		size, err := transferSize(v, k)
		if err != nil {
			return p.errf(f, v, "%v", err)
		}
		if size < 1 || size > k {
			return p.errf(f, v, "is %d: want 1 to the study's %d models", size, k)
		}
		if slices.Contains(t.Sizes, size) {
			return p.errf(f, v, "size %d is listed twice", size)
		}
		t.Sizes = append(t.Sizes, size)
	}
	slices.Sort(t.Sizes)
	if o.Subsets != nil {
		if *o.Subsets < 1 || *o.Subsets > maxTransferSubsets {
			return p.errf(field+".subsets", strconv.Itoa(*o.Subsets), "want 1 to %d subsets per size", maxTransferSubsets)
		}
		t.Subsets = *o.Subsets
	}
	for _, tk := range s.Tune {
		if s.TaskModel(tk.Name) == "" {
			return p.errf(field, "", "each subset is scored on its models' tasks: tag a model with tune task %s (tasks: [%s])", tk.Name, TaskKey(tk.Name))
		}
	}
	for i, m := range s.Models {
		if len(s.modelTune(m.Name)) == 0 {
			return p.errf(fmt.Sprintf("models[%d].tasks", i), strings.Join(m.Tasks, ","), "objective.transfer scores a subset on its models' tune tasks: this model has none")
		}
	}
	s.Transfer = t
	return nil
}

// transferSize reads one of objective.transfer.sizes: an integer, k (the
// study's models) or k/D (rounded down).
func transferSize(v string, k int) (int, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil {
		return n, nil
	}
	if v == "k" {
		return k, nil
	}
	if d, ok := strings.CutPrefix(v, "k/"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 1 {
			return k / n, nil
		}
	}
	return 0, fmt.Errorf("want an integer, k (the study's models) or k/D")
}

// modelTune returns the tune tasks of the model named name.
func (s *Study) modelTune(name string) []string {
	var out []string
	for _, t := range s.Tune {
		if s.TaskModel(t.Name) == name {
			out = append(out, t.Name)
		}
	}
	return out
}

// TransferTasks returns the tune tasks of the models at the given indices
// of s.Models: the tasks a transfer subset is scored on, in the study's
// task order.
func (s *Study) TransferTasks(members []int) []*datasets.Task {
	in := map[string]bool{}
	for _, i := range members {
		in[s.Models[i].Name] = true
	}
	var out []*datasets.Task
	for _, t := range s.Tune {
		if in[s.TaskModel(t.Name)] {
			out = append(out, t)
		}
	}
	return out
}
