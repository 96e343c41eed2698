package optim

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/c-bata/goptuna"
)

// Grid is exhaustive search over a discrete space (stepped floats, ints
// and choices): trial n takes the first point of the grid, in order, that
// no earlier trial holds, so a budget of the grid's size evaluates every
// point once. The first trial's start point counts as held once it is a
// grid point; a failed trial's point is offered again. Past the grid's
// size the points run out and the trials are drawn at random.
func (entries) Grid() Sampler {
	return Sampler{
		Name:     "grid",
		Help:     "every point of a discrete space once (stepped floats, ints, choices), in order; the budget should be the grid's size",
		Discrete: true,
		Options: func(s Settings) ([]goptuna.StudyOption, error) {
			opts := []goptuna.StudyOption{
				goptuna.StudyOptionSampler(PerTrial{Seed: s.Seed, Make: func(seed int64) goptuna.Sampler {
					return goptuna.NewRandomSampler(goptuna.RandomSamplerOptionSeed(seed))
				}}),
				goptuna.StudyOptionRelativeSampler(gridSampler{}),
			}
			if s.Space != nil {
				opts = append(opts, goptuna.StudyOptionDefineSearchSpace(s.Space))
			}
			return opts, nil
		},
	}
}

// GridAxes returns, for each parameter of a discrete space (sorted by
// name), its values in goptuna's internal representation (a choice's
// index), or an error naming a parameter that is not discrete.
func GridAxes(space map[string]interface{}) ([]string, [][]float64, error) {
	names := make([]string, 0, len(space))
	for n := range space {
		names = append(names, n)
	}
	sort.Strings(names)
	axes := make([][]float64, len(names))
	for i, n := range names {
		var vals []float64
		switch d := space[n].(type) {
		case goptuna.DiscreteUniformDistribution:
			for k := 0; ; k++ {
				v := d.Low + float64(k)*d.Q
				if v > d.High+d.Q*1e-9 {
					break
				}
				// low + k·q to 12 decimals: 0.3, not 0.30000000000000004
				vals = append(vals, math.Min(math.Round(v*1e12)/1e12, d.High))
			}
		case goptuna.IntUniformDistribution:
			for v := d.Low; v <= d.High; v++ {
				vals = append(vals, float64(v))
			}
		case goptuna.StepIntUniformDistribution:
			for v := d.Low; v <= d.High; v += d.Step {
				vals = append(vals, float64(v))
			}
		case goptuna.CategoricalDistribution:
			for k := range d.Choices {
				vals = append(vals, float64(k))
			}
		default:
			return nil, nil, fmt.Errorf("grid: parameter %s is continuous (%T): give it a step, or make it an int or a choice", n, space[n])
		}
		axes[i] = vals
	}
	return names, axes, nil
}

// gridSampler proposes grid points (see Grid).
type gridSampler struct{}

// SampleRelative implements goptuna.RelativeSampler.
func (gridSampler) SampleRelative(study *goptuna.Study, t goptuna.FrozenTrial, space map[string]interface{}) (map[string]float64, error) {
	if len(space) == 0 {
		return nil, nil
	}
	names, axes, err := GridAxes(space)
	if err != nil {
		return nil, err
	}
	trials, err := study.Storage.GetAllTrials(study.ID)
	if err != nil {
		return nil, fmt.Errorf("grid: list trials: %w", err)
	}
	sort.Slice(trials, func(a, b int) bool { return trials[a].Number < trials[b].Number })
	g := grid{names: names, axes: axes, held: map[string]bool{}}
	for _, o := range trials {
		if o.Number >= t.Number || o.State == goptuna.TrialStateFail {
			continue
		}
		if p := g.pointOf(o); p != nil {
			g.held[g.key(p)] = true
			continue
		}
		// An earlier trial that has not suggested its parameters yet
		// takes the point it is being given: the first free one.
		if o.State == goptuna.TrialStateRunning {
			if p := g.firstFree(); p != nil {
				g.held[g.key(p)] = true
			}
		}
	}
	p := g.firstFree()
	if p == nil {
		return nil, nil // every point is held: the random sampler proposes
	}
	out := make(map[string]float64, len(names))
	for i, n := range names {
		out[n] = p[i]
	}
	return out, nil
}

// grid is the state of one proposal: the axes and the points held.
type grid struct {
	names []string
	axes  [][]float64
	held  map[string]bool
}

// key names a point by its values' indices on their axes.
func (g *grid) key(p []float64) string {
	var b strings.Builder
	for i, v := range p {
		fmt.Fprintf(&b, "%d,", nearest(g.axes[i], v))
	}
	return b.String()
}

func nearest(axis []float64, v float64) int {
	best, at := math.Inf(1), 0
	for k, a := range axis {
		if d := math.Abs(a - v); d < best {
			best, at = d, k
		}
	}
	return at
}

// pointOf is the grid point a trial holds: its parameters, or the fixed
// parameters it was enqueued with; nil when it has neither for every axis.
func (g *grid) pointOf(t goptuna.FrozenTrial) []float64 {
	params := t.InternalParams
	if len(params) < len(g.names) {
		var fixed map[string]float64
		if s, ok := t.SystemAttrs["fixed_params"]; ok && json.Unmarshal([]byte(s), &fixed) == nil {
			params = fixed
		}
	}
	p := make([]float64, len(g.names))
	for i, n := range g.names {
		v, ok := params[n]
		if !ok {
			return nil
		}
		p[i] = v
	}
	return p
}

// firstFree is the first point, in order (the first axis slowest), that
// no trial holds, or nil.
func (g *grid) firstFree() []float64 {
	idx := make([]int, len(g.axes))
	for {
		p := make([]float64, len(idx))
		for i, k := range idx {
			p[i] = g.axes[i][k]
		}
		if !g.held[g.key(p)] {
			return p
		}
		i := len(idx) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(g.axes[i]) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return nil
		}
	}
}
