package datasets

import (
	"gopkg.in/yaml.v3"
)

// What a task does with an item longer than the model's context (the task
// file's long_items field).
const (
	// LongItemsTruncate cuts the prompt from the left until it fits, with
	// a warning (lm-evaluation-harness's behaviour); the default.
	LongItemsTruncate = "truncate"
	// LongItemsSkip leaves the item unscored and counts it.
	LongItemsSkip = "skip"
)

// parseLongItems reads the long_items field.
func parseLongItems(file string, n *yaml.Node) (string, error) {
	v, err := scalarString(file, "long_items", n)
	if err != nil {
		return "", err
	}
	if v != LongItemsTruncate && v != LongItemsSkip {
		return "", specError(file, n, "long_items", "unknown value %q (want %s or %s)", v, LongItemsTruncate, LongItemsSkip)
	}
	return v, nil
}
