package datasets

import (
	"io/fs"
	"path/filepath"
	"testing"
)

// TestBuiltinDataEmbedded checks that every built-in task's file, its
// README and its licences are embedded, so that an installed binary and a
// bare clone serve the built-in tasks without a data directory.
func TestBuiltinDataEmbedded(t *testing.T) {
	want := []string{"README.md", "LICENSE.gsm8k", "LICENSE.llm-foundry"}
	for _, n := range BuiltinNames() {
		want = append(want, adapters()[n].file)
	}
	for _, name := range want {
		b, err := fs.ReadFile(BuiltinData(), name)
		if err != nil || len(b) == 0 {
			t.Errorf("embedded %s: %d bytes, %v", name, len(b), err)
		}
	}
}

// TestBuiltinDataInTaskFiles checks the built-in names in a task set and
// "built-in:<file>" as a task file's data.
func TestBuiltinDataInTaskFiles(t *testing.T) {
	tasks, err := LoadAll(td("builtin_set.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 || tasks[0].Name != "copa" || len(tasks[0].Items) != 100 ||
		tasks[1].Name != "copa3" || len(tasks[1].Items) != 3 || tasks[1].Data != "built-in:copa.jsonl" {
		t.Fatalf("tasks %+v", tasks)
	}
	if tasks[0].Items[0].ID != "copa.jsonl:1" || tasks[1].Items[0].Prompt != tasks[0].Items[0].Prompt {
		t.Errorf("items %q, %q", tasks[0].Items[0].ID, tasks[1].Items[0].Prompt)
	}
	path := filepath.Join("testdata", "bad", "builtin_missing.yml")
	_, err = Load(path)
	want := path + ":2: data: data file built-in:nope.jsonl: open nope.jsonl: file does not exist"
	if err == nil || err.Error() != want {
		t.Errorf("missing built-in file: %v\nwant %s", err, want)
	}
}
