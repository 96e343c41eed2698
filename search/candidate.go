package search

import (
	"context"
	"fmt"
	"time"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/merge"
	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/results"
)

// candidate is a merge opened for evaluation. Every merge the search
// scores (a trial, the best trial's holdout, the frozen recipe's holdout,
// each point of extend) takes the one path: openCandidate (merge, open),
// evaluate (evalTasks, or the trial's chunked evaluation), record.
type candidate struct {
	eval.Model
	dir       string
	mergeTime time.Duration // 0 when dir already held the merge
	openTime  time.Duration
}

// openCandidate merges cfg into dir (none when cfg is nil: dir already
// holds the merge), in the form be takes (mergeCandidate), and opens the
// merge with be.
func openCandidate(ctx context.Context, cfg *config.Config, dir string, mopt merge.Options, be eval.Backend) (*candidate, error) {
	c := &candidate{dir: dir}
	path, digest := keptCandidate(dir), ""
	var st eval.Stream
	if cfg != nil {
		t0 := time.Now()
		var err error
		if path, digest, st, err = mergeCandidate(ctx, cfg, dir, be, mopt); err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		c.mergeTime = time.Since(t0)
	}
	t0 := time.Now()
	var m eval.Model
	var err error
	switch do, ok := be.(eval.DigestOpener); {
	case st != nil:
		// sent while the merge wrote it
		m, err = st.Open(ctx, path, digest)
	case ok && digest != "":
		// the GGUF was hashed while the merge wrote it
		m, err = do.OpenDigest(ctx, path, digest)
	default:
		m, err = be.Open(ctx, path)
	}
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	c.openTime = time.Since(t0)
	c.Model = m
	return c, nil
}

// record records the candidate's evaluation in db, tied to a trial when
// trial is not nil, and returns the run's id.
func (c *candidate) record(ctx context.Context, db *results.DB, host string, res []*eval.TaskResult, trial *results.TrialKey) (int64, error) {
	id, err := eval.Record(ctx, db, c.Model, c.dir, host, res, trial)
	if err != nil {
		return 0, fmt.Errorf("record evaluation: %w", err)
	}
	return id, nil
}

// evalTasks evaluates m on tasks, in order.
func evalTasks(ctx context.Context, m eval.Model, tasks []*datasets.Task, opt eval.Options) ([]*eval.TaskResult, error) {
	res := make([]*eval.TaskResult, 0, len(tasks))
	for _, t := range tasks {
		r, err := eval.Evaluate(ctx, m, t, opt)
		if err != nil {
			return nil, fmt.Errorf("evaluate %s: %w", t.Name, err)
		}
		res = append(res, r)
	}
	return res, nil
}
