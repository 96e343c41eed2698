package eval

import (
	"context"
	"errors"
	"fmt"

	"github.com/mergetune/mergetune/datasets"
)

// LogLikelihooder is implemented by a model that can score a given
// continuation of a prompt (the built-in runner; the OpenAI-compatible
// backend, from a server's echoed prompt logprobs). Tasks with a
// log-likelihood scoring mode (scoring: acc, acc_norm, acc_bytes) need
// it; Ollama has no prompt logprobs, so its models do not implement it.
type LogLikelihooder interface {
	// LogLikelihood returns the sum of the log-probabilities of the
	// tokens of continuation after prompt. An implementation that finds
	// out only at run time that it cannot returns an error wrapping
	// ErrUnsupported.
	LogLikelihood(ctx context.Context, prompt, continuation string) (float64, error)
}

// LogLikelihoodProber is implemented by a LogLikelihooder that learns
// only from its server whether it can score continuations (an
// OpenAI-compatible server may return no prompt log-probabilities).
// Evaluate probes it before the first item of a log-likelihood task, so
// such a server fails the task at once, not after some items.
type LogLikelihoodProber interface {
	// ProbeLogLikelihood returns nil when LogLikelihood can work, an
	// error wrapping ErrUnsupported when the server cannot, or another
	// error when the probe itself failed.
	ProbeLogLikelihood(ctx context.Context) error
}

// RequestLogLikelihood scores each choice of an item as a continuation of
// its prompt (datasets.TargetDelimiter + the choice's text, as lm-eval's
// multiple_choice; the bare text in a chat task) and picks one as the task's scoring mode says.
const RequestLogLikelihood RequestKind = "loglikelihood"

// checkLogLikelihood fails a task whose scoring mode needs log-likelihoods
// on a model that cannot compute them, naming the task and the way out.
func checkLogLikelihood(m Model, t *datasets.Task, req Request) error {
	if req.Kind != RequestLogLikelihood {
		return nil
	}
	if _, ok := m.(LogLikelihooder); ok {
		return nil
	}
	return noLogLikelihood(t, m, ErrUnsupported)
}

// probeLogLikelihood asks a LogLikelihoodProber, before a
// log-likelihood task's first item, whether its server can score
// continuations.
func probeLogLikelihood(ctx context.Context, m Model, t *datasets.Task, req Request) error {
	p, ok := m.(LogLikelihoodProber)
	if req.Kind != RequestLogLikelihood || !ok {
		return nil
	}
	err := p.ProbeLogLikelihood(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnsupported):
		return noLogLikelihood(t, m, err)
	}
	return fmt.Errorf("eval: task %s: scoring: %s: probe of the log-likelihood request: %w", t.Name, t.Scoring, err)
}

// noLogLikelihood is the error of a log-likelihood task on a backend that
// cannot score a continuation.
func noLogLikelihood(t *datasets.Task, m Model, err error) error {
	return fmt.Errorf("eval: task %s: scoring: %s needs the log-likelihood of each choice, which this backend (%s) cannot compute: %w; "+
		"score it with scoring: %s (the answer letter from the next-token log-probabilities) or on a backend with prompt log-probabilities "+
		"(the built-in runner; an OpenAI-compatible server that echoes them, such as vLLM)",
		t.Name, t.Scoring, m.Settings(), err, datasets.ScoringLetter)
}

// askLogLikelihood returns the letter of the choice the scoring mode picks
// from the log-likelihoods of the item's choices after prompt, which it
// stores in r.LogLikelihoods.
func askLogLikelihood(ctx context.Context, m Model, prompt string, it datasets.Item, req Request, r *ItemResult) (string, error) {
	mode, err := datasets.LookupScoring(req.Scoring)
	if err != nil {
		return "", err
	}
	ll, ok := m.(LogLikelihooder)
	if !ok {
		return "", fmt.Errorf("log-likelihood: %w", ErrUnsupported)
	}
	delim := datasets.TargetDelimiter
	if req.Chat {
		delim = "" // the answer opens the assistant turn (lm-eval's chat mode)
	}
	lls := make([]float64, len(it.Choices))
	for i, c := range it.Choices {
		if lls[i], err = ll.LogLikelihood(ctx, prompt, delim+c); err != nil {
			return "", fmt.Errorf("log-likelihood of choice %s: %w", datasets.Letter(i), err)
		}
	}
	r.LogLikelihoods = lls
	best := mode.PickChoice(it.Choices, lls)
	if best < 0 {
		return "", errors.New("log-likelihood: no choice could be scored")
	}
	return datasets.Letter(best), nil
}
