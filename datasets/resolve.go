package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Resolve loads one task spec, the one rule every command reads a task by
// (a study's tasks and holdout, eval's and extend's --tasks):
//
//   - a task or task-set file, when one exists at spec (relative to dir
//     unless absolute; "x.yml@tune" names a part of a split file);
//   - else a built-in task: a public benchmark ("gsm8k", "arc_easy", …;
//     BuiltinNames, read from dataDir when given) or a toy task
//     ("toy:swapcase", "toy:swapcase@tune").
//
// Each task is cut to limit items (0: all; a task file's own limit, when
// smaller, wins). A path that is neither a regular file nor a directory (a
// FIFO, a device) is refused rather than read.
func Resolve(spec, dir, dataDir string, limit int) ([]*Task, error) {
	if limit < 0 {
		return nil, fmt.Errorf("negative limit %d", limit)
	}
	p := spec
	if !filepath.IsAbs(p) && dir != "" {
		p = filepath.Join(dir, p)
	}
	var ts []*Task
	if path, _ := CutPart(p); exists(path) {
		if err := checkTaskPath(path); err != nil {
			return nil, err
		}
		all, err := LoadAll(p)
		if err != nil {
			return nil, err
		}
		ts = all
	} else if strings.HasPrefix(spec, "toy:") || slices.Contains(BuiltinNames(), spec) {
		t, err := Builtin(spec, dataDir, limit)
		if err != nil {
			return nil, err
		}
		ts = []*Task{t}
	} else {
		return nil, fmt.Errorf("no such task file, and no built-in task of that name (built-ins: %s, toy:<task>[@tune]; mergetune tasks lists them with an example each)", strings.Join(BuiltinNames(), ", "))
	}
	for _, t := range ts {
		if limit > 0 && len(t.Items) > limit {
			t.Items = t.Items[:limit]
		}
	}
	return ts, nil
}

// exists reports whether path names something on disk.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// checkTaskPath refuses a task path that is neither a regular file nor a
// directory (a FIFO, a device such as /dev/zero), which reading would
// block on or never finish.
func checkTaskPath(path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().IsRegular() || fi.IsDir() {
		return nil
	}
	return fmt.Errorf("%s is not a regular file or directory (%s)", path, fi.Mode().Type())
}

// TaskKey is a task's short name: "toy:swapcase@tune" → "swapcase"; a part
// of a split task file, "gsm8k@tune" or "gsm8k@holdout", → "gsm8k"; other
// names are unchanged.
func TaskKey(name string) string {
	k := strings.TrimPrefix(name, "toy:")
	if i := strings.IndexByte(k, '@'); i >= 0 && strings.HasPrefix(name, "toy:") {
		k = k[:i]
	}
	for _, part := range []string{SplitTune, SplitHoldout} {
		if base, ok := strings.CutSuffix(k, "@"+part); ok && base != "" {
			return base
		}
	}
	return k
}
