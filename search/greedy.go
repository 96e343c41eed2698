package search

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/study"
)

// A greedy soup study (study.SearchGreedySoup, Model Soups' recipe 1) runs
// one trial per model: the models are sorted by their own objective on the
// tune tasks (their baselines), best first; step 0 is the best model
// alone, step k the soup so far plus model k. A step is kept when its
// objective is at least the soup's so far (the paper's ≥), dropped
// otherwise. The steps are replayed from the complete trials in number
// order, so a stopped study resumes where it was.

// soupOrder returns the study's model indices sorted by each model's own
// objective on the tune tasks (from its recorded baselines), best first;
// ties keep the file's order.
func (h *harness) soupOrder(ctx context.Context) ([]int, []float64, error) {
	return SoupOrder(ctx, h.s, h.st.Results)
}

// SoupOrder returns the models of a greedy soup study in the order the
// soup tries them (model indices) and each one's own objective on the
// tune tasks, read from the study's recorded baselines.
func SoupOrder(ctx context.Context, s *study.Study, db *results.DB) ([]int, []float64, error) {
	score := make([]float64, len(s.Models))
	for i, m := range s.Models {
		accs := make([]eval.TaskAccuracy, len(s.Tune))
		for j, t := range s.Tune {
			b, ok, err := db.Baseline(ctx, s.Name, m.Name, t.Name)
			if err != nil {
				return nil, nil, fmt.Errorf("search: study %s: baseline of %s on %s: %w", s.Name, m.Name, t.Name, err)
			}
			if !ok {
				return nil, nil, fmt.Errorf("search: study %s: greedy soup: no baseline of %s on %s yet", s.Name, m.Name, t.Name)
			}
			accs[j] = eval.TaskAccuracy{Task: t.Name, Accuracy: b.Accuracy}
		}
		v, err := Scoring(s, eval.BaselineDB(db, s.Name)).Objective(ctx, accs)
		if err != nil {
			return nil, nil, fmt.Errorf("search: study %s: objective of %s: %w", s.Name, m.Name, err)
		}
		score[i] = v
	}
	order := make([]int, len(s.Models))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(score[b], score[a]) })
	sorted := make([]float64, len(order))
	for i, m := range order {
		sorted[i] = score[m]
	}
	return order, sorted, nil
}

// SoupStep is one step of a greedy soup as its trial recorded it.
type SoupStep struct {
	Trial     int     // the trial's number
	Added     int     // the model tried (index into the study's models)
	Objective float64 // the soup's objective with it
	Kept      bool    // the model stayed in the soup
	Soup      []int   // the soup after the step (model indices, in order added)
}

// SoupSteps replays the steps of a greedy soup from its trial records
// (complete trials in number order; order from SoupOrder).
func SoupSteps(order []int, recs []results.TrialRecord) []SoupStep {
	var done []results.TrialRecord
	for _, r := range recs {
		if r.State == results.TrialComplete && r.Objective != nil {
			done = append(done, r)
		}
	}
	slices.SortFunc(done, func(a, b results.TrialRecord) int { return cmp.Compare(a.Number, b.Number) })
	var steps []SoupStep
	var soup []int
	best := 0.0
	for k, r := range done {
		if k >= len(order) {
			break
		}
		st := SoupStep{Trial: r.Number, Added: order[k], Objective: *r.Objective}
		if k == 0 || st.Objective >= best {
			soup = append(slices.Clone(soup), order[k])
			best, st.Kept = st.Objective, true
		}
		st.Soup = soup
		steps = append(steps, st)
	}
	return steps
}

// greedy runs a greedy soup study's remaining steps, one at a time.
func (h *harness) greedy(ctx context.Context) error {
	order, _, err := h.soupOrder(ctx)
	if err != nil {
		return err
	}
	gs, err := h.st.loadStudy(ctx, h.s)
	if err != nil {
		return err
	}
	be, host, err := h.backend(ctx, 0)
	if err != nil {
		return err
	}
	w := &worker{h: h, be: be, host: host, name: fmt.Sprintf("%s/%d/0", h.host, os.Getpid()), ctx: ctx}
	for ctx.Err() == nil {
		if err := h.reap(ctx); err != nil {
			return err
		}
		trials, err := h.st.Storage.GetAllTrials(h.st.StudyID)
		if err != nil {
			return fmt.Errorf("search: study %s: list trials: %w", h.s.Name, err)
		}
		if countTrials(trials).counted >= h.s.Trials {
			return nil
		}
		recs, err := h.st.Results.Trials(ctx, h.s.Name)
		if err != nil {
			return fmt.Errorf("search: study %s: list records: %w", h.s.Name, err)
		}
		steps := SoupSteps(order, recs)
		k := len(steps)
		if k >= len(order) {
			return nil
		}
		var soup []int
		if k > 0 {
			soup = steps[k-1].Soup
		}
		w.soup = append(slices.Clone(soup), order[k])
		w.soupNote = fmt.Sprintf("greedy soup step %d of %d: %s + %s", k+1, len(order), h.soupNames(soup), h.s.Models[order[k]].Name)
		if err := gs.Optimize(w.objective, 1); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("search: study %s: %w", h.s.Name, err)
		}
	}
	return nil
}

// soupNames renders a soup's model names, [a b].
func (h *harness) soupNames(soup []int) string {
	names := make([]string, len(soup))
	for i, m := range soup {
		names[i] = h.s.Models[m].Name
	}
	return "[" + strings.Join(names, " ") + "]"
}

// bestOf returns a study's best trial: the complete trial with the
// highest objective (BestTrial), except for a greedy soup, whose best is
// its final soup, the last step kept: kept steps never lose score and a
// dropped step scores below the soup it was tried on, so the final soup
// is the last trial of the highest objective (results.FinalBestTrial; a
// later step that ties an earlier soup's score was kept).
func bestOf(ctx context.Context, s *study.Study, db *results.DB) (*results.TrialRecord, error) {
	if s.Search != study.SearchGreedySoup {
		return BestTrial(ctx, db, s.Name)
	}
	recs, err := db.Trials(ctx, s.Name)
	if err != nil {
		return nil, fmt.Errorf("search: study %s: list records: %w", s.Name, err)
	}
	best, ok := results.FinalBestTrial(recs)
	if !ok {
		return nil, nil
	}
	return &best, nil
}

// soupNotes says, for each step of a greedy soup study, what became of
// the model it tried (status's NOTE column).
func soupNotes(ctx context.Context, s *study.Study, db *results.DB, recs []results.TrialRecord) (map[int]string, error) {
	if _, ok := results.BestTrial(recs); !ok {
		return nil, nil
	}
	order, _, err := SoupOrder(ctx, s, db)
	if err != nil {
		return nil, err
	}
	notes := map[int]string{}
	for k, st := range SoupSteps(order, recs) {
		verb := "dropped"
		if st.Kept {
			verb = "kept"
		}
		notes[st.Trial] = fmt.Sprintf("step %d: +%s %s, soup of %d", k+1, s.Models[st.Added].Name, verb, len(st.Soup))
	}
	return notes, nil
}
