package torchbin

import (
	"archive/zip"
	"strings"
	"testing"
)

// nested returns a pickle whose top list holds the one below twice,
// depth times over: printing it recursively would take 2^depth steps.
func nested(depth int) []byte {
	p := []byte{0x80, 2, ']', 'q', 0}
	for k := 1; k <= depth; k++ {
		p = append(p, ']', 'q', byte(k), 'h', byte(k-1), 'a', 'h', byte(k-1), 'a')
	}
	return p
}

// TestCyclicPickle: values that print for ever (a list holding itself,
// a list doubling at every level) give an error naming their type, not a
// stack overflow or a hang (found by FuzzUnpickle in CI).
func TestCyclicPickle(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"self-holding list as persistent id", []byte("\x80\x02]q\x00h\x00aQ."), "persistent id a list of 1 items"},
		{"self-holding list as key", []byte("\x80\x02}q\x00]q\x01h\x01aNs."), "state dict key a list of 1 items"},
		{"doubling list as persistent id", append(nested(80), 'Q', '.'), "persistent id a list of 2 items"},
	}
	for _, c := range cases {
		v, err := unpickle("cyc.bin", c.data, map[string]*storage{}, func(string) *zip.File { return nil })
		if err == nil {
			err = (&Checkpoint{Path: "cyc.bin"}).collect(v)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "cyc.bin: ") {
			t.Errorf("%s: %v, want an error naming the file and %q", c.name, err, c.want)
		}
	}
}
