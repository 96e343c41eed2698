package toy

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Split sizes used to train and evaluate the model family.
const (
	// DefaultTrain is the number of train items per task, capped at what a
	// task's input space holds (see Export).
	DefaultTrain = 2000
	// DefaultTune is the number of tune items per task.
	DefaultTune = 100
	// DefaultTest is the number of test items per task: the family's
	// README and predictions are computed on the first DefaultTest items.
	DefaultTest = 200
)

// DefaultSizes returns the split sizes used to train and evaluate the model
// family: up to 2000 train items, 100 tune items and 200 test items per task.
func DefaultSizes() map[string]int {
	return map[string]int{
		SplitTrain: DefaultTrain,
		SplitTune:  DefaultTune,
		SplitTest:  DefaultTest,
	}
}

// TaskInfo is the description of a task written to tasks.json by Export.
type TaskInfo struct {
	Name        string `json:"name"`
	Tag         string `json:"tag"`
	Description string `json:"description"`
	Distractor  string `json:"distractor"`
	Seed        uint64 `json:"seed"`
	Opposes     string `json:"opposes,omitempty"`
	Example     Item   `json:"example"`
}

// Export writes, for every task and split, DIR/<task name>/<split>.jsonl
// with one JSON object {"prompt", "target", "distractor"} per line, and
// DIR/tasks.json listing the tasks in order. sizes gives the number of items
// per split (nil means DefaultSizes); a split missing from sizes is skipped.
// A train split whose task has fewer distinct inputs than asked for is
// written with all it holds; for tune and test that is an error.
func Export(dir string, sizes map[string]int) error {
	if sizes == nil {
		sizes = DefaultSizes()
	}
	for s := range sizes {
		if _, err := splitBucket(s); err != nil {
			return err
		}
	}
	tasks := Tasks()
	infos := make([]TaskInfo, 0, len(tasks))
	for _, t := range tasks {
		infos = append(infos, TaskInfo{Name: t.Name, Tag: t.Tag, Description: t.Description,
			Distractor: t.Distractor, Seed: t.Seed, Opposes: t.Opposes, Example: t.Example()})
		for _, split := range Splits() {
			n, ok := sizes[split]
			if !ok {
				continue
			}
			items, err := t.Items(split, n)
			if err != nil && !(split == SplitTrain && errors.Is(err, ErrExhausted)) {
				return err
			}
			if err := writeJSONL(filepath.Join(dir, t.Name, split+".jsonl"), items); err != nil {
				return err
			}
		}
	}
	b, err := json.MarshalIndent(infos, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tasks.json"), append(b, '\n'), 0o644)
}

func writeJSONL(path string, items []Item) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return fmt.Errorf("toy: %s: %w", path, err)
		}
	}
	return w.Flush()
}
