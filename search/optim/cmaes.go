package optim

import (
	"sync"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/cmaes"
)

// CMAES is the covariance matrix adaptation evolution strategy over the
// numeric space (TPE proposes the rest).
func (entries) CMAES() Sampler {
	return Sampler{
		Name:          "cmaes",
		Help:          "CMA-ES over the numeric parameters (TPE for the others); needs at least 2 numeric dimensions",
		MinDimensions: 2,
		Options: func(s Settings) ([]goptuna.StudyOption, error) {
			opts := []goptuna.StudyOption{
				goptuna.StudyOptionSampler(tpeSampler(s.Seed)),
				goptuna.StudyOptionRelativeSampler(&lazyCMAES{seed: s.Seed}),
			}
			if s.Space != nil {
				opts = append(opts, goptuna.StudyOptionDefineSearchSpace(s.Space))
			}
			return opts, nil
		},
	}
}

// lazyCMAES is a CMA-ES relative sampler created at its first use, seeded
// from the number of the first trial it proposes: CMA-ES keeps its state
// between trials (one optimizer per worker), so its seed cannot follow
// each trial, but no two workers (of any process) share it.
type lazyCMAES struct {
	seed int64
	mu   sync.Mutex
	s    *cmaes.Sampler
}

// SampleRelative implements goptuna.RelativeSampler.
func (l *lazyCMAES) SampleRelative(study *goptuna.Study, t goptuna.FrozenTrial, space map[string]interface{}) (map[string]float64, error) {
	l.mu.Lock()
	if l.s == nil {
		l.s = cmaes.NewSampler(cmaes.SamplerOptionSeed(TrialSeed(l.seed, t.Number, "cmaes")))
	}
	s := l.s
	l.mu.Unlock()
	return s.SampleRelative(study, t, space)
}
