package search

import (
	"context"
	"testing"

	"github.com/mergetune/mergetune/results"
)

// TestConfirmBeforeFreeze: freezing with a confirmation re-scores the top
// trials on more items (their task models' baselines on those items
// recorded beside), records each one's tune objective and confirmed
// score, and freezes the one with the best confirmed score.
func TestConfirmBeforeFreeze(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := writeStudy(t, dir, `method: task_arithmetic
parameters: {weight: 1}
space:
  lambda: {type: float, low: 0.1, high: 1.5}
objective: normalized
sampler: {type: random, seed: 4}
trials: 5
confirm: {top: 3, items: 30}
`)
	if s.Confirm == nil || s.Confirm.Top != 3 || s.Confirm.Items != 30 {
		t.Fatalf("confirm %+v, want top 3, 30 items", s.Confirm)
	}
	if _, err := Run(ctx, s, Options{}); err != nil {
		t.Fatal(err)
	}
	r, err := FreezeWith(ctx, s, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := results.Open(ctx, s.Storage)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs, err := db.Trials(ctx, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	top := TopTrials(recs, 3)
	cs, err := db.Confirmations(ctx, s.Name)
	if err != nil || len(cs) != 3 {
		t.Fatalf("%d confirmations (%v), want 3", len(cs), err)
	}
	chosen := -1
	for i, c := range cs {
		if c.Trial != top[i].Number || c.TuneRank != i+1 || c.Tune != *top[i].Objective || c.Items != 2*30 {
			t.Errorf("confirmation %d: %+v, want trial %d (objective %v) on 60 items", i, c, top[i].Number, *top[i].Objective)
		}
		if c.Chosen {
			if chosen >= 0 {
				t.Errorf("two trials chosen: %d and %d", cs[chosen].Trial, c.Trial)
			}
			chosen = i
		}
	}
	if chosen < 0 {
		t.Fatal("no trial chosen")
	}
	for _, c := range cs {
		if c.Confirm > cs[chosen].Confirm {
			t.Errorf("trial %d confirmed %v above the chosen trial %d's %v", c.Trial, c.Confirm, cs[chosen].Trial, cs[chosen].Confirm)
		}
	}
	if r.Trial != cs[chosen].Trial || r.Confirmed == nil || *r.Confirmed != cs[chosen].Confirm || r.ConfirmItems != 60 {
		t.Errorf("recipe of trial %d, confirmed %v on %d items; want trial %d, %v on 60", r.Trial, r.Confirmed, r.ConfirmItems, cs[chosen].Trial, cs[chosen].Confirm)
	}
	// The task models' scores on the confirmation items normalize it.
	bs, err := db.Baselines(ctx, s.Name+ConfirmSet)
	if err != nil || len(bs) != 2*2 {
		t.Fatalf("%d confirmation baselines (%v), want 2 models × 2 tasks", len(bs), err)
	}
	for _, b := range bs {
		if b.N != 30 {
			t.Errorf("confirmation baseline %+v: %d items, want 30", b, b.N)
		}
	}
	// Confirmation is not part of the definition.
	if _, ok := s.Definition()["confirm"]; ok {
		t.Error("confirm is in the definition")
	}
}
