package optim

import (
	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/medianstopping"
	"github.com/c-bata/goptuna/successivehalving"
)

// None prunes nothing: each trial is scored on its whole tune set.
func (entries) None() Pruner {
	return Pruner{
		Name: NoPruner,
		Help: "no pruning (default)",
		New:  func(Settings) (goptuna.Pruner, error) { return nil, nil },
	}
}

// Median stops a trial whose intermediate score is below the median of
// the complete trials' at the same step.
func (entries) Median() Pruner {
	return Pruner{
		Name: "median",
		Help: "stop a trial below the median of earlier trials at the same chunk (after startup complete trials)",
		New: func(s Settings) (goptuna.Pruner, error) {
			p := medianstopping.NewMedianPruner()
			p.NStartUpTrials = s.Startup
			return p, nil
		},
	}
}

// ASHA is asynchronous successive halving.
func (entries) ASHA() Pruner {
	return Pruner{
		Name: "asha",
		Help: "asynchronous successive halving over the chunks (reduction factor 2)",
		New: func(Settings) (goptuna.Pruner, error) {
			return successivehalving.NewPruner(successivehalving.OptionMinResource(1), successivehalving.OptionReductionFactor(2))
		},
	}
}
