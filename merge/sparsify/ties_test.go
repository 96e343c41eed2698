package sparsify

import (
	"math/rand"
	"slices"
	"testing"
)

// tieStream is n keys of which about a third equal tie, spread over the
// whole stream, the rest above or below it.
func tieStream(n int, seed int64, tie uint32) []uint32 {
	rng := rand.New(rand.NewSource(seed))
	keys := make([]uint32, n)
	for i := range keys {
		switch rng.Intn(3) {
		case 0:
			keys[i] = tie
		case 1:
			keys[i] = tie + 1 + uint32(rng.Intn(1000))
		default:
			keys[i] = uint32(rng.Intn(int(tie)))
		}
	}
	return keys
}

// TestResolveTiesWays: the one-scan and two-scan resolutions and
// ChooseTies given the tied elements keep the same elements, exactly Ties
// of them, those of lowest rank, whether the set is a list or a bit set;
// KeptTies lists them by range.
func TestResolveTiesWays(t *testing.T) {
	const tie = 1 << 20
	for _, n := range []int{1000, 100000} {
		keys := tieStream(n, int64(n), tie)
		read := func(off int, dst []uint32) { copy(dst, keys[off:]) }
		var tied []int
		above := 0
		for i, k := range keys {
			switch {
			case k == tie:
				tied = append(tied, i)
			case k > tie:
				above++
			}
		}
		order := TieOrder(9, "t", 2)
		// few kept ties (a list) and most of them (a bit set)
		for _, ties := range []int{3, len(tied) / 100, len(tied) - 1} {
			k := above + ties
			base := TopK(n, order, read, k)[0]
			if base.Bits != tie || base.Ties != ties || base.Equal != len(tied) {
				t.Fatalf("n=%d k=%d: cut %+v, want Bits %d Ties %d Equal %d", n, k, base, tie, ties, len(tied))
			}
			one, two, chosen := base, base, base
			one.kept, two.kept, chosen.kept = nil, nil, nil
			one.resolveTies(n, order, read, n)
			two.resolveTies(n, order, read, 0)
			chosen.ChooseTies(n, order, slices.Clone(tied))
			shuffled := slices.Clone(tied)
			rand.New(rand.NewSource(1)).Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
			unsorted := base
			unsorted.kept = nil
			unsorted.ChooseTies(n, order, shuffled)
			// the expected set: the ties of lowest rank
			byRank := slices.Clone(tied)
			slices.SortFunc(byRank, func(a, b int) int {
				ra, rb := order.Rank(a), order.Rank(b)
				if ra < rb {
					return -1
				}
				return 1
			})
			want := slices.Clone(byRank[:ties])
			slices.Sort(want)
			inWant := make([]bool, n)
			for _, i := range want {
				inWant[i] = true
			}
			for name, c := range map[string]Cut{"one scan": one, "two scans": two, "chosen": chosen, "unsorted": unsorted, "TopK": base} {
				if c.NeedsOrder() {
					t.Fatalf("%s: ties not settled", name)
				}
				if c.kept.len() != ties {
					t.Fatalf("%s n=%d: %d ties kept, want %d", name, n, c.kept.len(), ties)
				}
				var got []int
				for lo := 0; lo < n; lo += 77 {
					c.KeptTies(lo, min(n, lo+77), func(i int) { got = append(got, i) })
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%s n=%d ties=%d: kept %v…, want %v…", name, n, ties, got[:min(5, len(got))], want[:min(5, len(want))])
				}
				for i, key := range keys {
					wantKeep := key > tie || key == tie && inWant[i]
					if c.Keep(i, key) != wantKeep || (c.Mask(i, key) != 0) != wantKeep {
						t.Fatalf("%s: element %d (key %d) kept %v, want %v", name, i, key, c.Keep(i, key), wantKeep)
					}
				}
			}
			if !one.Same(&two, n) || !one.Same(&chosen, n) || !one.Same(&unsorted, n) || !one.Same(&base, n) {
				t.Fatalf("n=%d ties=%d: the resolutions' sets differ", n, ties)
			}
			if above, end := one.Span(); above != tie || end != 0 {
				t.Fatalf("Span of a partial cut = %d, %d; want %d, 0 (ties added by KeptTies)", above, end, tie)
			}
		}
	}
}

// TestTieOrderUnbiased: a cut keeping part of a tie group spread evenly
// over a stream keeps about the same share of it in each quarter, where
// keeping the lowest indices would fill the first quarters; other seeds
// and models keep other elements.
func TestTieOrderUnbiased(t *testing.T) {
	n := 1 << 18
	keys := tieStream(n, 1, 1<<20)
	read := func(off int, dst []uint32) { copy(dst, keys[off:]) }
	above, equal := 0, 0
	for _, k := range keys {
		if k > 1<<20 {
			above++
		} else if k == 1<<20 {
			equal++
		}
	}
	kept := func(order Stream) []int {
		c := TopK(n, order, read, above+equal*4/5)[0]
		var q [4]int
		c.KeptTies(0, n, func(i int) { q[i*4/n]++ })
		return q[:]
	}
	q := kept(TieOrder(0, "w", 0))
	total := 0
	for _, c := range q {
		total += c
	}
	for i, c := range q {
		if d := float64(c)/float64(total) - 0.25; d > 0.025 || d < -0.025 {
			t.Fatalf("kept ties per quarter %v: quarter %d is %.3f of them, not within 10%% of a quarter", q, i, float64(c)/float64(total))
		}
	}
	a, b := TopK(n, TieOrder(0, "w", 0), read, above+equal/2)[0], TopK(n, TieOrder(1, "w", 0), read, above+equal/2)[0]
	if a.Same(&b, n) {
		t.Fatalf("seeds 0 and 1 keep the same ties")
	}
	if c := TopK(n, TieOrder(0, "w", 1), read, above+equal/2)[0]; a.Same(&c, n) {
		t.Fatalf("models 0 and 1 keep the same ties")
	}
}

func TestTieSetEach(t *testing.T) {
	n := 1000
	members := []int{0, 1, 63, 64, 65, 127, 500, 998, 999}
	b := make([]uint64, (n+63)/64)
	for _, i := range members {
		b[i>>6] |= 1 << (i & 63)
	}
	list, set := newTieSet(n, 1), newTieSet(n, 500)
	for _, i := range members {
		list.add(i)
		set.add(i)
	}
	for _, s := range []*tieSet{list, set, fromBits(b, n, len(members)), fromBits(slices.Clone(b), n, 500)} {
		for _, r := range [][2]int{{0, 1000}, {1, 64}, {64, 65}, {65, 999}, {200, 300}, {999, 1000}, {5, 5}} {
			var got, want []int
			s.each(r[0], r[1], func(i int) { got = append(got, i) })
			for _, i := range members {
				if i >= r[0] && i < r[1] {
					want = append(want, i)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("list=%v each%v = %v, want %v", s.bits == nil, r, got, want)
			}
		}
		for i := range n {
			if s.has(i) != slices.Contains(members, i) {
				t.Errorf("list=%v has(%d) = %v", s.bits == nil, i, s.has(i))
			}
		}
	}
}

// FuzzTopKTies: for any keys (few distinct values, so ties abound), any
// cut size and any seed, the cut holds exactly the first k elements of the
// order (key descending, rank ascending), settled in one scan or two.
func FuzzTopKTies(f *testing.F) {
	f.Add([]byte{1, 1, 1, 2, 2, 0, 1, 3, 1, 1}, 4, uint64(0))
	f.Add([]byte{0, 0, 0, 0}, 2, uint64(7))
	f.Add(make([]byte, 300), 150, uint64(1))
	f.Fuzz(func(t *testing.T, data []byte, k int, seed uint64) {
		n := len(data)
		if n == 0 || n > 1<<14 {
			return
		}
		keys := make([]uint32, n)
		for i, b := range data {
			keys[i] = uint32(b & 7)
		}
		read := func(off int, dst []uint32) { copy(dst, keys[off:]) }
		order := TieOrder(seed, "f", 0)
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int {
			if keys[a] != keys[b] {
				return int(keys[b]) - int(keys[a])
			}
			if order.Rank(a) < order.Rank(b) {
				return -1
			}
			return 1
		})
		want := make([]bool, n)
		for _, i := range idx[:max(0, min(k, n))] {
			want[i] = true
		}
		one := TopK(n, order, read, k)[0]
		two := one
		if two.partial() {
			two.kept = nil
			two.resolveTies(n, order, read, 0)
		}
		for name, c := range map[string]Cut{"one scan": one, "two scans": two} {
			for i := range keys {
				if c.Keep(i, keys[i]) != want[i] || (c.Mask(i, keys[i]) != 0) != want[i] {
					t.Fatalf("%s n=%d k=%d: element %d (key %d) kept %v, want %v", name, n, k, i, keys[i], c.Keep(i, keys[i]), want[i])
				}
			}
		}
	})
}

func TestSortRuns(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	for _, runs := range []int{0, 1, 2, 3, 7, 64, 65, 200} {
		var v []int
		for range runs {
			at := rng.Intn(1000)
			for k := rng.Intn(50); k > 0; k-- {
				at += rng.Intn(3) // ascending, with repeats
				v = append(v, at)
			}
		}
		want := slices.Clone(v)
		slices.Sort(want)
		if got := sortRuns(v); !slices.Equal(got, want) {
			t.Fatalf("%d runs: sortRuns = %v, want %v", runs, got, want)
		}
	}
}
