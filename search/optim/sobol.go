package optim

import (
	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/sobol"
)

// Sobol is quasi-random search: trial n takes point n of the Sobol
// low-discrepancy sequence over the numeric space, which covers it more
// evenly than independent random draws.
func (entries) Sobol() Sampler {
	return Sampler{
		Name:          "sobol",
		Help:          "quasi-random Sobol sequence over the space (trial n takes point n; the seed only varies the parameters outside the space)",
		MinDimensions: 1,
		Options: func(s Settings) ([]goptuna.StudyOption, error) {
			opts := []goptuna.StudyOption{
				goptuna.StudyOptionSampler(PerTrial{Seed: s.Seed, Make: func(seed int64) goptuna.Sampler {
					return goptuna.NewRandomSampler(goptuna.RandomSamplerOptionSeed(seed))
				}}),
				goptuna.StudyOptionRelativeSampler(sobolByNumber{}),
			}
			if s.Space != nil {
				opts = append(opts, goptuna.StudyOptionDefineSearchSpace(s.Space))
			}
			return opts, nil
		},
	}
}

// sobolByNumber proposes point t.Number+1 of the Sobol sequence (point 1
// is the centre of the space) for trial t: the proposal follows the
// trial's number, not the worker or process that asks, so concurrent
// workers never repeat one another's points.
type sobolByNumber struct{}

// SampleRelative implements goptuna.RelativeSampler.
func (sobolByNumber) SampleRelative(study *goptuna.Study, t goptuna.FrozenTrial, space map[string]interface{}) (map[string]float64, error) {
	if len(space) == 0 {
		return nil, nil
	}
	s := sobol.NewSampler()
	var p map[string]float64
	for range t.Number + 1 {
		var err error
		if p, err = s.SampleRelative(study, t, space); err != nil {
			return nil, err
		}
	}
	return p, nil
}
