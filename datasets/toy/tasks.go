package toy

import (
	"strconv"
	"strings"
)

const (
	lower  = "abcdefghijklmnopqrstuvwxyz"
	letter = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digits = "0123456789"
)

// Tasks returns the tasks, in a fixed order. Each call returns a fresh
// slice.
func Tasks() []Task {
	return append([]Task{
		{Name: "reverse", Tag: "rev", Seed: 101,
			Description: "the input letters in reverse order",
			Distractor:  "the input unchanged",
			gen: func(r *rng) (string, string, string) {
				in := r.str(lower, 3, 7)
				return in, reverse(in), in
			}},
		{Name: "upper", Tag: "up", Seed: 102,
			Description: "the input in upper case",
			Distractor:  "the input unchanged",
			gen: func(r *rng) (string, string, string) {
				in := r.str(lower, 3, 8)
				return in, strings.ToUpper(in), in
			}},
		{Name: "rot1", Tag: "rot", Seed: 103,
			Description: "each letter shifted one place forward (z to a)",
			Distractor:  "each letter shifted two places forward",
			gen: func(r *rng) (string, string, string) {
				in := r.str(lower, 3, 7)
				return in, shift(in, 1), shift(in, 2)
			}},
		{Name: "swapcase", Tag: "swc", Seed: 104,
			Description: "the case of every letter swapped",
			Distractor:  "the input unchanged",
			gen: func(r *rng) (string, string, string) {
				in := r.str(letter, 3, 8)
				return in, swapCase(in), in
			}},
		{Name: "rotleft", Tag: "rol", Seed: 105,
			Description: "the input rotated left by one (first letter moved to the end)",
			Distractor:  "the input rotated right by one",
			gen: func(r *rng) (string, string, string) {
				in := r.str(lower, 3, 7)
				return in, in[1:] + in[:1], in[len(in)-1:] + in[:len(in)-1]
			}},
		{Name: "swapends", Tag: "sfl", Seed: 106,
			Description: "the input with its first and last letters swapped",
			Distractor:  "the input unchanged",
			gen: func(r *rng) (string, string, string) {
				in := r.str(lower, 3, 7)
				n := len(in)
				return in, in[n-1:] + in[1:n-1] + in[:1], in
			}},
		{Name: "succ", Tag: "suc", Seed: 107,
			Opposes:     "pred",
			Description: "the number plus one",
			Distractor:  "the number minus one",
			gen: func(r *rng) (string, string, string) {
				n := r.between(1, 1999)
				return strconv.Itoa(n), strconv.Itoa(n + 1), strconv.Itoa(n - 1)
			}},
		{Name: "pred", Tag: "pre", Seed: 108,
			Opposes:     "succ",
			Description: "the number minus one",
			Distractor:  "the number plus one",
			gen: func(r *rng) (string, string, string) {
				n := r.between(1, 1999)
				return strconv.Itoa(n), strconv.Itoa(n - 1), strconv.Itoa(n + 1)
			}},
		{Name: "parity", Tag: "par", Seed: 109,
			Description: "even or odd",
			Distractor:  "the wrong parity",
			gen: func(r *rng) (string, string, string) {
				n := r.between(0, 99999)
				if n%2 == 0 {
					return strconv.Itoa(n), "even", "odd"
				}
				return strconv.Itoa(n), "odd", "even"
			}},
		{Name: "first", Tag: "fst", Seed: 110,
			Opposes:     "last",
			Description: "the first letter",
			Distractor:  "the last letter",
			gen: func(r *rng) (string, string, string) {
				in := r.str(lower, 3, 8)
				return in, in[:1], in[len(in)-1:]
			}},
		{Name: "last", Tag: "lst", Seed: 111,
			Opposes:     "first",
			Description: "the last letter",
			Distractor:  "the first letter",
			gen: func(r *rng) (string, string, string) {
				in := r.str(lower, 3, 8)
				return in, in[len(in)-1:], in[:1]
			}},
		{Name: "maxdigit", Tag: "max", Seed: 112,
			Opposes:     "mindigit",
			Description: "the largest digit",
			Distractor:  "the smallest digit",
			gen: func(r *rng) (string, string, string) {
				in := r.str(digits, 3, 7)
				lo, hi := minMax(in)
				return in, hi, lo
			}},
		{Name: "mindigit", Tag: "min", Seed: 113,
			Opposes:     "maxdigit",
			Description: "the smallest digit",
			Distractor:  "the largest digit",
			gen: func(r *rng) (string, string, string) {
				in := r.str(digits, 3, 7)
				lo, hi := minMax(in)
				return in, lo, hi
			}},
		{Name: "count", Tag: "cnt", Seed: 114,
			Description: "how many times the letter a occurs",
			Distractor:  "how many times the letter b occurs",
			gen: func(r *rng) (string, string, string) {
				in := r.str("abcd", 3, 9)
				return in, strconv.Itoa(strings.Count(in, "a")), strconv.Itoa(strings.Count(in, "b"))
			}},
		{Name: "majority", Tag: "maj", Seed: 115,
			Description: "the letter (x or y) that occurs more often; the length is odd",
			Distractor:  "the letter that occurs less often",
			gen: func(r *rng) (string, string, string) {
				in := r.str("xy", 2, 5)
				in += r.str("xy", len(in)+1, len(in)+1) // odd length 5..11
				if strings.Count(in, "x")*2 > len(in) {
					return in, "x", "y"
				}
				return in, "y", "x"
			}},
		{Name: "length", Tag: "len", Seed: 116,
			Description: "the number of letters",
			Distractor:  "the number of letters minus one",
			gen: func(r *rng) (string, string, string) {
				in := r.str(lower, 2, 9)
				return in, strconv.Itoa(len(in)), strconv.Itoa(len(in) - 1)
			}},
	}, moreTasks()...)
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// shift moves each lower-case letter k places forward, wrapping z to a.
func shift(s string, k int) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = 'a' + byte((int(c-'a')+k)%26)
	}
	return string(b)
}

func swapCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case c >= 'A' && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

// minMax returns the smallest and largest digit of s.
func minMax(s string) (lo, hi string) {
	l, h := s[0], s[0]
	for i := 1; i < len(s); i++ {
		l, h = min(l, s[i]), max(h, s[i])
	}
	return string(l), string(h)
}
