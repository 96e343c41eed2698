package vec

import (
	"slices"
	"testing"
)

// TestDrawsEveryPath compares each vector draw loop this CPU can run with
// the scalar draws (Draws itself takes only the best one).
func TestDrawsEveryPath(t *testing.T) {
	const n = 1000
	want := make([]uint32, n)
	drawsGo(want, 0x1234, 77, 0)
	var x [8]uint64
	for l := range x {
		x[l] = 0x1234 + uint64(77+l)*golden
	}
	paths := map[string]func(*uint32, *uint64, int){}
	if avx2 {
		paths["avx2"] = drawsAVX2
	}
	if avx512 {
		paths["avx512"] = drawsAVX512
	}
	for name, draws := range paths {
		got := make([]uint32, n)
		draws(&got[0], &x[0], n&^7)
		drawsGo(got, 0x1234, 77, n&^7)
		if !slices.Equal(got, want) {
			t.Errorf("%s draws differ from the scalar draws", name)
		}
	}
	t.Logf("vector draw paths checked: %d", len(paths))
}
