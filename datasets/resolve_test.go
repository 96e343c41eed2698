package datasets

import (
	"strings"
	"testing"
)

// TestResolve checks the one task-spec rule: a file relative to dir (or a
// part of a split file), else a built-in task (a public benchmark such as
// gsm8k, or a toy task), cut to the limit; a device or an unknown name is
// an error.
func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		name, spec, dir string
		limit           int
		want            []string // task names
		split           string   // the first task's role
		err             string
	}{
		{name: "file relative to dir", spec: "qa.yml", dir: "testdata", want: []string{"qa"}},
		{name: "part of a split file", spec: "split.yml@tune", dir: "testdata", split: SplitTune},
		{name: "public benchmark", spec: "gsm8k", limit: 3, want: []string{"gsm8k"}, split: SplitHoldout},
		{name: "toy tune split", spec: "toy:swapcase@tune", limit: 5, want: []string{"toy:swapcase@tune"}, split: SplitTune},
		{name: "device", spec: "/dev/zero", err: "/dev/zero is not a regular file or directory"},
		{name: "unknown", spec: "nope", dir: "testdata", err: "no such task file, and no built-in task of that name (built-ins: arc_challenge"},
		{name: "negative limit", spec: "gsm8k", limit: -1, err: "negative limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := Resolve(tc.spec, tc.dir, "", tc.limit)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) == 0 {
				t.Fatal("no tasks")
			}
			for i, n := range tc.want {
				if i >= len(ts) || ts[i].Name != n {
					t.Fatalf("tasks %v, want names %v", names(ts), tc.want)
				}
			}
			if tc.split != "" && ts[0].Split != tc.split {
				t.Errorf("split %s, want %s", ts[0].Split, tc.split)
			}
			for _, task := range ts {
				if tc.limit > 0 && len(task.Items) > tc.limit {
					t.Errorf("task %s has %d items, want at most %d", task.Name, len(task.Items), tc.limit)
				}
			}
		})
	}
}

func names(ts []*Task) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}
