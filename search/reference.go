package search

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/merge"
	"github.com/mergetune/mergetune/merge/config"
)

// OpenModel opens the unmerged model directory path (a study's base or
// task model scored for its baselines, a model `mergetune eval` scores)
// with be, as openReference does; close the model, then call cleanup.
func OpenModel(ctx context.Context, path, work string, be eval.Backend) (m eval.Model, cleanup func(), err error) {
	c, cleanup, err := openReference(ctx, path, work, be)
	if err != nil {
		return nil, cleanup, err
	}
	return c.Model, cleanup, nil
}

// openReference opens the unmerged model at path (a base or task model,
// scored for its baselines) with be. A backend that takes GGUF candidates
// (Ollama) gets the model as one, written by the merge engine like any
// candidate (a passthrough of the one model: its own tensors, in the
// candidates' type, the metadata Ollama's converter writes; streamed or
// placed as a candidate is) into a directory made in work ("": the
// temporary directory), which the returned cleanup removes (and which a
// later call removes if this process was killed: sweepReferences): for a
// TinyLlama-shaped model, 3 s from one reference's deletion to the next
// one's placement, against 22-27 s through Ollama's converter (this
// project's two-core machine). A path that is not a directory (a GGUF
// file) is opened as it is.
// Where the engine's way fails (an architecture or type it cannot
// write, a disk that fills, anything but a cancelled ctx), and for every
// other backend, the model is opened as it is, so a reference the
// backend can take still gets its baselines. The candidate's dir is
// path, as its run records it.
func openReference(ctx context.Context, path, work string, be eval.Backend) (*candidate, func(), error) {
	nothing := func() {}
	asIs := func() (*candidate, func(), error) {
		c, err := openCandidate(ctx, nil, path, merge.Options{}, be)
		return c, nothing, err
	}
	cf, ok := be.(eval.CandidateFormatter)
	if st, err := os.Stat(path); !ok || err != nil || !st.IsDir() {
		return asIs() // a GGUF file already, or nothing the engine reads
	}
	if format, _ := cf.CandidateFormat(); format != merge.FormatGGUF {
		return asIs()
	}
	cfg, err := passthroughConfig(path)
	if err != nil {
		return asIs()
	}
	if work == "" {
		work = os.TempDir()
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, nothing, fmt.Errorf("reference model %s: %w", path, err)
	}
	prefix := referencePrefix()
	sweepReferences(work, prefix)
	dir, err := os.MkdirTemp(work, fmt.Sprintf("%s%d-", prefix, os.Getpid()))
	if err != nil {
		return nil, nothing, fmt.Errorf("reference model %s: %w", path, err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	c, err := openCandidate(ctx, cfg, dir, merge.Options{Force: true}, be)
	if err != nil {
		cleanup()
		if ctx.Err() != nil {
			return nil, nothing, err
		}
		// The model as it is, as before the engine wrote references: the
		// backend's own import (Ollama's converter) takes what it can, and
		// its error is the one to report.
		c, _, err2 := asIs()
		if err2 != nil {
			return nil, nothing, fmt.Errorf("%w (written by the merge engine first: %v)", err2, err)
		}
		return c, nothing, nil
	}
	c.dir = path
	return c, cleanup, nil
}

// referencePrefix starts the names of the directories openReference
// makes on this host: reference-<host>-, then the process ID and a
// random part.
func referencePrefix() string {
	return "reference-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' {
			return r
		}
		return '_'
	}, hostName()) + "-"
}

// sweepReferences removes from work the reference directories (named
// prefix<pid>-…) of processes on this host that no longer exist: a study
// or eval killed while a reference model was written or evaluated leaves
// one (of the model's size) behind.
func sweepReferences(work, prefix string) {
	entries, err := os.ReadDir(work)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.IsDir() {
			continue
		}
		num, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(num)
		if ok && err == nil && pid != os.Getpid() && !processAlive(pid) {
			os.RemoveAll(filepath.Join(work, e.Name()))
		}
	}
}

// passthroughConfig is the merge configuration that writes the model at
// path as it is: mergekit's passthrough of the one model.
func passthroughConfig(path string) (*config.Config, error) {
	data, err := yaml.Marshal(map[string]any{
		"merge_method": "passthrough",
		"models":       []map[string]string{{"model": path}},
	})
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(data, "reference "+path)
	if err != nil {
		return nil, fmt.Errorf("reference model %s: %w", path, err)
	}
	return cfg, nil
}
