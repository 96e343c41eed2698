// Package torchbin reads PyTorch checkpoints (pytorch_model.bin, its
// shards, adapter_model.bin) without running their pickle code, and
// converts them into safetensors files the merge engine memory-maps.
//
// A checkpoint written by torch.save since PyTorch 1.6 is a zip archive:
// <name>/data.pkl is a pickle of the state dict whose tensors refer, by
// persistent id, to storages stored as <name>/data/<key>. The pickle is
// read with github.com/nlpodyssey/gopickle, whose unpickler only builds
// data: the only globals allowed are the torch rebuild functions
// (torch._utils._rebuild_tensor_v2, _rebuild_tensor, _rebuild_parameter),
// the typed storage classes (torch.FloatStorage, …) and the plain
// containers gopickle knows (collections.OrderedDict, dict, list); any
// other global (os.system, builtins.eval, …) is an error naming the file
// and the global. The legacy pre-1.6 format (not a zip) is refused.
package torchbin

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"

	"github.com/mergetune/mergetune/merge/safetensors"
)

// maxPickleSize bounds data.pkl (the state dict's structure, not its
// data: a few hundred KiB for a 70B model).
const maxPickleSize = 256 << 20

// Tensor is one tensor of a checkpoint.
type Tensor struct {
	// Name is the state dict key.
	Name string
	// DType is the element type.
	DType safetensors.DType
	// Shape is the tensor's size.
	Shape []int

	stride  []int
	offset  int64 // in elements, into the storage
	storage *storage
}

// Len returns the number of elements.
func (t *Tensor) Len() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// Checkpoint is an open .bin checkpoint.
type Checkpoint struct {
	// Path is the file read.
	Path string
	// Tensors are the floating-point tensors, in state dict order (the
	// order of the safetensors twin, and so of a merge's output).
	Tensors []*Tensor
	// Skipped names the entries that are not F32, F16 or BF16 tensors
	// (integer or boolean buffers, non-tensor values): the merge reads
	// none of them.
	Skipped []string

	f  *os.File
	zr *zip.Reader
}

// storage is a persistent storage the pickle refers to.
type storage struct {
	key   string
	class string // "FloatStorage", …
	dtype safetensors.DType
	numel int64
	entry *zip.File
}

// storageClasses maps the torch storage classes to safetensors dtypes
// ("" for the known classes of other types, which are skipped).
var storageClasses = map[string]safetensors.DType{
	"FloatStorage": safetensors.F32, "HalfStorage": safetensors.F16, "BFloat16Storage": safetensors.BF16,
	"DoubleStorage": "", "LongStorage": "", "IntStorage": "", "ShortStorage": "", "CharStorage": "",
	"ByteStorage": "", "BoolStorage": "", "ComplexFloatStorage": "", "ComplexDoubleStorage": "",
}

// storageClass is a torch storage class named by a global.
type storageClass struct{ name string }

// tensorValue is what a rebuild function returns.
type tensorValue struct {
	st     *storage
	offset int64
	shape  []int
	stride []int
}

type rebuildFunc struct{ name, file string }

// Call rebuilds a tensor from (storage, storage_offset, size, stride, …).
func (r rebuildFunc) Call(args ...any) (any, error) {
	if r.name == "_rebuild_parameter" {
		if len(args) < 1 {
			return nil, fmt.Errorf("%s: torch._utils._rebuild_parameter with no arguments", r.file)
		}
		if _, ok := args[0].(*tensorValue); !ok {
			return nil, fmt.Errorf("%s: torch._utils._rebuild_parameter of a %T, not a tensor", r.file, args[0])
		}
		return args[0], nil
	}
	if len(args) < 4 {
		return nil, fmt.Errorf("%s: torch._utils.%s with %d arguments, want at least 4", r.file, r.name, len(args))
	}
	st, ok := args[0].(*storage)
	if !ok {
		return nil, fmt.Errorf("%s: torch._utils.%s of a %T, not a storage", r.file, r.name, args[0])
	}
	off, ok := args[1].(int)
	if !ok || off < 0 {
		return nil, fmt.Errorf("%s: torch._utils.%s: storage offset %s", r.file, r.name, describe(args[1]))
	}
	shape, err := ints(r.file, "size", args[2])
	if err != nil {
		return nil, err
	}
	stride, err := ints(r.file, "stride", args[3])
	if err != nil {
		return nil, err
	}
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("%s: tensor of size %v has stride %v", r.file, shape, stride)
	}
	return &tensorValue{st: st, offset: int64(off), shape: shape, stride: stride}, nil
}

func ints(file, what string, v any) ([]int, error) {
	var items []any
	switch t := v.(type) {
	case *types.Tuple:
		items = *t
	case *types.List:
		items = *t
	default:
		return nil, fmt.Errorf("%s: tensor %s is %s, not a tuple", file, what, describe(v))
	}
	out := make([]int, len(items))
	for i, x := range items {
		n, ok := x.(int)
		if !ok || n < 0 || n > 1<<40 {
			return nil, fmt.Errorf("%s: tensor %s holds %s, not a size", file, what, describe(x))
		}
		out[i] = n
	}
	return out, nil
}

// Open reads the checkpoint at path: its pickle is parsed and checked,
// its storages are located (not read).
func Open(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open PyTorch checkpoint: %w", err)
	}
	c, err := open(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

func open(path string, f *os.File) (*Checkpoint, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		var head [2]byte
		if _, rerr := f.ReadAt(head[:], 0); rerr == nil && head[0] == 0x80 {
			return nil, fmt.Errorf("%s: a legacy (pre-1.6) PyTorch checkpoint, which mergetune does not read: re-save it with a recent torch or convert it to safetensors", path)
		}
		return nil, fmt.Errorf("%s: not a PyTorch zip checkpoint: %w", path, err)
	}
	c := &Checkpoint{Path: path, f: f, zr: zr}
	return c, c.parse()
}

func (c *Checkpoint) parse() error {
	var pkl *zip.File
	entries := map[string]*zip.File{}
	for _, e := range c.zr.File {
		entries[e.Name] = e
		if strings.Count(e.Name, "/") == 1 && path.Base(e.Name) == "data.pkl" {
			if pkl != nil {
				return fmt.Errorf("%s: two data.pkl records (%s, %s)", c.Path, pkl.Name, e.Name)
			}
			pkl = e
		}
	}
	if pkl == nil {
		return fmt.Errorf("%s: no <archive>/data.pkl record: not a torch.save checkpoint", c.Path)
	}
	prefix := path.Dir(pkl.Name) + "/"
	if _, ok := entries[prefix+"constants.pkl"]; ok {
		return fmt.Errorf("%s: a TorchScript archive, not a state dict", c.Path)
	}
	if bo, ok := entries[prefix+"byteorder"]; ok {
		b, err := readEntry(bo, 16)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", c.Path, bo.Name, err)
		}
		if s := strings.TrimSpace(string(b)); s != "little" {
			return fmt.Errorf("%s: byte order %q; only little-endian checkpoints are read", c.Path, s)
		}
	}
	if pkl.UncompressedSize64 > maxPickleSize {
		return fmt.Errorf("%s: %s is %d bytes, more than the %d a state dict's pickle takes", c.Path, pkl.Name, pkl.UncompressedSize64, maxPickleSize)
	}
	data, err := readEntry(pkl, maxPickleSize)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", c.Path, pkl.Name, err)
	}
	storages := map[string]*storage{}
	lookup := func(key string) *zip.File { return entries[prefix+"data/"+key] }
	v, err := unpickle(c.Path, data, storages, lookup)
	if err != nil {
		return err
	}
	return c.collect(v)
}

func readEntry(e *zip.File, limit int64) ([]byte, error) {
	r, err := e.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return b, nil
}

// unpickle runs the restricted unpickler over data.
func unpickle(file string, data []byte, storages map[string]*storage, lookup func(string) *zip.File) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("%s: malformed pickle: %v", file, r)
		}
	}()
	if err := scanPickle(data); err != nil {
		return nil, fmt.Errorf("%s: malformed pickle: %w", file, err)
	}
	u := pickle.NewUnpickler(bytes.NewReader(data))
	u.FindClass = func(module, name string) (any, error) {
		switch module {
		case "torch._utils":
			switch name {
			case "_rebuild_tensor_v2", "_rebuild_tensor", "_rebuild_parameter":
				return rebuildFunc{name: name, file: file}, nil
			}
		case "torch":
			if _, ok := storageClasses[name]; ok {
				return &storageClass{name: name}, nil
			}
		}
		return nil, fmt.Errorf("%s: pickle global %s.%s is not allowed: only torch's tensor rebuild functions and storage classes are read (loading this file in torch could run arbitrary code)", file, module, name)
	}
	u.PersistentLoad = func(id any) (any, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() < 5 {
			return nil, fmt.Errorf("%s: persistent id %s is not ('storage', class, key, location, size)", file, describe(id))
		}
		kind, _ := t.Get(0).(string)
		class, okc := t.Get(1).(*storageClass)
		key, okk := t.Get(2).(string)
		numel, okn := t.Get(4).(int)
		if kind != "storage" || !okc || !okk || !okn || numel < 0 {
			return nil, fmt.Errorf("%s: persistent id %s is not ('storage', class, key, location, size)", file, describe(id))
		}
		if s, ok := storages[key]; ok {
			if s.class != class.name || s.numel != int64(numel) {
				return nil, fmt.Errorf("%s: storage %s named as %s of %d and as %s of %d", file, key, s.class, s.numel, class.name, numel)
			}
			return s, nil
		}
		e := lookup(key)
		if e == nil {
			return nil, fmt.Errorf("%s: storage %s has no data/%s record", file, key, key)
		}
		s := &storage{key: key, class: class.name, dtype: storageClasses[class.name], numel: int64(numel), entry: e}
		if es := uint64(s.dtype.Size()); es != 0 && (e.UncompressedSize64%es != 0 || e.UncompressedSize64/es != uint64(s.numel)) {
			return nil, fmt.Errorf("%s: storage %s holds %d bytes, not the %d elements of %d bytes of a %s", file, key, e.UncompressedSize64, s.numel, es, class.name)
		}
		storages[key] = s
		return s, nil
	}
	v, err = u.Load()
	if err != nil && !strings.HasPrefix(err.Error(), file+": ") {
		err = fmt.Errorf("%s: malformed pickle: %w", file, err)
	}
	return v, err
}

// collect takes the tensors out of the unpickled state dict.
func (c *Checkpoint) collect(v any) error {
	add := func(k, val any) error {
		name, ok := k.(string)
		if !ok {
			return fmt.Errorf("%s: state dict key %s is not a string", c.Path, describe(k))
		}
		tv, ok := val.(*tensorValue)
		if !ok || tv.st.dtype == "" {
			c.Skipped = append(c.Skipped, name)
			return nil
		}
		t := &Tensor{Name: name, DType: tv.st.dtype, Shape: tv.shape, stride: tv.stride, offset: tv.offset, storage: tv.st}
		if err := t.check(); err != nil {
			return fmt.Errorf("%s: tensor %s: %w", c.Path, name, err)
		}
		c.Tensors = append(c.Tensors, t)
		return nil
	}
	switch d := v.(type) {
	case *types.OrderedDict:
		for e := d.List.Front(); e != nil; e = e.Next() {
			entry := e.Value.(*types.OrderedDictEntry)
			if err := add(entry.Key, entry.Value); err != nil {
				return err
			}
		}
	case *types.Dict:
		for _, entry := range *d {
			if err := add(entry.Key, entry.Value); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%s: the pickle holds a %T, not a state dict", c.Path, v)
	}
	seen := make(map[string]bool, len(c.Tensors))
	for _, t := range c.Tensors {
		if seen[t.Name] {
			return fmt.Errorf("%s: tensor %s appears twice", c.Path, t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

// check verifies that every element the tensor views lies in its storage.
func (t *Tensor) check() error {
	if slices.Contains(t.Shape, 0) {
		return nil
	}
	n := int64(1)
	for _, d := range t.Shape {
		if d != 0 && n > t.storage.numel/int64(d) {
			return fmt.Errorf("size %v holds more elements than storage %s (%d)", t.Shape, t.storage.key, t.storage.numel)
		}
		n *= int64(d)
	}
	last := t.offset
	for i, d := range t.Shape {
		if t.stride[i] > 1<<40 {
			return fmt.Errorf("stride %v", t.stride)
		}
		last += int64(d-1) * int64(t.stride[i])
	}
	if last >= t.storage.numel {
		return fmt.Errorf("size %v, stride %v and offset %d reach element %d of storage %s, which holds %d", t.Shape, t.stride, t.offset, last, t.storage.key, t.storage.numel)
	}
	return nil
}

// contiguous reports whether the tensor is a row-major run of its storage.
func (t *Tensor) contiguous() bool {
	want := int64(1)
	for i := len(t.Shape) - 1; i >= 0; i-- {
		if t.Shape[i] != 1 && int64(t.stride[i]) != want {
			return false
		}
		want *= int64(t.Shape[i])
	}
	return true
}

// WriteTo writes the tensor's elements, row-major, as little-endian bytes
// to w. A contiguous tensor is streamed from the file; a strided view
// (rare in a state dict) reads its whole storage into memory first.
func (c *Checkpoint) WriteTo(t *Tensor, w io.Writer) error {
	es := int64(t.DType.Size())
	n := t.Len()
	if n == 0 {
		return nil
	}
	if t.contiguous() {
		r, err := c.section(t.storage, t.offset*es, n*es)
		if err != nil {
			return fmt.Errorf("%s: tensor %s: %w", c.Path, t.Name, err)
		}
		if _, err := io.CopyN(w, r, n*es); err != nil {
			return fmt.Errorf("%s: tensor %s: %w", c.Path, t.Name, err)
		}
		return nil
	}
	r, err := c.section(t.storage, 0, t.storage.numel*es)
	if err != nil {
		return fmt.Errorf("%s: tensor %s: %w", c.Path, t.Name, err)
	}
	all := make([]byte, t.storage.numel*es)
	if _, err := io.ReadFull(r, all); err != nil {
		return fmt.Errorf("%s: tensor %s: %w", c.Path, t.Name, err)
	}
	out := make([]byte, 0, n*es)
	idx := make([]int, len(t.Shape))
	for range n {
		pos := t.offset
		for i, k := range idx {
			pos += int64(k) * int64(t.stride[i])
		}
		out = append(out, all[pos*es:(pos+1)*es]...)
		for i := len(idx) - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < t.Shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("%s: tensor %s: %w", c.Path, t.Name, err)
	}
	return nil
}

// section returns a reader of n bytes of storage s from byte off.
func (c *Checkpoint) section(s *storage, off, n int64) (io.Reader, error) {
	if s.entry.Method == zip.Store {
		start, err := s.entry.DataOffset()
		if err != nil {
			return nil, err
		}
		return io.NewSectionReader(c.f, start+off, n), nil
	}
	r, err := s.entry.Open()
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, r, off); err != nil {
		return nil, err
	}
	return io.LimitReader(r, n), nil
}

// Close closes the file.
func (c *Checkpoint) Close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}
