package torchbin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mergetune/mergetune/merge/safetensors"
)

// Weight file names of a PyTorch checkpoint directory.
const (
	IndexFile   = "pytorch_model.bin.index.json"
	SingleFile  = "pytorch_model.bin"
	AdapterFile = "adapter_model.bin"
)

// twinVersion changes when the twin layout does, so that old twins are
// not reused.
const twinVersion = "1"

// Files returns the .bin files holding the weights of the model in dir:
// the shards its pytorch_model.bin.index.json names, else
// pytorch_model.bin, else adapter_model.bin; nil when there are none.
func Files(dir string) ([]string, error) {
	idx := filepath.Join(dir, IndexFile)
	if b, err := os.ReadFile(idx); err == nil {
		var ix struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &ix); err != nil {
			return nil, fmt.Errorf("read %s: %w", idx, err)
		}
		if len(ix.WeightMap) == 0 {
			return nil, fmt.Errorf("read %s: empty or missing weight_map", idx)
		}
		seen := map[string]bool{}
		var files []string
		for _, s := range ix.WeightMap {
			if seen[s] {
				continue
			}
			seen[s] = true
			c := filepath.Clean(s)
			if filepath.IsAbs(c) || c == ".." || strings.HasPrefix(c, ".."+string(filepath.Separator)) || !strings.HasSuffix(c, ".bin") {
				return nil, fmt.Errorf("index %s: shard %q is not a .bin file inside the model directory", idx, s)
			}
			files = append(files, filepath.Join(dir, c))
		}
		slices.Sort(files)
		return files, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", idx, err)
	}
	for _, n := range []string{SingleFile, AdapterFile} {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			return []string{p}, nil
		}
	}
	return nil, nil
}

// TwinName is the safetensors file a .bin file converts to:
// pytorch_model.bin → model.safetensors,
// pytorch_model-00001-of-00002.bin → model-00001-of-00002.safetensors,
// adapter_model.bin → adapter_model.safetensors.
func TwinName(bin string) string {
	return strings.TrimSuffix(strings.TrimPrefix(filepath.Base(bin), "pytorch_"), ".bin") + ".safetensors"
}

// source records what a twin was converted from.
type source struct {
	Version string     `json:"version"`
	Dir     string     `json:"dir"`
	Files   []fileStat `json:"files"`
	Skipped []string   `json:"skipped"`
}

type fileStat struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime_ns"`
}

const sourceFile = "mergetune-torchbin.json"

// Twin returns a directory holding the safetensors twin of the PyTorch
// checkpoint files (from Files) of the model in dir, converting them on
// first use into a directory below cacheRoot; later calls reuse it while
// the .bin files keep their size and modification time. A conversion
// streams each tensor from the checkpoint into its place in the new file
// (memory: a copy buffer, or one storage for a strided view); the twin
// takes as much disk as the .bin files, and replacing it removes the twin
// of an earlier version of the same directory. skipped names the entries
// that are not floating-point tensors.
func Twin(ctx context.Context, dir string, files []string, cacheRoot string) (twin string, skipped []string, err error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", nil, fmt.Errorf("model directory %s: %w", dir, err)
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return "", nil, err
	}
	src := source{Version: twinVersion, Dir: real}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return "", nil, fmt.Errorf("PyTorch checkpoint: %w", err)
		}
		src.Files = append(src.Files, fileStat{Name: filepath.Base(f), Size: st.Size(), MTime: st.ModTime().UnixNano()})
	}
	id, _ := json.Marshal(src)
	dirKey := sha256.Sum256([]byte(real))
	idKey := sha256.Sum256(id)
	prefix := hex.EncodeToString(dirKey[:8]) + "-"
	twin = filepath.Join(cacheRoot, prefix+hex.EncodeToString(idKey[:8]))
	if b, err := os.ReadFile(filepath.Join(twin, sourceFile)); err == nil {
		var have source
		if json.Unmarshal(b, &have) == nil && have.Version == src.Version && have.Dir == src.Dir && fmt.Sprint(have.Files) == fmt.Sprint(src.Files) {
			return twin, have.Skipped, nil
		}
	}
	if err := os.MkdirAll(cacheRoot, 0o755); err != nil {
		return "", nil, fmt.Errorf("convert %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(cacheRoot, ".tmp-")
	if err != nil {
		return "", nil, fmt.Errorf("convert %s: %w", dir, err)
	}
	defer os.RemoveAll(tmp)
	for _, f := range files {
		sk, err := ConvertFile(ctx, f, filepath.Join(tmp, TwinName(f)))
		if err != nil {
			return "", nil, err
		}
		src.Skipped = append(src.Skipped, sk...)
	}
	b, _ := json.MarshalIndent(src, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, sourceFile), b, 0o644); err != nil {
		return "", nil, fmt.Errorf("convert %s: %w", dir, err)
	}
	if err := os.Rename(tmp, twin); err != nil {
		// Another process converted the same files meanwhile.
		if _, serr := os.Stat(filepath.Join(twin, sourceFile)); serr != nil {
			return "", nil, fmt.Errorf("convert %s: %w", dir, err)
		}
	}
	// Earlier twins of the same directory are stale.
	if old, err := filepath.Glob(filepath.Join(cacheRoot, prefix+"*")); err == nil {
		for _, o := range old {
			if o != twin {
				os.RemoveAll(o)
			}
		}
	}
	return twin, src.Skipped, nil
}

// ConvertFile writes the floating-point tensors of the PyTorch checkpoint
// bin into the safetensors file dst (through a temporary sibling and a
// rename) and returns the names of the entries it skipped.
func ConvertFile(ctx context.Context, bin, dst string) ([]string, error) {
	c, err := Open(bin)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	specs := make([]safetensors.Spec, len(c.Tensors))
	for i, t := range c.Tensors {
		specs[i] = safetensors.Spec{Name: t.Name, DType: t.DType, Shape: t.Shape}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".convert-")
	if err != nil {
		return nil, fmt.Errorf("convert %s: %w", bin, err)
	}
	defer os.RemoveAll(tmp)
	w, err := safetensors.Create(tmp, specs, 0)
	if err != nil {
		return nil, fmt.Errorf("convert %s: %w", bin, err)
	}
	for _, t := range c.Tensors {
		if err := ctx.Err(); err != nil {
			w.Abort()
			return nil, err
		}
		if err := c.WriteTo(t, &rawWriter{w: w, name: t.Name}); err != nil {
			w.Abort()
			return nil, fmt.Errorf("convert %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("convert %s: %w", bin, err)
	}
	if err := os.Rename(filepath.Join(tmp, safetensors.SingleFile), dst); err != nil {
		return nil, fmt.Errorf("convert %s: %w", bin, err)
	}
	return c.Skipped, nil
}

// rawWriter writes a tensor's bytes in order through WriteRaw.
type rawWriter struct {
	w    *safetensors.Writer
	name string
	off  int
}

func (r *rawWriter) Write(b []byte) (int, error) {
	if err := r.w.WriteRaw(r.name, r.off, b); err != nil {
		return 0, err
	}
	r.off += len(b)
	return len(b), nil
}
