package results

import (
	"context"
	"reflect"
	"testing"
)

func TestClaims(t *testing.T)         { testClaims(t, openTemp) }
func TestPostgresClaims(t *testing.T) { testClaims(t, openPostgresTemp) }

// testClaims records claims and plots, reads them back in table order,
// and replaces a claim and a plot's points.
func testClaims(t *testing.T, open func(*testing.T) *DB) {
	ctx := context.Background()
	db := open(t)
	if cs, ps, err := db.Claims(ctx); err != nil || cs != nil || ps != nil {
		t.Fatalf("empty database: %v %v %v", cs, ps, err)
	}
	a := Claim{ID: "a", Order: 2, Paper: "P", Statement: "s", Measure: "m", Value: 0.5, Lo: 0.4, Hi: 0.6, Threshold: 0,
		Units: 8, Verdict: VerdictHolds, Plot: "pa", Run: "full"}
	b := a
	b.ID, b.Order, b.Verdict = "b", 1, VerdictInconclusive
	pa := ClaimPlot{Name: "pa", Title: "t", XLabel: "x", YLabel: "y", Points: []ClaimPoint{
		{Series: "s1", X: 1, Y: 0.5, Lo: 0.4, Hi: 0.6}, {Series: "s1", Detail: true, X: 2, Y: 0.7, Lo: 0.7, Hi: 0.7}}}
	pb := ClaimPlot{Name: "pb", Bars: true, Points: []ClaimPoint{{Series: "soup", Label: "rot1", Y: 0.9, Lo: 0.8, Hi: 1}}}
	if err := db.PutClaims(ctx, []Claim{a, b}, []ClaimPlot{pa, pb}); err != nil {
		t.Fatal(err)
	}
	a.Value, a.Verdict = 0.1, VerdictDoesNotHold
	pa.Points = pa.Points[:1]
	if err := db.PutClaims(ctx, []Claim{a}, []ClaimPlot{pa}); err != nil {
		t.Fatal(err)
	}
	cs, ps, err := db.Claims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Claim{b, a}; !reflect.DeepEqual(cs, want) {
		t.Errorf("claims %+v, want %+v", cs, want)
	}
	if want := []ClaimPlot{pa, pb}; !reflect.DeepEqual(ps, want) {
		t.Errorf("plots %+v, want %+v", ps, want)
	}
}
