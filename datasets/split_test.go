package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeSplitTask writes a task file splitting data.jsonl (n records, q0…)
// by a seeded hash and returns its path.
func writeSplitTask(t *testing.T, dir string, n int, split string) string {
	t.Helper()
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "{\"question\": \"q%d\", \"answer\": \"a%d\"}\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.jsonl"), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	task := "name: s\ndata: data.jsonl\nprompt: \"{{.question}}\"\ntarget: answer\nsplit: " + split + "\n"
	p := filepath.Join(dir, "s.yml")
	if err := os.WriteFile(p, []byte(task), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func targets(ts ...*Task) []string {
	var out []string
	for _, t := range ts {
		for _, it := range t.Items {
			out = append(out, it.Target)
		}
	}
	return out
}

// TestHashSplit: the parts of a split file are disjoint, cover the file,
// come out near the holdout fraction, and keep every record in its part
// when records are appended (the assignment hashes the record, not its
// position); another seed gives another split.
func TestHashSplit(t *testing.T) {
	dir := t.TempDir()
	p := writeSplitTask(t, dir, 200, "{holdout: 0.3, seed: 1}")
	all, err := LoadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != "s@tune" || all[0].Split != SplitTune || all[1].Name != "s@holdout" || all[1].Split != SplitHoldout {
		t.Fatalf("tasks %v", all)
	}
	tune, hold := targets(all[0]), targets(all[1])
	for _, x := range tune {
		if slices.Contains(hold, x) {
			t.Errorf("%s is in both parts", x)
		}
	}
	if len(tune)+len(hold) != 200 {
		t.Errorf("%d + %d records, want 200", len(tune), len(hold))
	}
	if len(hold) < 40 || len(hold) > 80 {
		t.Errorf("%d of 200 held out, want about 60", len(hold))
	}
	// Load with a part gives the same items as LoadAll's.
	h, err := Load(p + "@holdout")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(targets(h), hold) {
		t.Errorf("Load(@holdout) %v, want %v", targets(h), hold)
	}

	// Append 100 records: the first 200 stay where they were.
	writeSplitTask(t, dir, 300, "{holdout: 0.3, seed: 1}")
	grown, err := LoadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	tune2, hold2 := targets(grown[0]), targets(grown[1])
	if !slices.Equal(tune2[:len(tune)], tune) || !slices.Equal(hold2[:len(hold)], hold) {
		t.Errorf("appending records moved earlier ones between the parts")
	}
	if len(tune2)+len(hold2) != 300 {
		t.Errorf("%d + %d records after appending, want 300", len(tune2), len(hold2))
	}

	// Another seed, another split.
	writeSplitTask(t, dir, 200, "{holdout: 0.3, seed: 2}")
	other, err := LoadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(targets(other[1]), hold) {
		t.Error("seeds 1 and 2 gave the same holdout part")
	}
}

// TestHashSplitKey: with key, the split hashes that field alone, so
// records that differ elsewhere share a part when their keys match.
func TestHashSplitKey(t *testing.T) {
	dir := t.TempDir()
	var sb strings.Builder
	for i := range 50 {
		fmt.Fprintf(&sb, "{\"id\": \"k%d\", \"question\": \"q%d\", \"answer\": \"a\"}\n{\"id\": \"k%d\", \"question\": \"other q%d\", \"answer\": \"b\"}\n", i, i, i, i)
	}
	os.WriteFile(filepath.Join(dir, "data.jsonl"), []byte(sb.String()), 0o644)
	task := "name: s\ndata: data.jsonl\nprompt: \"{{.id}} {{.question}}\"\ntarget: answer\nsplit: {holdout: 0.4, seed: 7, key: id}\n"
	p := filepath.Join(dir, "s.yml")
	os.WriteFile(p, []byte(task), 0o644)
	all, err := LoadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	part := map[string]string{}
	for _, tk := range all {
		for _, it := range tk.Items {
			id := strings.Fields(it.Prompt)[0]
			if prev, ok := part[id]; ok && prev != tk.Split {
				t.Errorf("key %s is in both parts", id)
			}
			part[id] = tk.Split
		}
	}
}

// TestSplitReferences: a split file must be named with its part where one
// task is wanted; a part of a file that is not split is refused unless it
// is the task's role; task sets take parts on their entries.
func TestSplitReferences(t *testing.T) {
	if _, err := Load(td("split.yml")); err == nil || !strings.Contains(err.Error(), "name a part: testdata/split.yml@tune or testdata/split.yml@holdout") {
		t.Errorf("Load without a part: %v", err)
	}
	if _, err := Load(td("qa.yml") + "@tune"); err == nil || !strings.Contains(err.Error(), "@tune names a part of a split file, but the task has no split") {
		t.Errorf("qa.yml@tune (a holdout task): %v", err)
	}
	if tk, err := Load(td("qa.yml") + "@holdout"); err != nil || tk.Name != "qa" {
		t.Errorf("qa.yml@holdout (its role): %v", err)
	}
	ts, err := LoadAll(td("split_set.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tk := range ts {
		names = append(names, tk.Name+"/"+tk.Split)
	}
	if want := []string{"qa_split@tune/tune", "qa_split@holdout/holdout"}; !slices.Equal(names, want) {
		t.Errorf("tasks %v, want %v", names, want)
	}
}
