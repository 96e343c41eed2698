package optim

import "github.com/c-bata/goptuna"

// Random draws every parameter uniformly (on a log scale for log ones).
func (entries) Random() Sampler {
	return Sampler{
		Name: "random",
		Help: "independent uniform draws, seeded per trial",
		Options: func(s Settings) ([]goptuna.StudyOption, error) {
			return []goptuna.StudyOption{goptuna.StudyOptionSampler(PerTrial{Seed: s.Seed, Make: func(seed int64) goptuna.Sampler {
				return goptuna.NewRandomSampler(goptuna.RandomSamplerOptionSeed(seed))
			}})}, nil
		},
	}
}
