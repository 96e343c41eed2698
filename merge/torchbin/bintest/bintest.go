// Package bintest writes small PyTorch checkpoints in torch.save's zip
// format (pickle protocol 2, as torch writes it) for tests: state dicts of
// F32, F16 and BF16 tensors, strided views, shared storages, integer
// buffers, and pickles naming a forbidden global.
package bintest

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/mergetune/mergetune/merge/safetensors"
)

// Tensor is one state dict entry.
type Tensor struct {
	Name string
	// Class is the torch storage class; "" derives it from DType.
	Class string
	DType safetensors.DType
	Shape []int
	// Data is the tensor, row-major, little-endian.
	Data []byte
	// Transposed stores a 2-D tensor column-major (a strided view with
	// stride (1, rows)), as a transposed weight saved without
	// .contiguous() is.
	Transposed bool
	// ShareWith names an earlier tensor whose storage this one also views
	// (its data is appended to that storage).
	ShareWith string
}

func class(t Tensor) string {
	if t.Class != "" {
		return t.Class
	}
	switch t.DType {
	case safetensors.F16:
		return "HalfStorage"
	case safetensors.BF16:
		return "BFloat16Storage"
	}
	return "FloatStorage"
}

// pickler writes pickle protocol 2 opcodes.
type pickler struct{ bytes.Buffer }

func (p *pickler) global(module, name string) { fmt.Fprintf(p, "c%s\n%s\n", module, name) }
func (p *pickler) str(s string) {
	p.WriteByte('X')
	_ = binary.Write(p, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
}
func (p *pickler) int(n int) {
	p.WriteByte('J')
	_ = binary.Write(p, binary.LittleEndian, int32(n))
}
func (p *pickler) ints(v []int) {
	p.WriteByte('(')
	for _, n := range v {
		p.int(n)
	}
	p.WriteByte('t')
}

// storage is one data/<key> record.
type storage struct {
	class string
	data  []byte
	esize int
}

// Write writes tensors as a torch.save zip checkpoint at path.
func Write(path string, tensors []Tensor) error {
	type view struct {
		key, offset int
		stride      []int
	}
	var storages []*storage
	keyOf := map[string]int{}
	views := make([]view, len(tensors))
	for i, t := range tensors {
		es := t.DType.Size()
		if es == 0 {
			es = 8 // integer buffers in tests are int64
		}
		data := t.Data
		stride := make([]int, len(t.Shape))
		acc := 1
		for d := len(t.Shape) - 1; d >= 0; d-- {
			stride[d] = acc
			acc *= t.Shape[d]
		}
		if t.Transposed {
			if len(t.Shape) != 2 {
				return fmt.Errorf("tensor %s: Transposed needs 2 dimensions", t.Name)
			}
			r, c := t.Shape[0], t.Shape[1]
			data = make([]byte, len(t.Data))
			for a := range r {
				for b := range c {
					copy(data[(b*r+a)*es:(b*r+a+1)*es], t.Data[(a*c+b)*es:(a*c+b+1)*es])
				}
			}
			stride = []int{1, r}
		}
		v := view{key: len(storages), stride: stride}
		if t.ShareWith != "" {
			k, ok := keyOf[t.ShareWith]
			if !ok {
				return fmt.Errorf("tensor %s: ShareWith %s: no such earlier tensor", t.Name, t.ShareWith)
			}
			v.key = k
			v.offset = len(storages[k].data) / es
			storages[k].data = append(storages[k].data, data...)
		} else {
			storages = append(storages, &storage{class: class(t), data: append([]byte(nil), data...), esize: es})
		}
		keyOf[t.Name] = v.key
		views[i] = v
	}
	var p pickler
	p.Write([]byte{0x80, 2})
	p.global("collections", "OrderedDict")
	p.WriteString(")R(")
	for i, t := range tensors {
		v := views[i]
		s := storages[v.key]
		p.str(t.Name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.WriteString("((")
		p.str("storage")
		p.global("torch", s.class)
		p.str(strconv.Itoa(v.key))
		p.str("cpu")
		p.int(len(s.data) / s.esize)
		p.WriteString("tQ")
		p.int(v.offset)
		p.ints(t.Shape)
		p.ints(v.stride)
		p.WriteByte(0x89) // NEWFALSE
		p.global("collections", "OrderedDict")
		p.WriteString(")R")
		p.WriteString("tR")
	}
	p.WriteString("u.")
	records := map[string][]byte{"archive/data.pkl": p.Bytes(), "archive/version": []byte("3\n"), "archive/byteorder": []byte("little")}
	order := []string{"archive/data.pkl", "archive/byteorder"}
	for k, s := range storages {
		name := "archive/data/" + strconv.Itoa(k)
		records[name] = s.data
		order = append(order, name)
	}
	order = append(order, "archive/version")
	return writeZip(path, order, records)
}

func writeZip(path string, order []string, records map[string][]byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range order {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			return err
		}
		if _, err := w.Write(records[name]); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// WriteGlobal writes a checkpoint whose pickle calls module.name(arg) (for
// example os.system("…")) to build the state dict's value.
func WriteGlobal(path, module, name, arg string) error {
	var p pickler
	p.Write([]byte{0x80, 2})
	p.global("collections", "OrderedDict")
	p.WriteString(")R(")
	p.str("w")
	p.global(module, name)
	p.WriteByte('(')
	p.str(arg)
	p.WriteString("tR")
	p.WriteString("u.")
	return writeZip(path, []string{"archive/data.pkl"}, map[string][]byte{"archive/data.pkl": p.Bytes()})
}

// FromModel writes the tensors of the safetensors model in dir as the
// checkpoint path; every second 2-D tensor is stored transposed (a strided
// view).
func FromModel(dir, path string) error {
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		return err
	}
	defer m.Close()
	var ts []Tensor
	for i, name := range m.Names() {
		t, _ := m.Tensor(name)
		ts = append(ts, Tensor{Name: name, DType: t.DType, Shape: t.Shape, Data: t.Bytes(), Transposed: len(t.Shape) == 2 && i%2 == 1})
	}
	return Write(path, ts)
}
