package eval

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// Sample is the record of one item as --log-samples writes it (one JSON
// object a line, like lm-evaluation-harness's --log_samples): what was
// asked of which model, what was expected, what came back and the verdict.
type Sample struct {
	Model       string `json:"model"`
	ModelDigest string `json:"model_digest"`
	Task        string `json:"task"`
	Split       string `json:"split"`
	ItemID      string `json:"item_id"`
	// Prompt is the prompt as sent (cut from the left when Long is
	// "truncated").
	Prompt string `json:"prompt"`
	// Target is the reference answer; for a multiple-choice item the gold
	// letter, with Gold the index into Choices.
	Target    string   `json:"target"`
	Choices   []string `json:"choices,omitempty"`
	Gold      *int     `json:"gold,omitempty"`
	Response  string   `json:"response"`
	Extracted string   `json:"extracted"`
	Correct   bool     `json:"correct"`
	Cached    bool     `json:"cached"`
	// Long is "truncated" or "skipped" for an item longer than the
	// model's context, with LongNote saying by how much.
	Long     LongOutcome `json:"long,omitempty"`
	LongNote string      `json:"long_note,omitempty"`
	// LogLikelihoods are those of the choices under a log-likelihood
	// scoring mode (absent when the answer came from the cache).
	LogLikelihoods []float64 `json:"loglikelihoods,omitempty"`
}

// Samples returns the records of every item of res, evaluated on the model
// named model (its directory) with content digest digest.
func Samples(model, digest string, res []*TaskResult) []Sample {
	var out []Sample
	for _, r := range res {
		for _, it := range r.Items {
			s := Sample{Model: model, ModelDigest: digest, Task: r.Task, Split: r.Split, ItemID: it.ID,
				Prompt: it.Prompt, Target: it.Target, Choices: it.Choices, Response: it.Response,
				Extracted: it.Extracted, Correct: it.Correct, Cached: it.Cached, Long: it.Long, LongNote: it.LongNote,
				LogLikelihoods: finite(it.LogLikelihoods)}
			if len(it.Choices) > 0 {
				g := it.Gold
				s.Gold = &g
			}
			out = append(out, s)
		}
	}
	return out
}

// WriteSamples writes samples to w as JSON lines.
func WriteSamples(w io.Writer, samples []Sample) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, s := range samples {
		if err := enc.Encode(s); err != nil {
			return fmt.Errorf("write sample %s %s: %w", s.Task, s.ItemID, err)
		}
	}
	return bw.Flush()
}

// WriteSamplesFile writes samples to path as JSON lines, through a
// temporary file in the same directory renamed into place: path holds the
// complete records or is left as it was.
func WriteSamplesFile(path string, samples []Sample) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("eval: log samples to %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := WriteSamples(f, samples); err != nil {
		return fmt.Errorf("eval: log samples to %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("eval: log samples to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("eval: log samples to %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("eval: log samples to %s: %w", path, err)
	}
	return nil
}

// finite returns lls, or nil when one of them is not a finite number
// (JSON has no -Inf or NaN).
func finite(lls []float64) []float64 {
	for _, v := range lls {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil
		}
	}
	return lls
}
