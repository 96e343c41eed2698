package search

import (
	"context"
	"fmt"

	"github.com/mergetune/mergetune/merge"
	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/results"
	"github.com/mergetune/mergetune/search/study"
)

// MergeTrial merges the recorded trial rec of study s again into out, in
// the format opt names (opt.Seed is the study's seed, as in the trial):
// `study best --out` exports the winner this way.
func MergeTrial(ctx context.Context, s *study.Study, rec results.TrialRecord, out string, opt merge.Options) (*merge.Result, error) {
	cfg, err := config.Parse([]byte(rec.MergeYAML), fmt.Sprintf("%s-trial-%d.yml", s.Name, rec.Number))
	if err != nil {
		return nil, fmt.Errorf("search: study %s: trial %d config: %w", s.Name, rec.Number, err)
	}
	opt.Seed = s.Seed
	res, err := merge.Run(ctx, cfg, out, opt)
	if err != nil {
		return nil, fmt.Errorf("search: study %s: merge trial %d: %w", s.Name, rec.Number, err)
	}
	return res, nil
}
