package datasets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLongItemsField checks the task option long_items: truncate by
// default, skip when asked, and an unknown value an error naming the file,
// field and value.
func TestLongItemsField(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "d.jsonl"), []byte(`{"q": "a", "a": "b"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ field, want, err string }{
		{"", LongItemsTruncate, ""},
		{"long_items: skip\n", LongItemsSkip, ""},
		{"long_items: truncate\n", LongItemsTruncate, ""},
		{"long_items: often\n", "", `long_items: unknown value "often" (want truncate or skip)`},
	} {
		path := filepath.Join(dir, "t.yml")
		spec := "name: t\ndata: d.jsonl\nprompt: \"{{.q}}\"\ntarget: a\n" + tc.field
		if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		task, err := Load(path)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) {
				t.Errorf("%q: error %v, want %q naming %s", tc.field, err, tc.err, path)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.field, err)
		case task.LongItems != tc.want:
			t.Errorf("%q: LongItems %q, want %q", tc.field, task.LongItems, tc.want)
		}
	}
}
