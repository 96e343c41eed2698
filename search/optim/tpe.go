package optim

import (
	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/tpe"
)

// TPE is the tree-structured Parzen estimator, the default sampler.
func (entries) TPE() Sampler {
	return Sampler{
		Name: DefaultSampler,
		Help: "tree-structured Parzen estimator (default): models good and bad trials and proposes from the good",
		Options: func(s Settings) ([]goptuna.StudyOption, error) {
			return []goptuna.StudyOption{goptuna.StudyOptionSampler(tpeSampler(s.Seed))}, nil
		},
	}
}

// tpeSampler is TPE drawn per trial (see PerTrial); the relative samplers
// fall back on it for the parameters outside their space.
func tpeSampler(seed int64) goptuna.Sampler {
	return PerTrial{Seed: seed, Make: func(seed int64) goptuna.Sampler {
		return tpe.NewSampler(tpe.SamplerOptionSeed(seed))
	}}
}
