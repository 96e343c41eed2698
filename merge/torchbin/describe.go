package torchbin

import (
	"fmt"

	"github.com/nlpodyssey/gopickle/types"
)

// describe names a value taken from a pickle for an error message
// without walking it: gopickle's containers print themselves
// recursively, so a list that holds itself (one memo GET away) would
// never finish printing, and one that holds another twice, nested a few
// dozen times, would print for ever. Containers are named by type and
// length, strings are cut at 64 bytes.
func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "None"
	case string:
		if len(t) > 64 {
			return fmt.Sprintf("%q…", t[:64])
		}
		return fmt.Sprintf("%q", t)
	case int, int64, float64, bool:
		return fmt.Sprint(t)
	case *types.Tuple:
		return fmt.Sprintf("a tuple of %d items", t.Len())
	case *types.List:
		return fmt.Sprintf("a list of %d items", t.Len())
	case *types.Dict:
		return fmt.Sprintf("a dict of %d items", t.Len())
	case *types.OrderedDict:
		return fmt.Sprintf("an OrderedDict of %d items", t.Len())
	case *storage:
		return "storage " + t.key
	case *tensorValue:
		return "a tensor"
	default:
		return fmt.Sprintf("a %T", v)
	}
}
