package eval

import (
	"fmt"
	"sort"

	"github.com/mergetune/mergetune/results"
)

// TransferKeep is the share of the re-tuned optimum a frozen setting must
// keep for transfer to hold at a size (Transfer).
const TransferKeep = 0.95

// Estimate is a score with its 95% interval.
type Estimate struct {
	Value, Lo, Hi float64
}

// String renders the estimate as "0.4123 [0.3801, 0.4440]".
func (e Estimate) String() string {
	return fmt.Sprintf("%.4f [%.4f, %.4f]", e.Value, e.Lo, e.Hi)
}

// CurveEstimate is a curve point's normalized score with the interval the
// verdict judges it by: across subsets when the point aggregates more
// than one (the paper's protocol), else the items' interval, else the
// point itself (nothing measured its spread).
func CurveEstimate(p results.CurvePoint) Estimate {
	e := Estimate{Value: p.Normalized, Lo: p.Normalized, Hi: p.Normalized}
	switch {
	case p.Subsets > 1 && p.SubsetLo < p.SubsetHi:
		e.Lo, e.Hi = p.SubsetLo, p.SubsetHi
	case p.ItemLo < p.ItemHi:
		e.Lo, e.Hi = p.ItemLo, p.ItemHi
	}
	return e
}

// TransferVerdict says whether settings frozen at a few task models hold
// at more: Frozen is the frozen recipe merged at the size, Tuned the
// optimum re-tuned at that size.
type TransferVerdict struct {
	Frozen, Tuned Estimate
	// Keep is Frozen.Value / Tuned.Value (0 when the re-tuned optimum is
	// not above 0).
	Keep float64
	// Overlap: the two intervals overlap.
	Overlap bool
	// Holds: the frozen setting keeps at least TransferKeep of the
	// re-tuned optimum, or the intervals overlap.
	Holds bool
}

// Transfer is the one rule of the transfer verdict: transfer holds at a
// size when the frozen setting keeps at least TransferKeep (95%) of the
// re-tuned optimum, or when their 95% intervals overlap (the measurement
// cannot tell them apart).
func Transfer(frozen, tuned Estimate) TransferVerdict {
	v := TransferVerdict{Frozen: frozen, Tuned: tuned}
	if tuned.Value > 0 {
		v.Keep = frozen.Value / tuned.Value
	}
	v.Overlap = frozen.Lo <= tuned.Hi && tuned.Lo <= frozen.Hi
	v.Holds = frozen.Value >= TransferKeep*tuned.Value || v.Overlap
	return v
}

// Word is the verdict in one word: "holds" or "fails".
func (v TransferVerdict) Word() string {
	if v.Holds {
		return "holds"
	}
	return "fails"
}

// Why says which part of the rule decided: the share kept and whether the
// intervals overlap.
func (v TransferVerdict) Why() string {
	keep := "-"
	if v.Tuned.Value > 0 {
		keep = fmt.Sprintf("%.0f%%", 100*v.Keep)
	}
	overlap := "intervals apart"
	if v.Overlap {
		overlap = "intervals overlap"
	}
	return fmt.Sprintf("keeps %s of re-tuned (need %.0f%%), %s", keep, 100*TransferKeep, overlap)
}

// CurveVerdict is the transfer verdict of one method's frozen recipe,
// merged by one scale rule, at one size where the method was also
// re-tuned.
type CurveVerdict struct {
	Method string
	Rule   string // the frozen recipe's scale rule
	Models int
	// FrozenStudy is the study the recipe was frozen from, TunedStudy
	// the one re-tuned at Models.
	FrozenStudy, TunedStudy string
	TransferVerdict
}

// CurveVerdicts judges every frozen aggregate point of the curve against
// the re-tuned point of its method at its size (Transfer), by method,
// rule and size. Sizes without a re-tuned point have no verdict.
func CurveVerdicts(pts []results.CurvePoint) []CurveVerdict {
	type key struct {
		method string
		models int
	}
	tuned := map[key]results.CurvePoint{}
	for _, p := range pts {
		if p.Variant == results.VariantTuned && p.Subset == 0 {
			tuned[key{p.Method, p.Models}] = p
		}
	}
	var out []CurveVerdict
	for _, p := range pts {
		if p.Variant != results.VariantFrozen || p.Subset != 0 {
			continue
		}
		t, ok := tuned[key{p.Method, p.Models}]
		if !ok {
			continue
		}
		out = append(out, CurveVerdict{Method: p.Method, Rule: p.Rule, Models: p.Models, FrozenStudy: p.Study, TunedStudy: t.Study,
			TransferVerdict: Transfer(CurveEstimate(p), CurveEstimate(t))})
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Method != out[b].Method {
			return out[a].Method < out[b].Method
		}
		if out[a].Rule != out[b].Rule {
			return out[a].Rule < out[b].Rule
		}
		return out[a].Models < out[b].Models
	})
	return out
}
