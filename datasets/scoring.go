package datasets

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Scoring modes of a multiple-choice task (the task file's scoring
// field).
const (
	// ScoringLetter reads the answer letter from the next-token
	// log-probabilities after a prompt that lists the lettered choices,
	// falling back to a generation (any backend; the default).
	ScoringLetter = "letter"
	// ScoringAcc picks the choice whose continuation has the highest
	// log-likelihood (lm-eval's acc).
	ScoringAcc = "acc"
	// ScoringAccNorm divides each choice's log-likelihood by its length
	// in characters before picking (lm-eval's acc_norm).
	ScoringAccNorm = "acc_norm"
	// ScoringAccBytes divides by the length in UTF-8 bytes (lm-eval's
	// acc_bytes).
	ScoringAccBytes = "acc_bytes"
)

// ScoringMode is one way of scoring a multiple-choice item.
type ScoringMode struct {
	// Name is the task file's value.
	Name string
	// LogLikelihood says the mode needs the log-likelihood of each
	// choice as a continuation of the prompt (lm-eval's
	// multiple_choice), which only some backends can compute.
	LogLikelihood bool
	// Length, for a log-likelihood mode, is what a choice's
	// log-likelihood is divided by (nil: 1). It is given the choice's
	// text without the delimiter, as lm-eval measures it.
	Length func(choice string) float64
	// Doc says what the mode does, for help texts.
	Doc string
}

// ScoringModes returns the scoring modes, the default first: the one
// registry of them.
func ScoringModes() []ScoringMode {
	return []ScoringMode{
		{Name: ScoringLetter, Doc: "the answer letter read from the next-token log-probabilities (a generation when none is among them)"},
		{Name: ScoringAcc, LogLikelihood: true, Doc: "the choice of highest log-likelihood as a continuation (lm-eval acc)"},
		{Name: ScoringAccNorm, LogLikelihood: true, Doc: "log-likelihood divided by the choice's length in characters (lm-eval acc_norm)",
			Length: func(c string) float64 { return float64(utf8.RuneCountInString(c)) }},
		{Name: ScoringAccBytes, LogLikelihood: true, Doc: "log-likelihood divided by the choice's length in UTF-8 bytes (lm-eval acc_bytes)",
			Length: func(c string) float64 { return float64(len(c)) }},
	}
}

// ScoringNames lists the names of the scoring modes.
func ScoringNames() []string {
	var out []string
	for _, m := range ScoringModes() {
		out = append(out, m.Name)
	}
	return out
}

// LookupScoring returns the scoring mode named name ("" is ScoringLetter);
// an unknown name is an error listing the known ones.
func LookupScoring(name string) (ScoringMode, error) {
	if name == "" {
		name = ScoringLetter
	}
	for _, m := range ScoringModes() {
		if m.Name == name {
			return m, nil
		}
	}
	return ScoringMode{}, fmt.Errorf("unknown scoring mode %q (known: %s)", name, strings.Join(ScoringNames(), ", "))
}

// PickChoice returns the index of the choice the mode picks from the
// log-likelihoods lls of choices: the highest lls[i] / Length(choices[i])
// (a choice of length 0 is divided by 1); ties go to the earlier choice,
// and NaN never wins. It returns -1 when no choice can be picked.
func (m ScoringMode) PickChoice(choices []string, lls []float64) int {
	best, bestV := -1, 0.0
	for i, ll := range lls {
		if i >= len(choices) || ll != ll {
			continue
		}
		v := ll
		if m.Length != nil {
			if n := m.Length(choices[i]); n > 0 {
				v /= n
			}
		}
		if best < 0 || v > bestV {
			best, bestV = i, v
		}
	}
	return best
}
