package datasets

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// fakeHFCache lays out a Hugging Face hub cache holding allenai/ai2_arc
// (configuration ARC-Easy, test split in two shards) as huggingface_hub
// does, and points HF_HUB_CACHE at it.
func fakeHFCache(t *testing.T) string {
	t.Helper()
	cache := t.TempDir()
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_HOME", "")
	repo := filepath.Join(cache, "datasets--allenai--ai2_arc")
	snap := filepath.Join(repo, "snapshots", "0123abc", "ARC-Easy")
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(repo, "refs"), 0o755)
	os.WriteFile(filepath.Join(repo, "refs", "main"), []byte("0123abc"), 0o644)
	// An older snapshot that refs/main does not name.
	os.MkdirAll(filepath.Join(repo, "snapshots", "old999", "ARC-Easy"), 0o755)
	rows := hfARCRows()
	for i, part := range [][]hfARCRow{rows[:2], rows[2:]} {
		var buf bytes.Buffer
		if err := parquet.Write(&buf, part); err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(snap, "test-0000"+string(rune('0'+i))+"-of-00002.parquet")
		if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cache
}

// TestHFCacheDataset reads a dataset by name from the local Hugging Face
// cache: the split's shards in order, the snapshot refs/main names.
func TestHFCacheDataset(t *testing.T) {
	fakeHFCache(t)
	dir := t.TempDir()
	task := filepath.Join(dir, "arc.yml")
	os.WriteFile(task, []byte(`name: arc_hf
data: hf:allenai/ai2_arc/ARC-Easy/test
prompt: "Question: {{.question}}{{range $i, $c := .choices.text}}\n{{letter $i}}. {{$c}}{{end}}\nAnswer:"
target: "{{range $i, $l := .choices.label}}{{if eq $l $.answerKey}}{{index $.choices.text $i}}{{end}}{{end}}"
`), 0o644)
	tk, err := Load(task)
	if err != nil {
		t.Fatal(err)
	}
	if len(tk.Items) != 3 || tk.Items[2].ID != "hf:allenai/ai2_arc/ARC-Easy/test[2]" || tk.Items[2].Target != "solid" || tk.Data != "hf:allenai/ai2_arc/ARC-Easy/test" {
		t.Errorf("task %+v", tk)
	}

	for ref, want := range map[string]string{
		"hf:allenai/ai2_arc/ARC-Easy/validation": "no Parquet files of split validation of configuration ARC-Easy",
		"hf:openai/gsm8k/main/test":              "dataset openai/gsm8k is not in the Hugging Face cache",
		"hf:gsm8k/test":                          "want hf:OWNER/NAME/CONFIG/SPLIT",
		"hf:a/../b/c":                            "want hf:OWNER/NAME/CONFIG/SPLIT",
	} {
		os.WriteFile(task, []byte("name: x\ndata: "+ref+"\nprompt: \"{{.question}}\"\ntarget: answerKey\n"), 0o644)
		_, err := Load(task)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), task) {
			t.Errorf("%s: %v\nwant %q", ref, err, want)
		}
	}
}
