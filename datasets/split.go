package datasets

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// splitSpec is a task file's split: {holdout: F, seed: S, key: FIELD}: the
// data file's records are assigned to the parts tune and holdout by a
// seeded hash of each record (its content, or its field key), not by
// position, so the parts stay disjoint, and every record stays in its
// part, when records are added to the file or the file is reordered.
type splitSpec struct {
	holdout float64 // the expected fraction of records in holdout
	seed    int64
	key     string // the field hashed; "": the whole record
}

// parseHashSplit reads the mapping form of the split field.
func parseHashSplit(file string, n *yaml.Node) (*splitSpec, error) {
	ps, err := pairs(file, "split", n, []string{"holdout", "seed", "key"})
	if err != nil {
		return nil, err
	}
	sp := &splitSpec{}
	hasHoldout := false
	for _, p := range ps {
		k, v := p[0].Value, p[1]
		field := "split." + k
		switch k {
		case "holdout":
			hasHoldout = true
			if v.Kind != yaml.ScalarNode {
				return nil, specError(file, v, field, "want a fraction between 0 and 1, got a %s", kindName(v))
			}
			f, err := strconv.ParseFloat(v.Value, 64)
			if err != nil || !(f > 0 && f < 1) {
				return nil, specError(file, v, field, "want a fraction between 0 and 1 (exclusive), got %q", v.Value)
			}
			sp.holdout = f
		case "seed":
			if v.Kind != yaml.ScalarNode {
				return nil, specError(file, v, field, "want an integer, got a %s", kindName(v))
			}
			sp.seed, err = strconv.ParseInt(v.Value, 10, 64)
			if err != nil {
				return nil, specError(file, v, field, "want an integer, got %q", v.Value)
			}
		case "key":
			sp.key, err = scalarString(file, field, v)
			if err == nil && sp.key == "" {
				err = specError(file, v, field, "want a field name, got \"\"")
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if !hasHoldout {
		return nil, specError(file, n, "split", "missing field \"holdout\" (the fraction of the records held out, e.g. {holdout: 0.3, seed: 1})")
	}
	return sp, nil
}

// inHoldout reports whether a record falls in the holdout part: the first
// 8 bytes of SHA-256(seed, NUL, key) as a fraction in [0, 1) are below
// the holdout fraction. The key is the record's field sp.key as text, or
// the whole record as JSON (keys sorted): identical records always share
// a part.
func (sp *splitSpec) inHoldout(rec Record) (bool, error) {
	var key []byte
	if sp.key != "" {
		v, ok := rec[sp.key]
		if !ok {
			return false, noField(rec, sp.key)
		}
		if s, ok := v.(string); ok {
			key = []byte(s)
		} else if key, ok = jsonKey(v); !ok {
			return false, fmt.Errorf("field %q cannot be hashed", sp.key)
		}
	} else {
		var ok bool
		if key, ok = jsonKey(map[string]any(rec)); !ok {
			return false, fmt.Errorf("the record cannot be hashed")
		}
	}
	h := sha256.New()
	h.Write([]byte(strconv.FormatInt(sp.seed, 10)))
	h.Write([]byte{0})
	h.Write(key)
	sum := h.Sum(nil)
	u := float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
	return u < sp.holdout, nil
}

// jsonKey encodes a decoded value canonically (object keys sorted).
func jsonKey(v any) ([]byte, bool) {
	b, err := json.Marshal(v)
	return b, err == nil
}

// cutPart splits a task reference "tasks/x.yml@tune" into the path and
// the part (SplitTune or SplitHoldout); a reference without one, or a
// file whose name itself ends so, has part "".
func cutPart(ref string) (path, part string) {
	for _, p := range []string{SplitTune, SplitHoldout} {
		if base, ok := strings.CutSuffix(ref, "@"+p); ok && base != "" {
			if _, err := os.Stat(ref); err == nil {
				return ref, ""
			}
			return base, p
		}
	}
	return ref, ""
}

// CutPart splits a task reference such as "tasks/x.yml@tune" into the
// task file path and the part (SplitTune, SplitHoldout, or "" when the
// reference names none).
func CutPart(ref string) (path, part string) { return cutPart(ref) }

// buildParts builds the tasks of a spec: for a split file, the part asked
// for, or both (tune, then holdout) when part is ""; else the one task,
// whose role must match a part asked for.
func buildParts(s *taskSpec, part string) ([]*Task, error) {
	if s.hashSplit == nil {
		if part != "" && cmp.Or(s.split, SplitTune) != part {
			return nil, fmt.Errorf("%s: task %q: @%s names a part of a split file, but the task has no split: {holdout: F, seed: S} (its role is %s)", at(s.file, &yaml.Node{Line: s.line}), s.name, part, cmp.Or(s.split, SplitTune))
		}
		t, err := build(s)
		if err != nil {
			return nil, err
		}
		return []*Task{t}, nil
	}
	parts := []string{SplitTune, SplitHoldout}
	if part != "" {
		parts = []string{part}
	}
	var out []*Task
	for _, p := range parts {
		c := *s
		c.part = p
		t, err := build(&c)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
