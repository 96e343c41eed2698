package datasets

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// TestNotRegularFiles checks that a FIFO or a device named as a task file
// or data file is refused at once instead of blocking or reading for ever.
func TestNotRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	task := filepath.Join(dir, "t.yml")
	for _, data := range []string{fifo, "/dev/zero"} {
		if err := os.WriteFile(task, []byte("name: t\ndata: "+data+"\nformat: jsonl\nprompt: x\ntarget: y\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(task)
		if err == nil || !strings.Contains(err.Error(), task+":2: data: data file: "+data+": not a regular file") {
			t.Errorf("data %s: %v", data, err)
		}
	}
	if _, err := Load(fifo); err == nil || !strings.Contains(err.Error(), "task file: "+fifo+": not a regular file") {
		t.Errorf("FIFO task file: %v", err)
	}
}
