package search

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/results/dsn"
	"github.com/mergetune/mergetune/search/study"
)

// Status is a study's state as its records tell it.
type Status struct {
	Study    string
	Budget   int
	Trials   []results.TrialRecord // by number
	Complete int
	Pruned   int
	Failed   int // failures that took budget (a cause of their own)
	Returned int // failures whose budget was returned (dead worker, interrupted)
	Running  int
	Best     *results.TrialRecord
	// Notes say what each trial did, by trial number, where the search
	// mode has more to say than the record (a greedy soup's steps).
	Notes map[int]string
	// Holdout are the best trial's holdout scores, when evaluated.
	Holdout []results.TaskScore
	// Baselines are the unmerged models' scores.
	Baselines []results.Baseline
	// ETA estimates the time to spend the rest of the budget at the pace
	// of the finished trials (0 when unknown or done).
	ETA time.Duration
	// Changed is set when the study file's definition differs from the
	// one the trials were recorded with (and no study started with --new
	// matches it): the trials are not of the file as it is now.
	Changed *DefinitionError
}

// Done is the number of finished trials that took a unit of the budget.
func (s *Status) Done() int { return s.Complete + s.Pruned + s.Failed }

// returnedCause reports whether a failure gave its budget back.
func returnedCause(r results.TrialRecord) bool {
	return strings.HasPrefix(r.Failure, "stale:") || strings.HasPrefix(r.Failure, "interrupted") || strings.HasPrefix(r.Failure, "over budget")
}

// StatusOf reads a study's status from an open store.
func StatusOf(ctx context.Context, s *study.Study, st *Store) (*Status, error) {
	recs, err := st.Results.Trials(ctx, s.Name)
	if err != nil {
		return nil, fmt.Errorf("search: study %s: list records: %w", s.Name, err)
	}
	out := &Status{Study: s.Name, Budget: s.Trials, Trials: recs}
	var first, last time.Time
	for _, r := range recs {
		switch r.State {
		case results.TrialComplete:
			out.Complete++
		case results.TrialPruned:
			out.Pruned++
		case results.TrialFailed:
			if returnedCause(r) {
				out.Returned++
			} else {
				out.Failed++
			}
		case results.TrialRunning:
			out.Running++
		}
		if !r.StartedAt.IsZero() && (first.IsZero() || r.StartedAt.Before(first)) {
			first = r.StartedAt
		}
		if r.FinishedAt.After(last) {
			last = r.FinishedAt
		}
	}
	if out.Best, err = bestOf(ctx, s, st.Results); err != nil {
		return nil, err
	}
	if s.Search == study.SearchGreedySoup {
		if out.Notes, err = soupNotes(ctx, s, st.Results, recs); err != nil {
			return nil, err
		}
	}
	if out.Best != nil {
		scores, err := st.Results.TrialTaskScores(ctx, s.Name, out.Best.Number)
		if err != nil {
			return nil, fmt.Errorf("search: study %s: scores of trial %d: %w", s.Name, out.Best.Number, err)
		}
		out.Holdout = holdoutScores(scores)
	}
	if out.Baselines, err = st.Results.Baselines(ctx, s.Name); err != nil {
		return nil, fmt.Errorf("search: study %s: baselines: %w", s.Name, err)
	}
	if done, left := out.Done(), s.Trials-out.Done(); done > 0 && left > 0 && last.After(first) {
		out.ETA = time.Duration(float64(last.Sub(first)) / float64(done) * float64(left))
	}
	return out, nil
}

// ReadStatus opens a study's storage read-only and reads its status: of
// the study the file names, or of the study started from it with --new
// whose definition matches the file. When none matches, the status is the
// recorded study's, with Changed set.
func ReadStatus(ctx context.Context, s *study.Study) (_ *Status, err error) {
	defer func() { err = dsn.RedactError(err, s.Storage) }()
	st, rs, derr, err := openRead(ctx, s)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	out, err := StatusOf(ctx, rs, st)
	if err != nil {
		return nil, err
	}
	out.Changed = derr
	return out, nil
}

// holdoutScores keeps the holdout scores among a trial's scores, one per
// task: the latest run's (two processes finishing a study together may
// both have scored the best trial's holdout).
func holdoutScores(scores []results.TaskScore) []results.TaskScore {
	var out []results.TaskScore
	at := map[string]int{}
	for _, sc := range scores {
		if sc.Split != datasets.SplitHoldout {
			continue
		}
		if i, ok := at[sc.Task]; ok {
			if sc.RunID > out[i].RunID {
				out[i] = sc
			}
			continue
		}
		at[sc.Task] = len(out)
		out = append(out, sc)
	}
	return out
}

// Write prints the status as a table of trials and a summary.
func (s *Status) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TRIAL\tSTATE\tMETHOD\tOBJECTIVE\tMERGE\tEVAL\tWORKER\tNOTE")
	for _, r := range s.Trials {
		obj := "-"
		if r.Objective != nil {
			obj = fmt.Sprintf("%.4f", *r.Objective)
		}
		note := r.Failure
		if r.DuplicateOf != nil {
			note = fmt.Sprintf("parameters of trial %d: result reused", *r.DuplicateOf)
		}
		if n, ok := s.Notes[r.Number]; ok {
			note = n
		}
		if s.Best != nil && r.Number == s.Best.Number {
			note = strings.TrimSpace("best " + s.Notes[r.Number])
		}
		if len(note) > 60 {
			note = note[:57] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Number, r.State, r.Method, obj,
			r.MergeTime.Round(time.Millisecond), r.EvalTime.Round(time.Millisecond), r.Worker, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nstudy %s: %d/%d trials done (%d complete, %d pruned, %d failed), %d running, %d returned",
		s.Study, s.Done(), s.Budget, s.Complete, s.Pruned, s.Failed, s.Running, s.Returned)
	if s.ETA > 0 {
		fmt.Fprintf(w, ", ETA %s", s.ETA.Round(time.Second))
	}
	fmt.Fprintln(w)
	if s.Best != nil {
		fmt.Fprintf(w, "best: trial %d (%s), objective %.4f", s.Best.Number, s.Best.Method, *s.Best.Objective)
		if len(s.Holdout) > 0 {
			fmt.Fprintf(w, "; holdout mean accuracy %.4f over %d tasks", MeanAccuracy(s.Holdout), len(s.Holdout))
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "best: no complete trial yet")
	}
	writeStages(w, s.Trials)
	writeFailures(w, s.Trials)
	if s.Changed != nil {
		fmt.Fprintf(w, "warning: the study file's definition differs from the one these trials were recorded with: %s\n", s.Changed.Detail)
	}
	return nil
}

// shownFailures is how many of the latest failed trials the status prints
// with their whole cause (the table's note column is cut short).
const shownFailures = 5

// writeFailures prints the whole recorded cause of the latest failed
// trials.
func writeFailures(w io.Writer, trials []results.TrialRecord) {
	var failed []results.TrialRecord
	for _, r := range trials {
		if r.State == results.TrialFailed && r.Failure != "" {
			failed = append(failed, r)
		}
	}
	if len(failed) > shownFailures {
		fmt.Fprintf(w, "failures (the latest %d of %d):\n", shownFailures, len(failed))
		failed = failed[len(failed)-shownFailures:]
	} else if len(failed) > 0 {
		fmt.Fprintln(w, "failures:")
	}
	for _, r := range failed {
		fmt.Fprintf(w, "  trial %d: %s\n", r.Number, r.Failure)
	}
}

// MeanAccuracy averages the accuracies of task scores (0 for none).
func MeanAccuracy(scores []results.TaskScore) float64 {
	if len(scores) == 0 {
		return 0
	}
	var sum float64
	for _, sc := range scores {
		sum += sc.Accuracy
	}
	return sum / float64(len(scores))
}
