package eval

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/mergetune/mergetune/datasets"
)

// ErrContextOverflow is wrapped by a backend's error for a request longer
// than the model's context. Evaluate then truncates or skips the item, as
// the task's long_items option says; it never fails the run for it.
var ErrContextOverflow = errors.New("longer than the model's context")

// PromptFitter is implemented by a model that can count its tokens (the
// built-in runner). Evaluate then fits an over-long prompt before asking,
// to the token; other models are asked first, and a prompt they refuse
// with ErrContextOverflow is cut by characters (see cutLeft).
type PromptFitter interface {
	// FitPrompt returns prompt unchanged and 0 when it fits the model's
	// context with room tokens left after it; otherwise the longest
	// suffix of it that does (lm-eval truncates from the left) and the
	// number of prompt tokens dropped. room is capped at half the
	// context.
	FitPrompt(prompt string, room int) (fitted string, dropped int)
}

// LongOutcome says what happened to an item longer than the model's
// context.
type LongOutcome string

// Long item outcomes.
const (
	// LongFits marks an item that fit the context.
	LongFits LongOutcome = ""
	// LongTruncated marks an item whose prompt was cut from the left
	// (its ItemResult.Prompt is what was sent).
	LongTruncated LongOutcome = "truncated"
	// LongSkipped marks an item that was not asked (task option
	// long_items: skip, or a prompt that could not be cut to fit); it
	// does not count in the task's N.
	LongSkipped LongOutcome = "skipped"
)

// maxCuts bounds how often a prompt refused for its length is cut by a
// quarter before the item is skipped (0.75^12 ≈ 3% of it is then left).
const maxCuts = 12

// cutLeft drops the first quarter of prompt's runes (at least one), the
// fallback truncation of a backend that cannot count tokens.
func cutLeft(prompt string) string {
	n := utf8.RuneCountInString(prompt)
	drop := max(n/4, 1)
	for i := range prompt {
		if drop == 0 {
			return prompt[i:]
		}
		drop--
	}
	return ""
}

// fitRoom is the number of tokens an item's request needs after its
// prompt: the generation's bound (lm-eval keeps max_length − max_gen_toks
// prompt tokens), or for a log-likelihood request the longest choice's
// continuation in bytes (a token holds at least one); at least one.
func fitRoom(req Request, it datasets.Item) int {
	if req.Kind == RequestLogLikelihood {
		n := 0
		for _, c := range it.Choices {
			n = max(n, len(datasets.TargetDelimiter+c))
		}
		return max(n, 1)
	}
	return max(req.Generate.MaxTokens, 1)
}

// skipLong reports whether the task skips over-long items rather than
// truncating them.
func skipLong(t *datasets.Task) bool { return t.LongItems == datasets.LongItemsSkip }

// longNote describes what happened to a long item, for warnings.
func longNote(task string, r ItemResult) string {
	switch r.Long {
	case LongTruncated:
		return fmt.Sprintf("task %s: item %s: longer than the model's context; prompt truncated from the left (%s)", task, r.ID, r.LongNote)
	case LongSkipped:
		return fmt.Sprintf("task %s: item %s: longer than the model's context; skipped (%s)", task, r.ID, r.LongNote)
	}
	return ""
}
