package toy

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/test_split.sha256")

// oracle computes each task's target and distractor from the input,
// independently of the generators.
var oracle = map[string]func(in string) (target, distractor string){
	"reverse": func(in string) (string, string) {
		r := []rune(in)
		slices.Reverse(r)
		return string(r), in
	},
	"upper": func(in string) (string, string) { return strings.ToUpper(in), in },
	"rot1": func(in string) (string, string) {
		f := func(k rune) func(rune) rune {
			return func(c rune) rune { return 'a' + (c-'a'+k)%26 }
		}
		return strings.Map(f(1), in), strings.Map(f(2), in)
	},
	"swapcase": func(in string) (string, string) {
		return strings.Map(func(c rune) rune {
			if strings.ContainsRune(lower, c) {
				return c - 32
			}
			return c + 32
		}, in), in
	},
	"rotleft":  func(in string) (string, string) { return in[1:] + in[:1], in[len(in)-1:] + in[:len(in)-1] },
	"swapends": func(in string) (string, string) { return in[len(in)-1:] + in[1:len(in)-1] + in[:1], in },
	"succ": func(in string) (string, string) {
		n, _ := strconv.Atoi(in)
		return fmt.Sprint(n + 1), fmt.Sprint(n - 1)
	},
	"pred": func(in string) (string, string) {
		n, _ := strconv.Atoi(in)
		return fmt.Sprint(n - 1), fmt.Sprint(n + 1)
	},
	"parity": func(in string) (string, string) {
		if (in[len(in)-1]-'0')%2 == 0 {
			return "even", "odd"
		}
		return "odd", "even"
	},
	"first": func(in string) (string, string) { return in[:1], in[len(in)-1:] },
	"last":  func(in string) (string, string) { return in[len(in)-1:], in[:1] },
	"maxdigit": func(in string) (string, string) {
		b := []byte(in)
		return string(slices.Max(b)), string(slices.Min(b))
	},
	"mindigit": func(in string) (string, string) {
		b := []byte(in)
		return string(slices.Min(b)), string(slices.Max(b))
	},
	"count": func(in string) (string, string) {
		return fmt.Sprint(strings.Count(in, "a")), fmt.Sprint(strings.Count(in, "b"))
	},
	"majority": func(in string) (string, string) {
		if 2*strings.Count(in, "x") > len(in) {
			return "x", "y"
		}
		return "y", "x"
	},
	"length": func(in string) (string, string) { return fmt.Sprint(len(in)), fmt.Sprint(len(in) - 1) },
	"dedup": func(in string) (string, string) {
		return string(slices.Compact([]byte(in))), in
	},
	"interleave": func(in string) (string, string) {
		a, b, _ := strings.Cut(in, ",")
		var z strings.Builder
		for i := range a {
			z.WriteString(a[i:i+1] + b[i:i+1])
		}
		return z.String(), a + b
	},
	"swaphalves": func(in string) (string, string) {
		a, b, _ := strings.Cut(in, ",")
		return b + "," + a, in
	},
	"acronym": func(in string) (string, string) {
		var f, l string
		for _, w := range strings.Fields(in) {
			f, l = f+w[:1], l+w[len(w)-1:]
		}
		return f, l
	},
	"capitalize": func(in string) (string, string) {
		ws := strings.Fields(in)
		for i, w := range ws {
			ws[i] = strings.ToUpper(w[:1]) + w[1:]
		}
		return strings.Join(ws, " "), strings.ToUpper(in[:1]) + in[1:]
	},
	"dashjoin": func(in string) (string, string) {
		return strings.ReplaceAll(in, " ", "-"), strings.ReplaceAll(in, " ", "")
	},
	"double": func(in string) (string, string) {
		var b strings.Builder
		for _, c := range in {
			b.WriteString(strings.Repeat(string(c), 2))
		}
		return b.String(), in + in
	},
	"atbash": func(in string) (string, string) {
		return strings.Map(func(c rune) rune { return 'a' + 'z' - c }, in), in
	},
	"maskvowels": func(in string) (string, string) {
		return strings.NewReplacer("a", "*", "e", "*", "i", "*", "o", "*", "u", "*").Replace(in), in
	},
	"nodigits": func(in string) (string, string) {
		isDigit := func(c rune) bool { return c >= '0' && c <= '9' }
		return strings.Map(func(c rune) rune {
				if isDigit(c) {
					return -1
				}
				return c
			}, in), strings.Map(func(c rune) rune {
				if !isDigit(c) {
					return -1
				}
				return c
			}, in)
	},
	"secondword": func(in string) (string, string) {
		ws := strings.Fields(in)
		return ws[1], ws[0]
	},
	"longest": func(in string) (string, string) {
		ws := strings.Fields(in)
		byLen := func(a, b string) int { return len(a) - len(b) }
		return slices.MaxFunc(ws, byLen), slices.MinFunc(ws, byLen)
	},
	"middle": func(in string) (string, string) { return in[len(in)/2 : len(in)/2+1], in[:1] },
	"repeat": func(in string) (string, string) {
		n, w, _ := strings.Cut(in, "*")
		k, _ := strconv.Atoi(n)
		return strings.Repeat(w, k), w + w
	},
	"palindrome": func(in string) (string, string) {
		r := []byte(in)
		slices.Reverse(r)
		return yesNoOracle(string(r) == in)
	},
	"contains": func(in string) (string, string) {
		c, w, _ := strings.Cut(in, ":")
		return yesNoOracle(strings.Contains(w, c))
	},
	"equal": func(in string) (string, string) {
		a, b, _ := strings.Cut(in, ",")
		return yesNoOracle(a == b)
	},
	"compare": func(in string) (string, string) {
		a, b, _ := strings.Cut(in, ",")
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		if x < y {
			return "<", ">"
		}
		return ">", "<"
	},
	"position": func(in string) (string, string) {
		c, w, _ := strings.Cut(in, ":")
		i := strings.Index(w, c)
		return fmt.Sprint(i + 1), fmt.Sprint(i)
	},
	"index": func(in string) (string, string) {
		n, w, _ := strings.Cut(in, ":")
		i, _ := strconv.Atoi(n)
		return w[i-1 : i], w[i : i+1]
	},
	"countdigits": func(in string) (string, string) {
		n := 0
		for _, c := range in {
			if c >= '0' && c <= '9' {
				n++
			}
		}
		return fmt.Sprint(n), fmt.Sprint(len(in) - n)
	},
	"wordcount": func(in string) (string, string) {
		n := len(strings.Fields(in))
		return fmt.Sprint(n), fmt.Sprint(strings.Count(in, " "))
	},
	"decdigits": func(in string) (string, string) {
		return strings.Map(func(c rune) rune { return '0' + (c-'0'+9)%10 }, in),
			strings.Map(func(c rune) rune { return '0' + (c-'0'+1)%10 }, in)
	},
	"spell": func(in string) (string, string) {
		var t, d []string
		for _, c := range in {
			t = append(t, spelled[c-'0'])
			d = append(d, spelled[(c-'0'+1)%10])
		}
		return strings.Join(t, " "), strings.Join(d, " ")
	},
	"unspell": func(in string) (string, string) {
		var t, d string
		for _, w := range strings.Fields(in) {
			k := slices.Index(spelled[:], w)
			t, d = t+fmt.Sprint(k), d+fmt.Sprint((k+1)%10)
		}
		return t, d
	},
	"lookup": func(in string) (string, string) {
		k, pairs, _ := strings.Cut(in, ":")
		i := strings.Index(pairs, k)
		return pairs[i+1 : i+2], pairs[1:2]
	},
	"larger": func(in string) (string, string) {
		a, b, _ := strings.Cut(in, ",")
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return fmt.Sprint(max(x, y)), fmt.Sprint(min(x, y))
	},
	"smaller": func(in string) (string, string) {
		a, b, _ := strings.Cut(in, ",")
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return fmt.Sprint(min(x, y)), fmt.Sprint(max(x, y))
	},
	"revwords": func(in string) (string, string) {
		ws := strings.Fields(in)
		slices.Reverse(ws)
		return strings.Join(ws, " "), in
	},
	"xor": func(in string) (string, string) {
		a, b, _ := strings.Cut(in, ",")
		var x, o []byte
		for i := range a {
			x = append(x, "01"[(a[i]^b[i])&1])
			o = append(o, "01"[(a[i]|b[i])&1])
		}
		return string(x), string(o)
	},
	"invert": func(in string) (string, string) {
		return strings.NewReplacer("0", "1", "1", "0").Replace(in), in
	},
	"ones": func(in string) (string, string) {
		n := strings.Count(in, "1")
		return fmt.Sprint(n), fmt.Sprint(strings.Count(in, "0"))
	},
}

// spelled spells the digits, for the oracles of spell and unspell.
var spelled = [10]string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}

func yesNoOracle(ok bool) (string, string) {
	if ok {
		return "yes", "no"
	}
	return "no", "yes"
}

// TestUnopposed checks the opposed pairs: each names its partner, the
// partner names it back, the pair's target and distractor rules are
// swapped, and Unopposed keeps the first task of each pair only.
func TestUnopposed(t *testing.T) {
	pairs := 0
	for _, task := range Tasks() {
		if task.Opposes == "" {
			continue
		}
		pairs++
		o, ok := Lookup(task.Opposes)
		if !ok || o.Opposes != task.Name {
			t.Fatalf("task %s opposes %q, which does not oppose it back", task.Name, task.Opposes)
		}
		it := task.Example()
		in := strings.TrimSuffix(strings.TrimPrefix(it.Prompt, task.Tag+" "), "=")
		if tg, d := oracle[o.Name](in); tg != it.Distractor || d != it.Target {
			t.Errorf("%s on %q: target/distractor %q/%q, %s's %q/%q", task.Name, in, it.Target, it.Distractor, o.Name, tg, d)
		}
	}
	un := Unopposed()
	if len(un) != len(Tasks())-pairs/2 {
		t.Errorf("Unopposed keeps %d of %d tasks with %d opposed pairs", len(un), len(Tasks()), pairs/2)
	}
	kept := map[string]bool{}
	for _, task := range un {
		if kept[task.Opposes] {
			t.Errorf("Unopposed keeps both %s and %s", task.Opposes, task.Name)
		}
		kept[task.Name] = true
	}
	if !kept["succ"] || kept["pred"] {
		t.Errorf("Unopposed keeps succ %v, pred %v: want the first of the pair", kept["succ"], kept["pred"])
	}
}

func TestTaskList(t *testing.T) {
	ts := Tasks()
	if len(ts) < 16 {
		t.Fatalf("%d tasks, want at least 16", len(ts))
	}
	names, tags := map[string]bool{}, map[string]bool{}
	for _, task := range ts {
		if task.Name == "" || task.Tag == "" || task.Description == "" || task.Distractor == "" {
			t.Errorf("task %+v: empty field", task)
		}
		if strings.ContainsAny(task.Tag, " =\n") {
			t.Errorf("task %s: tag %q contains a separator", task.Name, task.Tag)
		}
		if names[task.Name] || tags[task.Tag] || names[task.Tag] || tags[task.Name] {
			t.Errorf("task %s (%s): duplicate name or tag", task.Name, task.Tag)
		}
		names[task.Name], tags[task.Tag] = true, true
		if _, ok := oracle[task.Name]; !ok {
			t.Errorf("task %s has no oracle in the test", task.Name)
		}
		for _, key := range []string{task.Name, task.Tag} {
			got, ok := Lookup(key)
			if !ok || got.Name != task.Name {
				t.Errorf("Lookup(%q) = %s, %v", key, got.Name, ok)
			}
		}
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup(nope) succeeded")
	}
	if !slices.Equal(Names(), slices.Collect(func(yield func(string) bool) {
		for _, task := range ts {
			if !yield(task.Name) {
				return
			}
		}
	})) {
		t.Error("Names does not follow Tasks")
	}
}

func TestItems(t *testing.T) {
	sizes := DefaultSizes()
	for _, task := range Tasks() {
		t.Run(task.Name, func(t *testing.T) {
			inputs := map[string]string{}
			for _, split := range Splits() {
				items, err := task.Items(split, sizes[split])
				if err != nil && !(split == SplitTrain && errors.Is(err, ErrExhausted)) {
					t.Fatalf("%s: %v", split, err)
				}
				if split != SplitTrain && len(items) != sizes[split] {
					t.Fatalf("%s: %d items, want %d", split, len(items), sizes[split])
				}
				if split == SplitTrain && len(items) < 1000 {
					t.Errorf("train: only %d items", len(items))
				}
				for _, it := range items {
					checkItem(t, task, it)
					in := strings.TrimSuffix(strings.TrimPrefix(it.Prompt, task.Tag+" "), "=")
					if prev, ok := inputs[in]; ok {
						t.Fatalf("input %q in %s and %s", in, prev, split)
					}
					inputs[in] = split
				}
			}
		})
	}
}

func checkItem(t *testing.T, task Task, it Item) {
	t.Helper()
	full := it.Prompt + it.Target + "\n"
	if len(full) > MaxLen {
		t.Errorf("%q: %d bytes, more than %d", full, len(full), MaxLen)
	}
	for _, s := range []string{it.Prompt, it.Target, it.Distractor} {
		for i := 0; i < len(s); i++ {
			if s[i] < ' ' || s[i] > '~' {
				t.Errorf("%q: byte %#x is not printable ASCII", s, s[i])
			}
		}
	}
	if !strings.HasPrefix(it.Prompt, task.Tag+" ") || !strings.HasSuffix(it.Prompt, "=") {
		t.Errorf("prompt %q is not %q + input + \"=\"", it.Prompt, task.Tag+" ")
	}
	if it.Target == "" || it.Distractor == it.Target || len(it.Prompt+it.Distractor+"\n") > MaxLen {
		t.Errorf("%q: target %q, distractor %q", it.Prompt, it.Target, it.Distractor)
	}
	in := strings.TrimSuffix(strings.TrimPrefix(it.Prompt, task.Tag+" "), "=")
	if strings.ContainsAny(in, "=\n") || in == "" || strings.TrimSpace(in) != in || strings.Contains(in, "  ") {
		t.Errorf("%q: bad input %q", it.Prompt, in)
	}
	if f := oracle[task.Name]; f != nil {
		if tg, d := f(in); tg != it.Target || d != it.Distractor {
			t.Errorf("%q: got %q/%q, oracle %q/%q", it.Prompt, it.Target, it.Distractor, tg, d)
		}
	}
}

func TestDeterminism(t *testing.T) {
	for _, task := range Tasks() {
		for _, split := range Splits() {
			a, err1 := task.Items(split, 50)
			b, err2 := task.Items(split, 80)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if !slices.Equal(a, b[:50]) {
				t.Errorf("%s/%s: not deterministic or not prefix-stable", task.Name, split)
			}
			c, err := task.ItemsSeed(split, 50, task.Seed+1)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Equal(a, c) {
				t.Errorf("%s/%s: another seed gives the same items", task.Name, split)
			}
			for _, it := range c {
				checkItem(t, task, it)
			}
		}
	}
}

// TestSeedKeepsSplits checks that the split of an input does not depend on
// the seed.
func TestSeedKeepsSplits(t *testing.T) {
	task, _ := Lookup("succ")
	test := map[string]bool{}
	for seed := uint64(0); seed < 3; seed++ {
		items, err := task.ItemsSeed(SplitTest, 100, seed)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			test[it.Prompt] = true
		}
	}
	for _, split := range []string{SplitTrain, SplitTune} {
		for seed := uint64(0); seed < 3; seed++ {
			items, _ := task.ItemsSeed(split, 300, seed)
			for _, it := range items {
				if test[it.Prompt] {
					t.Fatalf("%q is in test and in %s (seed %d)", it.Prompt, split, seed)
				}
			}
		}
	}
}

func TestItemsErrors(t *testing.T) {
	task, _ := Lookup("majority")
	tests := []struct {
		name      string
		split     string
		n         int
		exhausted bool
	}{
		{"unknown split", "dev", 10, false},
		{"negative", SplitTest, -1, false},
		{"too many", SplitTest, 5000, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items, err := task.Items(tc.split, tc.n)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrExhausted) != tc.exhausted {
				t.Fatalf("error %v, exhausted %v", err, tc.exhausted)
			}
			if tc.exhausted && (len(items) < 100 || len(items) >= tc.n) {
				t.Fatalf("%d partial items", len(items))
			}
		})
	}
	if items, err := task.Items(SplitTest, 0); err != nil || len(items) != 0 {
		t.Fatalf("n=0: %v, %v", items, err)
	}
	if _, err := (Task{Name: "x", Tag: "x"}).Items(SplitTest, 1); err == nil {
		t.Fatal("task without generator: no error")
	}
}

// TestTestSplitGolden pins the default test split of every task: the model
// family's README accuracies and predictions.jsonl were computed on it.
func TestTestSplitGolden(t *testing.T) {
	var b strings.Builder
	for _, task := range Tasks() {
		items, err := task.Items(SplitTest, DefaultTest)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		for _, it := range items {
			fmt.Fprintf(h, "%s\t%s\t%s\n", it.Prompt, it.Target, it.Distractor)
		}
		fmt.Fprintf(&b, "%s %s\n", hex.EncodeToString(h.Sum(nil)), task.Name)
	}
	path := filepath.Join("testdata", "test_split.sha256")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != b.String() {
		t.Errorf("test splits changed; the model family was trained on the old ones\ngot:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestExport(t *testing.T) {
	dir := t.TempDir()
	sizes := map[string]int{SplitTrain: 5000, SplitTest: 7}
	if err := Export(dir, sizes); err != nil {
		t.Fatal(err)
	}
	var infos []TaskInfo
	b, err := os.ReadFile(filepath.Join(dir, "tasks.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &infos); err != nil {
		t.Fatal(err)
	}
	if len(infos) != len(Tasks()) {
		t.Fatalf("%d tasks in tasks.json", len(infos))
	}
	for _, info := range infos {
		task, _ := Lookup(info.Name)
		if info.Tag != task.Tag || info.Example != task.Example() {
			t.Errorf("tasks.json entry %+v", info)
		}
		test, _ := task.Items(SplitTest, 7)
		if got := readJSONL(t, filepath.Join(dir, info.Name, "test.jsonl")); !slices.Equal(got, test) {
			t.Errorf("%s: test.jsonl differs from Items", info.Name)
		}
		if got := readJSONL(t, filepath.Join(dir, info.Name, "train.jsonl")); len(got) < 1000 {
			t.Errorf("%s: %d train items", info.Name, len(got))
		}
		if _, err := os.Stat(filepath.Join(dir, info.Name, "tune.jsonl")); !os.IsNotExist(err) {
			t.Errorf("%s: tune.jsonl written though not asked for", info.Name)
		}
	}
	if err := Export(dir, map[string]int{"dev": 1}); err == nil {
		t.Error("unknown split: no error")
	}
	if err := Export(dir, map[string]int{SplitTest: 100000}); !errors.Is(err, ErrExhausted) {
		t.Errorf("oversized test split: %v", err)
	}
}

func readJSONL(t *testing.T, path string) []Item {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var items []Item
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var it Item
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	return items
}
