package optim

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"

	"github.com/c-bata/goptuna"
)

// TrialSeed is the seed of the randomness that proposes parameter name of
// trial number in a study whose sampler seed is seed. goptuna's storage
// gives every trial of a study its own number, whichever process or
// machine creates it, so no two trials share a random stream, and a
// trial's proposal can be reproduced from the study's seed and its number
// (and, for model-based samplers, the trials finished before it).
func TrialSeed(seed int64, number int, name string) int64 {
	h := sha256.New()
	h.Write(strconv.AppendInt(nil, seed, 10))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, int64(number), 10))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return int64(binary.LittleEndian.Uint64(h.Sum(nil)))
}

// PerTrial is a goptuna.Sampler that draws each parameter of each trial
// with a fresh sampler seeded by TrialSeed: the proposal depends on
// (study seed, trial number, parameter name) and the study's history, not
// on which worker or process asks, nor on what it proposed before.
type PerTrial struct {
	Seed int64
	Make func(seed int64) goptuna.Sampler
}

// Sample implements goptuna.Sampler.
func (s PerTrial) Sample(study *goptuna.Study, t goptuna.FrozenTrial, name string, dist interface{}) (float64, error) {
	return s.Make(TrialSeed(s.Seed, t.Number, name)).Sample(study, t, name, dist)
}
