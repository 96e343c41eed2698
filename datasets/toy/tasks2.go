package toy

import (
	"strconv"
	"strings"
)

// digitWords spells the digits 0..9.
var digitWords = [10]string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}

// moreTasks returns the tasks added when the family grew from 16 to 48
// tasks (issue 15): new prompt and answer shapes (two operands separated by
// a comma or a colon, words separated by spaces, yes/no and symbol answers,
// bit strings, spelled digits), each with a fixed wrong rule as distractor.
func moreTasks() []Task {
	return []Task{
		{Name: "dedup", Tag: "ddp", Seed: 117,
			Description: "runs of a repeated letter collapsed to one letter",
			Distractor:  "the input unchanged",
			gen: func(r *rng) (string, string, string) {
				in := r.str("abc", 3, 9)
				var b []byte
				for i := 0; i < len(in); i++ {
					if i == 0 || in[i] != in[i-1] {
						b = append(b, in[i])
					}
				}
				return in, string(b), in
			}},
		{Name: "interleave", Tag: "zip", Seed: 118,
			Description: "the two words of equal length interleaved letter by letter",
			Distractor:  "the two words concatenated",
			gen: func(r *rng) (string, string, string) {
				n := r.between(2, 4)
				a, b := r.str(lower, n, n), r.str(lower, n, n)
				var z []byte
				for i := 0; i < n; i++ {
					z = append(z, a[i], b[i])
				}
				return a + "," + b, string(z), a + b
			}},
		{Name: "swaphalves", Tag: "swh", Seed: 119,
			Description: "the two comma-separated words in swapped order",
			Distractor:  "the input unchanged",
			gen: func(r *rng) (string, string, string) {
				a, b := r.str(lower, 1, 5), r.str(lower, 1, 5)
				return a + "," + b, b + "," + a, a + "," + b
			}},
		{Name: "acronym", Tag: "acr", Seed: 120,
			Description: "the first letter of every word",
			Distractor:  "the last letter of every word",
			gen: func(r *rng) (string, string, string) {
				ws := r.words(2, 4, 2, 4)
				var f, l []byte
				for _, w := range ws {
					f, l = append(f, w[0]), append(l, w[len(w)-1])
				}
				return strings.Join(ws, " "), string(f), string(l)
			}},
		{Name: "capitalize", Tag: "cap", Seed: 121,
			Description: "every word with its first letter in upper case",
			Distractor:  "only the first word capitalized",
			gen: func(r *rng) (string, string, string) {
				ws := r.words(2, 3, 2, 3)
				all := make([]string, len(ws))
				for i, w := range ws {
					all[i] = strings.ToUpper(w[:1]) + w[1:]
				}
				one := append([]string{all[0]}, ws[1:]...)
				return strings.Join(ws, " "), strings.Join(all, " "), strings.Join(one, " ")
			}},
		{Name: "dashjoin", Tag: "dsh", Seed: 122,
			Description: "the words joined by dashes",
			Distractor:  "the words joined without separator",
			gen: func(r *rng) (string, string, string) {
				ws := r.words(2, 3, 2, 3)
				return strings.Join(ws, " "), strings.Join(ws, "-"), strings.Join(ws, "")
			}},
		{Name: "double", Tag: "dbl", Seed: 123,
			Description: "every letter written twice",
			Distractor:  "the whole input written twice",
			gen: func(r *rng) (string, string, string) {
				in := r.str(lower, 2, 6)
				var b []byte
				for i := 0; i < len(in); i++ {
					b = append(b, in[i], in[i])
				}
				return in, string(b), in + in
			}},
		{Name: "atbash", Tag: "atb", Seed: 124,
			Description: "each letter mirrored in the alphabet (a to z, b to y)",
			Distractor:  "the input unchanged",
			gen: func(r *rng) (string, string, string) {
				in := r.str(lower, 3, 8)
				b := []byte(in)
				for i, c := range b {
					b[i] = 'z' - (c - 'a')
				}
				return in, string(b), in
			}},
		{Name: "maskvowels", Tag: "vwl", Seed: 125,
			Description: "every vowel replaced by *",
			Distractor:  "the input unchanged",
			gen: func(r *rng) (string, string, string) {
				in := r.str(lower, 3, 8)
				b := []byte(in)
				for i, c := range b {
					if strings.IndexByte("aeiou", c) >= 0 {
						b[i] = '*'
					}
				}
				return in, string(b), in
			}},
		{Name: "nodigits", Tag: "nod", Seed: 126,
			Description: "the letters of the input, digits removed",
			Distractor:  "the digits of the input, letters removed",
			gen: func(r *rng) (string, string, string) {
				in := r.str("abcdefgh0123456789", 4, 9)
				var l, d []byte
				for i := 0; i < len(in); i++ {
					if in[i] >= '0' && in[i] <= '9' {
						d = append(d, in[i])
					} else {
						l = append(l, in[i])
					}
				}
				if len(l) == 0 || len(d) == 0 {
					return "", "", "" // letters or digits only: rejected
				}
				return in, string(l), string(d)
			}},
		{Name: "secondword", Tag: "snd", Seed: 127,
			Description: "the second word",
			Distractor:  "the first word",
			gen: func(r *rng) (string, string, string) {
				ws := r.words(2, 4, 2, 4)
				return strings.Join(ws, " "), ws[1], ws[0]
			}},
		{Name: "longest", Tag: "lng", Seed: 128,
			Description: "the longest word (inputs with a unique longest and shortest word)",
			Distractor:  "the shortest word",
			gen: func(r *rng) (string, string, string) {
				ws := r.words(2, 3, 1, 5)
				long, short := 0, 0
				for i, w := range ws {
					if len(w) > len(ws[long]) {
						long = i
					}
					if len(w) < len(ws[short]) {
						short = i
					}
				}
				for i, w := range ws {
					if (i != long && len(w) == len(ws[long])) || (i != short && len(w) == len(ws[short])) {
						return "", "", "" // a tie: rejected (distractor == target)
					}
				}
				return strings.Join(ws, " "), ws[long], ws[short]
			}},
		{Name: "middle", Tag: "mid", Seed: 129,
			Description: "the middle letter of a word of odd length",
			Distractor:  "the first letter",
			gen: func(r *rng) (string, string, string) {
				in := r.str(lower, 1, 4)
				in += r.str(lower, len(in)+1, len(in)+1)
				return in, in[len(in)/2 : len(in)/2+1], in[:1]
			}},
		{Name: "repeat", Tag: "rep", Seed: 130,
			Description: "the word after * repeated as many times as the number before it",
			Distractor:  "the word repeated twice",
			gen: func(r *rng) (string, string, string) {
				n := r.between(1, 4)
				w := r.str(lower, 1, 3)
				return strconv.Itoa(n) + "*" + w, strings.Repeat(w, n), w + w
			}},
		{Name: "palindrome", Tag: "pal", Seed: 131,
			Description: "yes if the word reads the same backwards, else no",
			Distractor:  "the wrong answer",
			gen: func(r *rng) (string, string, string) {
				in := r.str("abcd", 2, 4)
				if r.intn(2) == 0 {
					in += reverse(in[:len(in)-r.intn(2)])
				} else {
					in += r.str("abcd", 1, 3)
				}
				return yesNo(in, in == reverse(in))
			}},
		{Name: "contains", Tag: "has", Seed: 132,
			Description: "yes if the letter before the colon occurs in the word after it, else no",
			Distractor:  "the wrong answer",
			gen: func(r *rng) (string, string, string) {
				w := r.str(lower, 3, 7)
				i := r.intn(len(w))
				c := w[i : i+1]
				if r.intn(2) == 0 {
					c = r.str(lower, 1, 1)
				}
				in := c + ":" + w
				return yesNo(in, strings.Contains(w, c))
			}},
		{Name: "equal", Tag: "eqs", Seed: 133,
			Description: "yes if the two comma-separated words are equal, else no",
			Distractor:  "the wrong answer",
			gen: func(r *rng) (string, string, string) {
				a := r.str("abcde", 2, 5)
				b := a
				if r.intn(2) == 0 {
					bb := []byte(a)
					bb[r.intn(len(bb))] = "abcde"[r.intn(5)]
					b = string(bb)
				}
				in := a + "," + b
				return yesNo(in, a == b)
			}},
		{Name: "compare", Tag: "cmp", Seed: 134,
			Description: "< or > between two different two-digit numbers",
			Distractor:  "the opposite sign",
			gen: func(r *rng) (string, string, string) {
				a, b := r.between(10, 99), r.between(10, 99)
				in := strconv.Itoa(a) + "," + strconv.Itoa(b)
				switch {
				case a < b:
					return in, "<", ">"
				case a > b:
					return in, ">", "<"
				}
				return "", "", ""
			}},
		{Name: "position", Tag: "pos", Seed: 135,
			Description: "the position (from 1) of the letter before the colon in the word after it, which holds it once",
			Distractor:  "the position counted from 0",
			gen: func(r *rng) (string, string, string) {
				w := r.str(lower, 3, 9)
				i := r.intn(len(w))
				if strings.Count(w, w[i:i+1]) != 1 {
					return "", "", ""
				}
				return w[i:i+1] + ":" + w, strconv.Itoa(i + 1), strconv.Itoa(i)
			}},
		{Name: "index", Tag: "idx", Seed: 136,
			Description: "the letter at the position (from 1) before the colon",
			Distractor:  "the letter after it",
			gen: func(r *rng) (string, string, string) {
				w := r.str(lower, 4, 9)
				i := r.between(1, len(w)-1)
				return strconv.Itoa(i) + ":" + w, w[i-1 : i], w[i : i+1]
			}},
		{Name: "countdigits", Tag: "ndg", Seed: 137,
			Description: "how many digits the input holds",
			Distractor:  "how many letters it holds",
			gen: func(r *rng) (string, string, string) {
				in := r.str("abcdef0123456789", 3, 9)
				n := 0
				for i := 0; i < len(in); i++ {
					if in[i] <= '9' {
						n++
					}
				}
				return in, strconv.Itoa(n), strconv.Itoa(len(in) - n)
			}},
		{Name: "wordcount", Tag: "wct", Seed: 138,
			Description: "the number of words",
			Distractor:  "the number of spaces",
			gen: func(r *rng) (string, string, string) {
				ws := r.words(1, 6, 1, 3)
				return strings.Join(ws, " "), strconv.Itoa(len(ws)), strconv.Itoa(len(ws) - 1)
			}},
		{Name: "decdigits", Tag: "dec", Seed: 139,
			Description: "every digit decreased by one (0 to 9)",
			Distractor:  "every digit increased by one (9 to 0)",
			gen: func(r *rng) (string, string, string) {
				in := r.str(digits, 3, 7)
				d, u := []byte(in), []byte(in)
				for i, c := range d {
					d[i] = '0' + (c-'0'+9)%10
					u[i] = '0' + (c-'0'+1)%10
				}
				return in, string(d), string(u)
			}},
		{Name: "spell", Tag: "spl", Seed: 140,
			Description: "the digits spelled as words",
			Distractor:  "every digit one more (9 to 0), spelled",
			gen: func(r *rng) (string, string, string) {
				in := r.str(digits, 2, 4)
				t, d := spellDigits(in, 0), spellDigits(in, 1)
				if len("spl "+in+"="+max(t, d)) >= MaxLen || len(t) >= MaxLen-10 || len(d) >= MaxLen-10 {
					return "", "", "" // too long: rejected
				}
				return in, t, d
			}},
		{Name: "unspell", Tag: "num", Seed: 141,
			Description: "the spelled digits written as digits",
			Distractor:  "every digit one more (9 to 0)",
			gen: func(r *rng) (string, string, string) {
				d := r.str(digits, 2, 4)
				u := []byte(d)
				for i, c := range u {
					u[i] = '0' + (c-'0'+1)%10
				}
				in := spellDigits(d, 0)
				if len("num "+in+"="+d) >= MaxLen {
					return "", "", "" // too long: rejected
				}
				return in, d, string(u)
			}},
		{Name: "lookup", Tag: "get", Seed: 142,
			Description: "the digit that follows the key before the colon in the key-digit pairs after it",
			Distractor:  "the digit of the first pair",
			gen: func(r *rng) (string, string, string) {
				n := r.between(2, 4)
				keys := []byte("abcdef")
				for i := range keys { // partial Fisher-Yates: n distinct keys
					j := i + r.intn(len(keys)-i)
					keys[i], keys[j] = keys[j], keys[i]
				}
				var pairs []byte
				for i := 0; i < n; i++ {
					pairs = append(pairs, keys[i], digits[r.intn(10)])
				}
				q := r.intn(n)
				in := string(keys[q]) + ":" + string(pairs)
				return in, string(pairs[2*q+1]), string(pairs[1])
			}},
		{Name: "larger", Tag: "big", Seed: 143, Opposes: "smaller",
			Description: "the larger of two different two-digit numbers",
			Distractor:  "the smaller one",
			gen: func(r *rng) (string, string, string) {
				a, b := r.between(10, 99), r.between(10, 99)
				in := strconv.Itoa(a) + "," + strconv.Itoa(b)
				return in, strconv.Itoa(max(a, b)), strconv.Itoa(min(a, b))
			}},
		{Name: "smaller", Tag: "sml", Seed: 144, Opposes: "larger",
			Description: "the smaller of two different two-digit numbers",
			Distractor:  "the larger one",
			gen: func(r *rng) (string, string, string) {
				a, b := r.between(10, 99), r.between(10, 99)
				in := strconv.Itoa(a) + "," + strconv.Itoa(b)
				return in, strconv.Itoa(min(a, b)), strconv.Itoa(max(a, b))
			}},
		{Name: "revwords", Tag: "rvw", Seed: 145,
			Description: "the words in reverse order",
			Distractor:  "the input unchanged",
			gen: func(r *rng) (string, string, string) {
				ws := r.words(2, 3, 1, 3)
				rev := make([]string, len(ws))
				for i, w := range ws {
					rev[len(ws)-1-i] = w
				}
				return strings.Join(ws, " "), strings.Join(rev, " "), strings.Join(ws, " ")
			}},
		{Name: "xor", Tag: "xor", Seed: 146,
			Description: "the bitwise exclusive or of two bit strings of equal length",
			Distractor:  "the bitwise or",
			gen: func(r *rng) (string, string, string) {
				n := r.between(3, 6)
				a, b := r.str("01", n, n), r.str("01", n, n)
				x, o := []byte(a), []byte(a)
				for i := range x {
					x[i] = '0' + ((a[i] - '0') ^ (b[i] - '0'))
					o[i] = '0' + ((a[i] - '0') | (b[i] - '0'))
				}
				return a + "," + b, string(x), string(o)
			}},
		{Name: "invert", Tag: "inv", Seed: 147,
			Description: "every bit flipped",
			Distractor:  "the input unchanged",
			gen: func(r *rng) (string, string, string) {
				in := r.str("01", 3, 10)
				b := []byte(in)
				for i, c := range b {
					b[i] = '0' + '1' - c
				}
				return in, string(b), in
			}},
		{Name: "ones", Tag: "one", Seed: 148,
			Description: "how many bits are 1",
			Distractor:  "how many bits are 0",
			gen: func(r *rng) (string, string, string) {
				in := r.str("01", 3, 10)
				n := strings.Count(in, "1")
				return in, strconv.Itoa(n), strconv.Itoa(len(in) - n)
			}},
	}
}

// yesNo is a classification item: the answer yes or no, the distractor the
// other one.
func yesNo(in string, ok bool) (string, string, string) {
	if ok {
		return in, "yes", "no"
	}
	return in, "no", "yes"
}

// words returns between lo and hi words of lowercase letters, each of
// length minLen..maxLen.
func (r *rng) words(lo, hi, minLen, maxLen int) []string {
	ws := make([]string, r.between(lo, hi))
	for i := range ws {
		ws[i] = r.str(lower, minLen, maxLen)
	}
	return ws
}

// spellDigits spells every digit of d plus k (mod 10) as a word, the words
// separated by spaces.
func spellDigits(d string, k int) string {
	ws := make([]string, len(d))
	for i := range d {
		ws[i] = digitWords[(int(d[i]-'0')+k)%10]
	}
	return strings.Join(ws, " ")
}
