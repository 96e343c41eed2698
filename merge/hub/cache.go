package hub

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Weight file names the merge reads, in order of preference.
const (
	stIndex  = "model.safetensors.index.json"
	stSingle = "model.safetensors"
	binIndex = "pytorch_model.bin.index.json"
	binFile  = "pytorch_model.bin"
	adapterB = "adapter_model.bin"
)

// maxIndexSize bounds a shard index read from the cache or the network.
const maxIndexSize = 64 << 20

// Cached returns the snapshot directory of ref in the cache, or "" when
// there is none, and the first weight file that snapshot lacks ("" when
// it holds every weight file the merge reads).
func (c *Client) Cached(ref Ref) (dir, missing string) {
	repoDir := filepath.Join(c.Cache, repoFolder(ref.Repo))
	commit := ref.Revision
	if !IsCommit(commit) {
		b, err := readSmall(filepath.Join(repoDir, "refs", filepath.FromSlash(ref.Revision)), 1024)
		if err != nil {
			return "", ""
		}
		commit = strings.TrimSpace(string(b))
		if !IsCommit(commit) {
			return "", ""
		}
	}
	snap := filepath.Join(repoDir, "snapshots", commit)
	if st, err := os.Stat(snap); err != nil || !st.IsDir() {
		return "", ""
	}
	return snap, missingWeights(snap)
}

// exists reports whether name in dir exists, following symlinks (a
// dangling snapshot link counts as missing).
func exists(dir, name string) bool {
	st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
	return err == nil && st.Mode().IsRegular()
}

// missingWeights returns "" when dir holds the weights of a model or an
// adapter in a form the merge reads (an index and all its shards, a single
// file, or *.safetensors files), else the first missing file.
func missingWeights(dir string) string {
	for _, idx := range []string{stIndex, binIndex} {
		if !exists(dir, idx) {
			continue
		}
		shards, err := readIndex(filepath.Join(dir, idx))
		if err != nil {
			return idx
		}
		for _, s := range shards {
			if !exists(dir, s) {
				return s
			}
		}
		return ""
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return stSingle
	}
	for _, e := range entries {
		n := e.Name()
		if (strings.HasSuffix(n, ".safetensors") || n == binFile || n == adapterB) && exists(dir, n) {
			return ""
		}
	}
	return stSingle
}

// readIndex returns the sorted, distinct shard files of the shard index
// at p, each checked to be a plain relative path inside the repository.
func readIndex(p string) ([]string, error) {
	b, err := readSmall(p, maxIndexSize)
	if err != nil {
		return nil, err
	}
	return parseIndex(p, b)
}

func parseIndex(name string, b []byte) ([]string, error) {
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("shard index %s: %w", name, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("shard index %s: empty or missing weight_map", name)
	}
	seen := map[string]bool{}
	var shards []string
	for _, s := range idx.WeightMap {
		if seen[s] {
			continue
		}
		seen[s] = true
		if err := checkFileName(s); err != nil {
			return nil, fmt.Errorf("shard index %s: %w", name, err)
		}
		shards = append(shards, s)
	}
	sort.Strings(shards)
	return shards, nil
}

// checkFileName accepts a relative slash-separated path that stays inside
// the repository.
func checkFileName(s string) error {
	if s == "" || strings.ContainsAny(s, "\\\x00") || path.IsAbs(s) || path.Clean(s) != s ||
		s == ".." || strings.HasPrefix(s, "../") || s == "." {
		return fmt.Errorf("file name %q is not a plain relative path", s)
	}
	return nil
}

// selectWeights picks the weight files of a repository listing: the
// safetensors index (its shards are added once it is read), else
// model.safetensors, else every top-level *.safetensors file, else the
// same for pytorch_model.bin, else adapter_model.bin. ok is false when the
// listing holds no weights the merge reads.
func selectWeights(files []string) (index string, single []string, ok bool) {
	has := map[string]bool{}
	for _, f := range files {
		has[f] = true
	}
	switch {
	case has[stIndex]:
		return stIndex, nil, true
	case has[stSingle]:
		return "", []string{stSingle}, true
	}
	for _, f := range files {
		if !strings.Contains(f, "/") && strings.HasSuffix(f, ".safetensors") {
			single = append(single, f)
		}
	}
	if len(single) > 0 {
		sort.Strings(single)
		return "", single, true
	}
	switch {
	case has[binIndex]:
		return binIndex, nil, true
	case has[binFile]:
		return "", []string{binFile}, true
	case has[adapterB]:
		return "", []string{adapterB}, true
	}
	return "", nil, false
}
