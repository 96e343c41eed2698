package datasets

import (
	"regexp"
	"testing"
)

func TestExactScorer(t *testing.T) {
	res := func(s ...string) []*regexp.Regexp {
		var out []*regexp.Regexp
		for _, r := range s {
			out = append(out, regexp.MustCompile(r))
		}
		return out
	}
	tests := []struct {
		name     string
		norm     Normalize
		target   string
		response string
		want     bool
		wantExt  string
	}{
		{"identical", Normalize{}, "Paris", "Paris", true, "Paris"},
		{"no strip", Normalize{}, "Paris", " Paris\n", false, " Paris\n"},
		{"strip", Normalize{Strip: true}, "Paris", " Paris\n", true, "Paris"},
		{"case-sensitive", Normalize{Strip: true}, "Paris", "paris", false, "paris"},
		{"ignore case", Normalize{Strip: true, IgnoreCase: true}, "Paris", "PARIS", true, "paris"},
		{"punctuation kept", Normalize{Strip: true}, "Blue.", "Blue", false, "Blue"},
		{"ignore punctuation", Normalize{Strip: true, IgnorePunctuation: true}, "Blue.", "Blue!", true, "Blue"},
		{"punctuation is ASCII only", Normalize{IgnorePunctuation: true}, "«a»", "a", false, "a"},
		{"regexes to ignore", Normalize{Strip: true, IgnoreCase: true, RegexesToIgnore: res(`^the `)}, "Eiffel tower", "The Eiffel Tower", false, "the eiffel tower"},
		{"regexes before lowercase", Normalize{Strip: true, IgnoreCase: true, RegexesToIgnore: res(`^(?i)the `)}, "Eiffel tower", "The Eiffel Tower", true, "eiffel tower"},
		{"gsm8k chain", Normalize{Strip: true, IgnoreCase: true, RegexesToIgnore: gsm8kIgnore()}, "so... #### 1,234", "$1,234.", true, "1234"},
		{"empty response", Normalize{Strip: true}, "", "", false, ""},
		{"blank response", Normalize{}, " ", " ", false, " "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &ExactScorer{Normalize: tc.norm}
			out := s.Score(Item{Target: tc.target}, tc.response)
			if out.Correct != tc.want || out.Extracted != tc.wantExt {
				t.Errorf("Score = %+v, want correct %v extracted %q", out, tc.want, tc.wantExt)
			}
		})
	}
}

func gsm8kScorer(flexible bool) *RegexScorer {
	s := &RegexScorer{Pattern: regexp.MustCompile(gsm8kStrict), Numeric: true,
		Normalize: Normalize{Strip: true, IgnoreCase: true, RegexesToIgnore: gsm8kIgnore()}}
	if flexible {
		s.Pattern, s.GroupSelect = regexp.MustCompile(gsm8kFlexible), -1
	}
	return s
}

func TestRegexScorerGSM8K(t *testing.T) {
	const worked = "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether.\n#### 72"
	target := "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72"
	tests := []struct {
		name        string
		response    string
		strict      string // extracted, normalised
		strictOK    bool
		flexible    string
		flexibleOK  bool
		numericOnly bool // correct only thanks to numeric comparison
	}{
		{"worked example", worked, "72", true, "72", true, false},
		{"no #### line", "She sold 72 clips.", Invalid, false, "72", true, false},
		{"first #### wins in strict", "#### 72\n#### 5", "72", true, "5", false, false},
		{"dollars and commas", "#### $72.", Invalid, false, "72", true, false},
		{"decimal", "The answer is 72.00", Invalid, false, "72.00", true, true},
		{"trailing period", "so 72.", Invalid, false, "72", true, false},
		{"negative", "#### -72", "-72", false, "-72", false, false},
		{"single digit fallback group", "x 7 y", Invalid, false, "7", false, false},
		{"nothing", "no idea", Invalid, false, Invalid, false, false},
		{"empty", "", Invalid, false, Invalid, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it := Item{Target: target}
			for _, c := range []struct {
				s       *RegexScorer
				ext     string
				ok      bool
				flexArm bool
			}{{gsm8kScorer(false), tc.strict, tc.strictOK, false}, {gsm8kScorer(true), tc.flexible, tc.flexibleOK, true}} {
				out := c.s.Score(it, tc.response)
				if out.Extracted != c.ext || out.Correct != c.ok {
					t.Errorf("flexible=%v: %+v, want %q %v", c.flexArm, out, c.ext, c.ok)
				}
				if tc.numericOnly && c.ok {
					c.s.Numeric = false
					if c.s.Score(it, tc.response).Correct {
						t.Errorf("flexible=%v: correct without numeric comparison", c.flexArm)
					}
				}
			}
		})
	}
}

func TestRegexExtractGroups(t *testing.T) {
	tests := []struct {
		pattern  string
		group    int
		fallback string
		in, want string
	}{
		{`\d+`, 0, "", "a 12 b 34", "12"},                          // no groups: the whole match
		{`\d+`, -1, "", "a 12 b 34", "34"},                         // last match
		{`\d+`, 2, "", "a 12 b 34", Invalid},                       // out of range
		{`x(\d*)`, 0, "", "x y", ""},                               // one empty group is kept
		{`(a)|(b)`, -1, "", "a b", "b"},                            // first non-empty group
		{`(a?)(b?)c`, 0, "none", "c", "none"},                      // all groups empty: fallback
		{`answer: (.*)`, 0, "", "answer:   B  \n", "B"},            // stripped
		{`the answer is (.*)\.`, 0, "", "the answer is 42.", "42"}, // a look-around rewritten
	}
	for _, tc := range tests {
		s := &RegexScorer{Pattern: regexp.MustCompile(tc.pattern), GroupSelect: tc.group, Fallback: tc.fallback}
		if got := s.Extract(tc.in); got != tc.want {
			t.Errorf("%s group %d on %q = %q, want %q", tc.pattern, tc.group, tc.in, got, tc.want)
		}
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"18", 18, true}, {"18.0", 18, true}, {"$18", 18, true}, {"1,000", 1000, true},
		{"1000.", 1000, true}, {" -3.5 ", -3.5, true}, {"$", 0, false}, {"abc", 0, false}, {"", 0, false},
	}
	for _, tc := range tests {
		got, ok := ParseNumber(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseNumber(%q) = %v, %v", tc.in, got, ok)
		}
	}
	s := &RegexScorer{Pattern: regexp.MustCompile(`[-$0-9.,]+`), GroupSelect: -1, Numeric: true}
	for _, tc := range []struct {
		target, resp string
		want         bool
	}{
		{"18", "it is 18.0", true}, {"18", "$18", true}, {"1000", "1,000", true}, {"1,000", "1000", true},
		{"18", "19", false}, {"18", "18.5", false},
	} {
		if got := s.Score(Item{Target: tc.target}, tc.resp).Correct; got != tc.want {
			t.Errorf("target %q response %q: %v", tc.target, tc.resp, got)
		}
	}
}

func TestChoiceScorer(t *testing.T) {
	it := Item{Choices: []string{"w", "x", "y", "z"}, Gold: 1, Target: "B"}
	tests := []struct {
		response string
		want     string
	}{
		{"B", "B"},
		{" B", "B"},
		{"B. x", "B"},
		{"(B) because", "B"},
		{"The answer is B.", "B"},
		{"the ANSWER IS: (C)", "C"},
		{"I think it is B", "B"}, // "I" is no letter of a 4-choice item
		{"Answer is E, no wait, A", "A"},
		{"b", Invalid},
		{"", Invalid},
		{"none of them", Invalid},
	}
	for _, tc := range tests {
		out := ChoiceScorer{}.Score(it, tc.response)
		if out.Extracted != tc.want || out.Correct != (tc.want == "B") {
			t.Errorf("%q: %+v, want %q", tc.response, out, tc.want)
		}
	}
	if got := ExtractLetter("E", 5); got != "E" {
		t.Errorf("five choices: %q", got)
	}
	for i, want := range []string{"A", "B", "Z", "?", "?"} {
		if got := Letter([]int{0, 1, 25, 26, -1}[i]); got != want {
			t.Errorf("Letter = %q, want %q", got, want)
		}
	}
}
