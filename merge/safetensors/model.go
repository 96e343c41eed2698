package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// IndexFile is the name of the shard index of a sharded checkpoint.
const IndexFile = "model.safetensors.index.json"

// SingleFile is the name of an unsharded checkpoint.
const SingleFile = "model.safetensors"

// Model is a checkpoint directory: one or more open safetensors files.
type Model struct {
	// Dir is the model directory.
	Dir string

	files   []*File
	tensors map[string]*Tensor
	names   []string
}

type indexJSON struct {
	Metadata  json.RawMessage   `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// OpenModel opens the checkpoint in dir. If dir holds
// model.safetensors.index.json, its weight_map (tensor name -> shard file)
// decides the tensors and each referenced shard is opened once; shard paths
// must stay inside dir. Otherwise model.safetensors is opened if present,
// else every *.safetensors file in dir (tensor names must not repeat across
// files). It is an error if dir is missing or holds no safetensors file.
func OpenModel(dir string) (*Model, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("model directory %s does not exist", dir)
		}
		return nil, fmt.Errorf("open model directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("model directory %s is not a directory", dir)
	}
	m := &Model{Dir: dir, tensors: map[string]*Tensor{}}
	indexPath := filepath.Join(dir, IndexFile)
	if _, err := os.Stat(indexPath); err == nil {
		err = m.openIndex(indexPath)
		if err != nil {
			_ = m.Close()
			return nil, err
		}
		return m, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("stat %s: %w", indexPath, err)
	}

	var paths []string
	single := filepath.Join(dir, SingleFile)
	if _, err := os.Stat(single); err == nil {
		paths = []string{single}
	} else {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("read model directory %s: %w", dir, err)
		}
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".safetensors") {
				paths = append(paths, filepath.Join(dir, e.Name()))
			}
		}
		sort.Strings(paths)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("model directory %s holds no safetensors files", dir)
	}
	for _, p := range paths {
		f, err := OpenFile(p)
		if err != nil {
			_ = m.Close()
			return nil, err
		}
		m.files = append(m.files, f)
		for _, t := range f.Tensors() {
			if prev, ok := m.tensors[t.Name]; ok {
				_ = m.Close()
				return nil, fmt.Errorf("model directory %s: tensor %s is in both %s and %s", dir, t.Name, prev.file.Path, p)
			}
			m.tensors[t.Name] = t
			m.names = append(m.names, t.Name)
		}
	}
	return m, nil
}

// checkShardPath rejects shard paths that escape the model directory
// lexically (absolute, or leading ".." after cleaning) and returns the
// cleaned path joined to dir.
func checkShardPath(dir, indexPath, shard string) (string, error) {
	if shard == "" {
		return "", fmt.Errorf("index %s: empty shard path", indexPath)
	}
	if filepath.IsAbs(shard) || strings.HasPrefix(shard, "/") {
		return "", fmt.Errorf("index %s: shard path %q escapes the model directory (absolute path)", indexPath, shard)
	}
	c := filepath.Clean(shard)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("index %s: shard path %q escapes the model directory", indexPath, shard)
	}
	// Symlinks are followed without a check: the Hugging Face hub cache
	// stores snapshot files as symlinks into a blobs directory outside the
	// snapshot directory.
	p := filepath.Join(dir, c)
	return p, nil
}

func (m *Model) openIndex(indexPath string) error {
	fd, _, err := OpenRegular(indexPath)
	if err != nil {
		return fmt.Errorf("read shard index: %w", err)
	}
	data, err := io.ReadAll(fd)
	fd.Close()
	if err != nil {
		return fmt.Errorf("read %s: %w", indexPath, err)
	}
	var idx indexJSON
	if err := json.Unmarshal(data, &idx); err != nil {
		return fmt.Errorf("read %s: invalid JSON: %w", indexPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return fmt.Errorf("read %s: empty or missing weight_map", indexPath)
	}
	// Validate every shard path and key shards by their cleaned path, so
	// that spellings of the same file ("s", "./s") open it once.
	clean := map[string]string{} // weight_map value -> cleaned joined path
	var paths []string
	for _, s := range idx.WeightMap {
		if _, ok := clean[s]; ok {
			continue
		}
		p, err := checkShardPath(m.Dir, indexPath, s)
		if err != nil {
			return err
		}
		clean[s] = p
		if !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	byPath := map[string]*File{}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("index %s: shard file %s does not exist", indexPath, p)
			}
			return fmt.Errorf("index %s: shard file %s: %w", indexPath, p, err)
		}
		f, err := OpenFile(p)
		if err != nil {
			return fmt.Errorf("index %s: %w", indexPath, err)
		}
		m.files = append(m.files, f)
		byPath[p] = f
	}
	for _, f := range m.files {
		for _, t := range f.tensors {
			if s, ok := idx.WeightMap[t.Name]; ok && byPath[clean[s]] == f {
				m.tensors[t.Name] = t
				m.names = append(m.names, t.Name)
			}
		}
	}
	if len(m.tensors) != len(idx.WeightMap) {
		names := make([]string, 0, len(idx.WeightMap))
		for name := range idx.WeightMap {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if _, ok := m.tensors[name]; !ok {
				return fmt.Errorf("index %s: tensor %s is not in its shard %s", indexPath, name, clean[idx.WeightMap[name]])
			}
		}
	}
	return nil
}

// Tensor returns the named tensor.
func (m *Model) Tensor(name string) (*Tensor, bool) {
	t, ok := m.tensors[name]
	return t, ok
}

// Names returns the tensor names ordered by file (sorted file names) and
// then by data offset within the file.
func (m *Model) Names() []string { return append([]string(nil), m.names...) }

// Files returns the model's open safetensors files.
func (m *Model) Files() []*File { return m.files }

// Close closes all files of the model.
func (m *Model) Close() error {
	var errs []error
	for _, f := range m.files {
		if err := f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	m.files = nil
	return errors.Join(errs...)
}
