package datasets

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Invalid is the extracted answer of a response from which a scorer could
// extract nothing (lm-eval's regex filter fallback). It never equals a
// target; a rising share of it means the model broke the answer format.
const Invalid = "[invalid]"

// Outcome is a scorer's verdict on one response.
type Outcome struct {
	// Extracted is the answer read from the response, after
	// normalisation (Invalid when nothing could be read).
	Extracted string
	// Correct says whether Extracted matches the item's target.
	Correct bool
}

// Scorer judges a model's response to an item. Implementations are
// stateless after construction and safe for concurrent use.
type Scorer interface {
	Score(it Item, response string) Outcome
}

// Letter returns the answer letter of choice i: 0 → "A", 1 → "B", … 25 →
// "Z". Indices outside [0, 26) give "?".
func Letter(i int) string {
	if i < 0 || i >= maxChoices {
		return "?"
	}
	return string(rune('A' + i))
}

// maxChoices is the number of answer letters, A to Z.
const maxChoices = 26

// Normalize holds lm-evaluation-harness's exact_match normalisations. They
// are applied to the prediction and the reference alike, in this order:
// strip surrounding white space, delete every match of each regex of
// RegexesToIgnore, lowercase, delete ASCII punctuation.
type Normalize struct {
	Strip             bool
	IgnoreCase        bool
	IgnorePunctuation bool
	RegexesToIgnore   []*regexp.Regexp
}

// asciiPunct is Python's string.punctuation.
const asciiPunct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// Apply returns s normalised.
func (n Normalize) Apply(s string) string {
	if n.Strip {
		s = strings.TrimSpace(s)
	}
	for _, re := range n.RegexesToIgnore {
		s = re.ReplaceAllLiteralString(s, "")
	}
	if n.IgnoreCase {
		s = strings.ToLower(s)
	}
	if n.IgnorePunctuation {
		s = strings.Map(func(r rune) rune {
			if r < 128 && strings.ContainsRune(asciiPunct, r) {
				return -1
			}
			return r
		}, s)
	}
	return s
}

// ExactScorer compares the normalised response with the normalised target
// (lm-eval's exact_match).
type ExactScorer struct {
	Normalize Normalize
}

// Score implements Scorer. An empty response is wrong.
func (s *ExactScorer) Score(it Item, response string) Outcome {
	pred := s.Normalize.Apply(response)
	ok := strings.TrimSpace(response) != "" && pred == s.Normalize.Apply(it.Target)
	return Outcome{Extracted: pred, Correct: ok}
}

// RegexScorer extracts an answer from the response with a regular
// expression, with the semantics of lm-eval's regex filter (re.findall,
// group_select, first non-empty group, strip, fallback), then compares it
// with the target after the normalisations, and numerically when both
// read as numbers (Numeric).
type RegexScorer struct {
	// Pattern is the extraction regex.
	Pattern *regexp.Regexp
	// GroupSelect picks the match: 0 the first, -1 the last, …
	GroupSelect int
	// Fallback is the extracted answer when nothing matched (Invalid
	// when empty).
	Fallback string
	// Normalize is applied to the extracted answer and the target.
	Normalize Normalize
	// Numeric compares as numbers when both sides parse as one after
	// removing "$", "," and a trailing ".": 18 == 18.0 == $18, 1,000 ==
	// 1000.
	Numeric bool
}

// gsm8k's extraction regexes and ignore chain (lm-eval gsm8k.yaml).
const (
	gsm8kStrict   = `#### (\-?[0-9\.\,]+)`
	gsm8kFlexible = `(-?[$0-9.,]{2,})|(-?[0-9]+)`
)

func gsm8kIgnore() []*regexp.Regexp {
	return []*regexp.Regexp{
		regexp.MustCompile(`,`),
		regexp.MustCompile(`\$`),
		regexp.MustCompile(`(?s).*#### `),
		regexp.MustCompile(`\.$`),
	}
}

// Extract returns the answer the pattern selects from response, or the
// fallback.
func (s *RegexScorer) Extract(response string) string {
	fallback := s.Fallback
	if fallback == "" {
		fallback = Invalid
	}
	ms := s.Pattern.FindAllStringSubmatch(response, -1)
	i := s.GroupSelect
	if i < 0 {
		i += len(ms)
	}
	if i < 0 || i >= len(ms) {
		return fallback
	}
	m := ms[i]
	var got string
	switch len(m) {
	case 1: // no groups: the whole match
		got = m[0]
	case 2: // one group: that group, even if empty
		got = m[1]
	default: // several groups: the first non-empty one
		found := false
		for _, g := range m[1:] {
			if g != "" {
				got, found = g, true
				break
			}
		}
		if !found {
			return fallback
		}
	}
	return strings.TrimSpace(got)
}

// Score implements Scorer. An empty response is wrong.
func (s *RegexScorer) Score(it Item, response string) Outcome {
	ext := s.Extract(response)
	pred := s.Normalize.Apply(ext)
	ref := s.Normalize.Apply(it.Target)
	if ext == s.fallback() {
		return Outcome{Extracted: ext}
	}
	if strings.TrimSpace(response) == "" {
		return Outcome{Extracted: pred}
	}
	ok := pred == ref
	if !ok && s.Numeric {
		a, aok := ParseNumber(pred)
		b, bok := ParseNumber(ref)
		ok = aok && bok && a == b
	}
	return Outcome{Extracted: pred, Correct: ok}
}

func (s *RegexScorer) fallback() string {
	if s.Fallback == "" {
		return Invalid
	}
	return s.Fallback
}

// ParseNumber reads s as a number after removing white space, "$", ","
// and one trailing ".": "$1,000." → 1000.
func ParseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	s = strings.NewReplacer("$", "", ",", "").Replace(s)
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// ChoiceScorer scores lettered multiple choice: the response is an answer
// letter (read by the evaluator from the next-token log-probabilities) or
// a generated text from which a letter is extracted with the regexes of
// eval-tasks.md §6.2 mode A, tried in order: "answer is X", a letter at
// the start ("B.", "(B)", "B:"), then any standalone letter. Only the
// letters of the item's choices count (A–D for four choices); the words
// "answer is" match in any case, the letter only in upper case.
type ChoiceScorer struct{}

var choiceRegexes = []*regexp.Regexp{
	regexp.MustCompile(`(?i:answer is)[:\s]*\(?([A-Z])\)?`),
	regexp.MustCompile(`^\s*\(?([A-Z])\)?(?:[.):\s]|$)`),
	regexp.MustCompile(`\b([A-Z])\b`),
}

// ExtractLetter returns the first answer letter among the first n letters
// found in response by the mode A regexes, or Invalid.
func ExtractLetter(response string, n int) string {
	if n <= 0 || n > maxChoices {
		n = maxChoices
	}
	for _, re := range choiceRegexes {
		for _, m := range re.FindAllStringSubmatch(response, -1) {
			if l := m[1]; int(l[0]-'A') < n {
				return l
			}
		}
	}
	return Invalid
}

// Score implements Scorer: the extracted letter must be the letter of the
// gold choice.
func (ChoiceScorer) Score(it Item, response string) Outcome {
	l := ExtractLetter(response, len(it.Choices))
	return Outcome{Extracted: l, Correct: l != Invalid && l == Letter(it.Gold)}
}

// String describes the scorers for error messages.
func (s *ExactScorer) String() string { return "exact" }

// String describes the scorer.
func (s *RegexScorer) String() string { return fmt.Sprintf("regex %q", s.Pattern) }

// String describes the scorer.
func (ChoiceScorer) String() string { return "choice" }
