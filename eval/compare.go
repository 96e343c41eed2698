package eval

import "fmt"

// Comparison is a paired comparison of two models on the items of one task
// that both answered (an item skipped by either is left out).
type Comparison struct {
	Task string
	// N is the number of paired items.
	N int
	// Both, OnlyA, OnlyB and Neither count the items both models got
	// right, only A, only B, and neither.
	Both, OnlyA, OnlyB, Neither int
	// AccA and AccB are the accuracies of A and B on the paired items,
	// Diff is AccA − AccB.
	AccA, AccB, Diff float64
	// DiffCI95 is the 95% interval of Diff (PairedDiff).
	DiffCI95 [2]float64
	// P is the two-sided p-value of McNemar's exact test of equal
	// accuracy (McNemarExact).
	P float64
}

// Compare pairs the items of a and b, two models' results on the same task,
// by item ID. It fails when the tasks differ or share no item.
func Compare(a, b *TaskResult) (Comparison, error) {
	if a.Task != b.Task {
		return Comparison{}, fmt.Errorf("eval: compare: tasks %q and %q differ", a.Task, b.Task)
	}
	c := Comparison{Task: a.Task}
	bByID := make(map[string]ItemResult, len(b.Items))
	for _, it := range b.Items {
		if it.Long != LongSkipped {
			bByID[it.ID] = it
		}
	}
	for _, x := range a.Items {
		y, ok := bByID[x.ID]
		if !ok || x.Long == LongSkipped {
			continue
		}
		c.N++
		switch {
		case x.Correct && y.Correct:
			c.Both++
		case x.Correct:
			c.OnlyA++
		case y.Correct:
			c.OnlyB++
		default:
			c.Neither++
		}
	}
	if c.N == 0 {
		return c, fmt.Errorf("eval: compare: task %s: the two results share no answered item", a.Task)
	}
	n := float64(c.N)
	c.AccA, c.AccB = float64(c.Both+c.OnlyA)/n, float64(c.Both+c.OnlyB)/n
	c.Diff = c.AccA - c.AccB
	c.DiffCI95[0], c.DiffCI95[1] = PairedDiff(c.Both, c.OnlyA, c.OnlyB, c.Neither)
	c.P = McNemarExact(c.OnlyA, c.OnlyB)
	return c, nil
}
