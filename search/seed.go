package search

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"sync"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/cmaes"
)

// trialSeed is the seed of the randomness that proposes parameter name of
// trial number in a study whose sampler seed is seed. goptuna's storage
// gives every trial of a study its own number, whichever process or
// machine creates it, so no two trials share a random stream, and a
// trial's proposal can be reproduced from the study's seed and its number
// (and, for model-based samplers, the trials finished before it).
func trialSeed(seed int64, number int, name string) int64 {
	h := sha256.New()
	h.Write(strconv.AppendInt(nil, seed, 10))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, int64(number), 10))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return int64(binary.LittleEndian.Uint64(h.Sum(nil)))
}

// trialSampler is a goptuna.Sampler that draws each parameter of each
// trial with a fresh sampler seeded by trialSeed: the proposal depends on
// (study seed, trial number, parameter name) and the study's history, not
// on which worker or process asks, nor on what it proposed before.
type trialSampler struct {
	seed int64
	make func(seed int64) goptuna.Sampler
}

// Sample implements goptuna.Sampler.
func (s trialSampler) Sample(study *goptuna.Study, t goptuna.FrozenTrial, name string, dist interface{}) (float64, error) {
	return s.make(trialSeed(s.seed, t.Number, name)).Sample(study, t, name, dist)
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
		l.s = cmaes.NewSampler(cmaes.SamplerOptionSeed(trialSeed(l.seed, t.Number, "cmaes")))
	}
	s := l.s
	l.mu.Unlock()
	return s.SampleRelative(study, t, space)
}
