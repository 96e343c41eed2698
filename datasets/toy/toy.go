// Package toy defines the synthetic character-level tasks of mergetune's
// offline test bed: short ASCII prompts of the form "<tag> <input>=" whose
// exact answer is a few bytes, with deterministic generators and disjoint
// train, tune and test splits.
//
// The tiny model family under datasets/toy/family (one base model and one
// fine-tune per task) was trained on these tasks; see its README.
//
// Formats: the prompt is Tag + " " + input + "=", the answer a model must
// generate is Target followed by "\n" (generation stops at the newline).
// Every prompt + target + "\n" fits in MaxLen bytes and is plain ASCII, so a
// byte-level tokenizer with token id = byte value encodes it in at most
// MaxLen tokens.
//
// Splits: which split an input belongs to depends only on a hash of the task
// tag and the input (60% train, 20% tune, 20% test), so the splits are
// disjoint whatever seed is used. The seed (Task.Seed) only decides which
// inputs are drawn from a split and in which order.
package toy

import (
	"errors"
	"fmt"
)

// MaxLen is the maximum length in bytes of a prompt, its target and the
// terminating newline: the context length of the model family.
const MaxLen = 32

// Split names accepted by Task.Items.
const (
	SplitTrain = "train"
	SplitTune  = "tune"
	SplitTest  = "test"
)

// Splits lists the split names in a fixed order.
func Splits() []string { return []string{SplitTrain, SplitTune, SplitTest} }

// ErrExhausted is wrapped by the error Task.Items returns when a split holds
// fewer distinct inputs than were asked for.
var ErrExhausted = errors.New("toy: split exhausted")

// Task is one synthetic task.
type Task struct {
	// Name is the task's identifier, also the directory name of its
	// fine-tune in the model family.
	Name string
	// Tag is the short word that starts every prompt of the task.
	Tag string
	// Description says in a few words what the answer is.
	Description string
	// Distractor says how the task's fixed wrong answer is formed.
	Distractor string
	// Seed is the default seed of the task's generator; Items uses it.
	Seed uint64
	// Opposes names the task whose target is this task's distractor and
	// whose distractor is this task's target (succ and pred), or is empty.
	// Merging such a pair asks one model for both rules on the same kind of
	// input; Unopposed leaves the second task of each pair out.
	Opposes string

	gen func(r *rng) (input, target, distractor string)
}

// Item is one example of a task.
type Item struct {
	// Prompt is Tag + " " + input + "=".
	Prompt string `json:"prompt"`
	// Target is the correct answer, without the terminating "\n".
	Target string `json:"target"`
	// Distractor is the task's fixed wrong answer for this input; it is
	// never equal to Target.
	Distractor string `json:"distractor"`
}

// Items returns n distinct items of the split ("train", "tune" or "test"),
// drawn with the task's Seed. See ItemsSeed.
func (t Task) Items(split string, n int) ([]Item, error) {
	return t.ItemsSeed(split, n, t.Seed)
}

// ItemsSeed returns n distinct items of the split ("train", "tune" or
// "test") drawn with the given seed. The result depends only on the task,
// the split, n's prefix and the seed: the first k items of a call with n >= k
// are the items of a call with n = k. If the split holds fewer than n
// distinct inputs, ItemsSeed returns those it found together with an error
// wrapping ErrExhausted.
func (t Task) ItemsSeed(split string, n int, seed uint64) ([]Item, error) {
	bucket, err := splitBucket(split)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("toy: negative item count %d", n)
	}
	if t.gen == nil {
		return nil, fmt.Errorf("toy: task %q has no generator", t.Name)
	}
	r := newRNG(seed ^ hash64(t.Tag+"/"+split))
	// The count is not trusted with an allocation, nor with the patience
	// below: both grow with the items found.
	seen := make(map[string]bool, min(n, 1<<12))
	items := make([]Item, 0, min(n, 1<<12))
	// Give up after this many consecutive draws that bring nothing new.
	maxMisses := 20000 + 20*min(n, 1<<16)
	for misses := 0; len(items) < n; {
		if misses >= maxMisses {
			return items, fmt.Errorf("%w: task %s, split %s: found %d of %d distinct items",
				ErrExhausted, t.Name, split, len(items), n)
		}
		in, target, distractor := t.gen(r)
		if distractor == target || seen[in] || bucketOf(t.Tag, in) != bucket {
			misses++
			continue
		}
		misses = 0
		seen[in] = true
		items = append(items, Item{Prompt: t.Tag + " " + in + "=", Target: target, Distractor: distractor})
	}
	return items, nil
}

// Example returns one test item of the task, for documentation.
func (t Task) Example() Item {
	it, err := t.Items(SplitTest, 1)
	if err != nil || len(it) == 0 {
		return Item{}
	}
	return it[0]
}

// Lookup returns the task with the given name or tag.
func Lookup(name string) (Task, bool) {
	for _, t := range Tasks() {
		if t.Name == name || t.Tag == name {
			return t, true
		}
	}
	return Task{}, false
}

// Unopposed returns the tasks in the order of Tasks, without the second
// task of each opposed pair (pred, last, mindigit, smaller): the default
// order in which task models are added when a merge is extended, because
// real task sets do not ask one model for a rule and its inverse.
func Unopposed() []Task {
	var out []Task
	seen := map[string]bool{}
	for _, t := range Tasks() {
		if t.Opposes != "" && seen[t.Opposes] {
			continue
		}
		seen[t.Name] = true
		out = append(out, t)
	}
	return out
}

// Names returns the names of all tasks, in the order of Tasks.
func Names() []string {
	ts := Tasks()
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	return names
}

const (
	trainPct = 60
	tunePct  = 20
)

// splitBucket maps a split name to its bucket number.
func splitBucket(split string) (int, error) {
	switch split {
	case SplitTrain:
		return 0, nil
	case SplitTune:
		return 1, nil
	case SplitTest:
		return 2, nil
	}
	return 0, fmt.Errorf("toy: unknown split %q (want train, tune or test)", split)
}

// bucketOf assigns an input of the task with the given tag to a split
// bucket by hash: 0 train, 1 tune, 2 test.
func bucketOf(tag, input string) int {
	h := hash64(tag+" "+input) % 100
	switch {
	case h < trainPct:
		return 0
	case h < trainPct+tunePct:
		return 1
	}
	return 2
}

// hash64 is 64-bit FNV-1a followed by a splitmix64 finalizer.
func hash64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// rng is splitmix64: tiny, and its output is fixed forever, unlike a
// library generator whose algorithms might change.
type rng struct{ s uint64 }

func newRNG(seed uint64) *rng { return &rng{s: seed} }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// intn returns a value in [0, n) (n > 0; the modulo bias is negligible for
// the small n used here).
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// between returns a value in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// str returns a string of length in [lo, hi] over the alphabet.
func (r *rng) str(alphabet string, lo, hi int) string {
	b := make([]byte, r.between(lo, hi))
	for i := range b {
		b[i] = alphabet[r.intn(len(alphabet))]
	}
	return string(b)
}
