package search

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/merge"
	"github.com/mergetune/mergetune/merge/config"
)

// candidateGGUF is a GGUF candidate's file name in its directory.
const candidateGGUF = "model.gguf"

// mergeCandidate merges cfg into dir in the form the backend be takes
// (eval.CandidateFormatter): a safetensors directory, or one GGUF file
// inside dir. It returns the path to open.
func mergeCandidate(ctx context.Context, cfg *config.Config, dir string, be eval.Backend, opt merge.Options) (path, digest string, err error) {
	out := dir
	if cf, ok := be.(eval.CandidateFormatter); ok {
		opt.Format, opt.GGUFType = cf.CandidateFormat()
		if opt.Format == merge.FormatGGUF {
			if opt.Force {
				if err := os.RemoveAll(dir); err != nil {
					return "", "", fmt.Errorf("clear %s: %w", dir, err)
				}
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", "", fmt.Errorf("create %s: %w", dir, err)
			}
			out = filepath.Join(dir, candidateGGUF)
		}
	}
	res, err := merge.Run(ctx, cfg, out, opt)
	if err != nil {
		return "", "", err
	}
	return out, res.Digest, nil
}

// keptCandidate returns the path to open of a candidate kept in dir: its
// GGUF file when it has one, else dir.
func keptCandidate(dir string) string {
	p := filepath.Join(dir, candidateGGUF)
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
		return p
	}
	return dir
}
