package search

import (
	"context"
	"fmt"
	"io"
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
// inside dir. It returns the path to open, the GGUF's digest (empty where
// the backend streams it: the backend then computes it), and the import
// the backend began while the merge wrote the file (eval.Streamer; nil:
// none), which the caller must open or cancel.
func mergeCandidate(ctx context.Context, cfg *config.Config, dir string, be eval.Backend, opt merge.Options) (path, digest string, st eval.Stream, err error) {
	out := dir
	if cf, ok := be.(eval.CandidateFormatter); ok {
		opt.Format, opt.GGUFType = cf.CandidateFormat()
		if opt.Format == merge.FormatGGUF {
			if opt.Force {
				if err := os.RemoveAll(dir); err != nil {
					return "", "", nil, fmt.Errorf("clear %s: %w", dir, err)
				}
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", "", nil, fmt.Errorf("create %s: %w", dir, err)
			}
			out = filepath.Join(dir, candidateGGUF)
			if s, ok := be.(eval.Streamer); ok && s.Streams() {
				// The server hashes what it receives: the merge need not.
				opt.Follow = func(r io.ReadCloser, size int64) { st = s.Stream(ctx, r, size) }
				opt.NoDigest = true
			}
		}
	}
	res, err := merge.Run(ctx, cfg, out, opt)
	if err != nil {
		if st != nil {
			st.Cancel()
		}
		return "", "", nil, err
	}
	return out, res.Digest, st, nil
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
