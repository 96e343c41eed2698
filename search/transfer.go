package search

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/merge"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/study"
)

// AttrTransferPrefix starts the trial user attribute of each subset the
// transfer objective scored (objective.transfer): the key is
// "transfer:SIZE:SUBSET", the value the JSON of a TransferScore.
const AttrTransferPrefix = "transfer:"

// TransferSubset is one subset of a study's task models the transfer
// objective merges each candidate over.
type TransferSubset struct {
	Size    int   // models merged
	Index   int   // 1 to the subsets drawn at this size
	Members []int // indices into the study's models, ascending
}

// TransferScore is one subset's score in a trial: its members (the
// models' names) and the study's objective on their tune tasks.
type TransferScore struct {
	Size    int      `json:"size"`
	Subset  int      `json:"subset"`
	Members []string `json:"members"`
	Factor  float64  `json:"factor"`
	Score   float64  `json:"score"`
}

// TransferSubsets returns the subsets the study's transfer objective
// scores every candidate on: at each size, Subsets random subsets of the
// study's models drawn with its seed (all of them when fewer exist: the
// full size has one), the same for every trial and every run.
func TransferSubsets(s *study.Study) []TransferSubset {
	t := s.Transfer
	if t == nil {
		return nil
	}
	var out []TransferSubset
	for _, k := range t.Sizes {
		for i, idx := range randomSubsets(len(s.Models), k, t.Subsets, t.Seed) {
			out = append(out, TransferSubset{Size: k, Index: i + 1, Members: idx})
		}
	}
	return out
}

// checkTransfer checks what the study package cannot: the transfer
// objective's scale rule, by the scale rules' table (a study error naming
// the file, field and value).
func checkTransfer(s *study.Study) (ScaleRule, error) {
	if s.Transfer == nil {
		return ScaleRule{}, nil
	}
	r, err := LookupScaleRule(s.Transfer.Rule)
	if err == nil && r.Refit {
		err = fmt.Errorf("scale rule %s searches its own factor; the transfer objective takes a fixed one (fixed, mean or sqrt)", r.Name)
	}
	if err != nil {
		return ScaleRule{}, &study.Error{File: s.File, Field: "objective.transfer.rule", Value: s.Transfer.Rule, Msg: err.Error()}
	}
	return r, nil
}

// subsetAssignment is the candidate a (settings for all the study's
// models) given to the models at members, its λ scaled by factor
// (scaleAssignment).
func subsetAssignment(a *study.Assignment, members []int, factor float64) (*study.Assignment, error) {
	sub := &study.Assignment{Method: a.Method, Global: maps.Clone(a.Global), Models: make([]map[string]any, len(members))}
	for i, m := range members {
		sub.Models[i] = maps.Clone(a.Models[m])
	}
	if err := scaleAssignment(sub, factor); err != nil {
		return nil, err
	}
	return sub, nil
}

// transfer scores the candidate a by the study's transfer objective: it
// merges a over each of TransferSubsets (the full set into the trial's
// directory, kept like any trial's merge; the others beside it, deleted
// after), scores each on its models' tune tasks by the study's
// objective, records each subset's score as a trial user attribute, and
// returns their mean. The full set's evaluation is tied to the trial.
func (w *worker) transfer(ctx context.Context, trial goptuna.Trial, a *study.Assignment, rec *results.TrialRecord) (float64, error) {
	h := w.h
	rule, err := checkTransfer(h.s)
	if err != nil {
		return 0, err
	}
	k := len(h.s.Models)
	subsets := TransferSubsets(h.s)
	var sum float64
	var stages results.Stages
	for _, sub := range subsets {
		ts, st, err := w.transferOne(ctx, a, rec, sub, rule.Factor(k, sub.Size))
		if err != nil {
			return 0, fmt.Errorf("transfer subset %d of %d models: %w", sub.Index, sub.Size, err)
		}
		b, err := json.Marshal(ts)
		if err != nil {
			return 0, fmt.Errorf("transfer subset %d of %d models: %w", sub.Index, sub.Size, err)
		}
		if err := h.st.Storage.SetTrialUserAttr(trial.ID, fmt.Sprintf("%s%d:%d", AttrTransferPrefix, sub.Size, sub.Index), string(b)); err != nil {
			return 0, fmt.Errorf("record transfer score: %w", err)
		}
		sum += ts.Score
		stages = addStages(stages, st)
	}
	if err := h.st.Results.UpsertTrial(ctx, *rec); err != nil {
		return 0, fmt.Errorf("record: %w", err)
	}
	if err := h.st.Results.SetTrialStages(ctx, rec.Key(), stages); err != nil {
		return 0, fmt.Errorf("record: %w", err)
	}
	return sum / float64(len(subsets)), nil
}

// transferOne merges and scores one subset.
func (w *worker) transferOne(ctx context.Context, a *study.Assignment, rec *results.TrialRecord, sub TransferSubset, factor float64) (TransferScore, results.Stages, error) {
	h := w.h
	ts := TransferScore{Size: sub.Size, Subset: sub.Index, Factor: factor}
	var paths []string
	for _, i := range sub.Members {
		paths = append(paths, h.s.Models[i].Path)
		ts.Members = append(ts.Members, h.s.Models[i].Name)
	}
	sa, err := subsetAssignment(a, sub.Members, factor)
	if err != nil {
		return ts, nil, err
	}
	d, err := sa.Document(h.s.BaseModel, paths, h.s.Dtype)
	if err != nil {
		return ts, nil, err
	}
	cfg, err := d.Config(fmt.Sprintf("%s-trial-%d-transfer-%d-%d.yml", h.s.Name, rec.Number, sub.Size, sub.Index),
		fmt.Sprintf("study %s, trial %d, transfer subset %d of %d models: %s", h.s.Name, rec.Number, sub.Index, sub.Size, strings.Join(ts.Members, ",")))
	if err != nil {
		return ts, nil, fmt.Errorf("merge config: %w", err)
	}
	full := sub.Size == len(h.s.Models)
	dir := h.trialDir(rec.Number)
	if !full {
		dir = fmt.Sprintf("%s-transfer-%d-%d", dir, sub.Size, sub.Index)
		defer os.RemoveAll(dir)
	}
	c, err := openCandidate(ctx, cfg, dir, merge.Options{Seed: h.s.Seed, Force: true, Workers: h.opt.MergeWorkers}, w.be)
	if err != nil {
		return ts, nil, err
	}
	defer c.Close()
	rec.MergeTime += c.mergeTime
	rec.ImportTime += c.openTime
	if full || rec.ModelDigest == "" {
		rec.ModelDigest = c.Digest()
	}
	t0 := time.Now()
	res, err := evalTasks(ctx, c, h.s.TransferTasks(sub.Members), eval.Options{Parallel: h.s.Parallel, Cache: eval.DBCache{DB: h.st.Results}})
	if err != nil {
		return ts, nil, err
	}
	evalTime := time.Since(t0)
	rec.EvalTime += evalTime
	if ts.Score, err = h.objectiveValue(ctx, res); err != nil {
		return ts, nil, err
	}
	var key *results.TrialKey
	if full {
		k := rec.Key()
		key = &k
	}
	if _, err := c.record(ctx, h.st.Results, w.host, res, key); err != nil {
		return ts, nil, err
	}
	return ts, c.stages(evalTime), nil
}

// addStages adds b's stage times to a's, by name, keeping a's order and
// appending stages a lacks.
func addStages(a, b results.Stages) results.Stages {
	for _, st := range b {
		found := false
		for i := range a {
			if a[i].Name == st.Name {
				a[i].Time += st.Time
				found = true
			}
		}
		if !found {
			a = append(a, st)
		}
	}
	return a
}

// TransferScores reads a trial's transfer scores from its goptuna user
// attributes (AttrTransferPrefix), by size and subset.
func TransferScores(attrs map[string]string) ([]TransferScore, error) {
	var out []TransferScore
	for k, v := range attrs {
		if !strings.HasPrefix(k, AttrTransferPrefix) {
			continue
		}
		var ts TransferScore
		if err := json.Unmarshal([]byte(v), &ts); err != nil {
			return nil, fmt.Errorf("trial attribute %s: %w", k, err)
		}
		out = append(out, ts)
	}
	slices.SortFunc(out, func(a, b TransferScore) int {
		if a.Size != b.Size {
			return a.Size - b.Size
		}
		return a.Subset - b.Subset
	})
	return out, nil
}
