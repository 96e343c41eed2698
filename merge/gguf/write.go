package gguf

import (
	"errors"
	"fmt"
	"os"

	"github.com/ollama/ollama/fs/ggml"

	"github.com/mergetune/mergetune/merge/safetensors"
	"github.com/mergetune/mergetune/merge/vec"
)

// buffers are one WriteFloat32 call's scratch space.
type buffers struct {
	vals  []float32
	bytes []byte
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// rowBytes is the size of n values of type k.
func rowBytes(k ggml.TensorType, n int) (int64, error) {
	switch k {
	case ggml.TensorTypeF32:
		return 4 * int64(n), nil
	case ggml.TensorTypeF16, ggml.TensorTypeBF16:
		return 2 * int64(n), nil
	case ggml.TensorTypeQ8_0:
		n, err := vec.Q8_0Size(n)
		return int64(n), err
	}
	return 0, fmt.Errorf("unsupported GGUF type %s", k)
}

// encode writes src in type k into dst (sized by rowBytes).
func encode(k ggml.TensorType, dst []byte, src []float32) error {
	switch k {
	case ggml.TensorTypeF32:
		safetensors.FromFloat32(safetensors.F32, src, dst)
	case ggml.TensorTypeF16:
		safetensors.FromFloat32(safetensors.F16, src, dst)
	case ggml.TensorTypeBF16:
		safetensors.FromFloat32(safetensors.BF16, src, dst)
	case ggml.TensorTypeQ8_0:
		return vec.QuantizeQ8_0(dst, src)
	default:
		return fmt.Errorf("unsupported GGUF type %s", k)
	}
	return nil
}

// WriteFloat32 writes src as elements [off, off+len(src)) of the merged
// tensor name (row-major, in the merge's shape): it rounds the values to the
// merge's dtype, applies the converter's transformation and encodes and
// writes them at their place in the file. A tensor whose rows the
// converter permutes must be written in whole rows. It is safe for
// concurrent use on different ranges.
func (w *Writer) WriteFloat32(name string, off int, src []float32) error {
	e, ok := w.byName[name]
	if !ok {
		return fmt.Errorf("gguf: write %s: no such tensor in %s", name, w.path)
	}
	n := len(src)
	if off < 0 || int64(off)+int64(n) > e.elems {
		return fmt.Errorf("gguf: write %s: elements [%d, %d) out of range of %d", name, off, off+n, e.elems)
	}
	if n == 0 {
		return nil
	}
	b := w.bufs.Get().(*buffers)
	defer w.bufs.Put(b)
	vals := src
	if e.tr.adds || !sameType(e.dtype, e.kind) {
		// Round to the merge's dtype first (encoding to the same type
		// rounds the same way by itself); src stays the caller's.
		b.vals = grow(b.vals, n)
		vals = b.vals
		safetensors.RoundTo(e.dtype, vals, src)
		if e.tr.adds {
			for i := range vals {
				vals[i] += e.tr.add
			}
		}
	}
	if e.quantized && !(e.from == safetensors.BF16 && e.dtype == safetensors.BF16 && !e.tr.adds) {
		// The server quantizes the converter's 16-bit values (vals is
		// scratch space here: sameType is false). Values just rounded
		// to bfloat16 are their own bfloat16 rounding: that case skips
		// the second pass.
		safetensors.Round(e.from, vals)
	}
	if e.tr.perm == nil {
		return w.put(e, b, off, vals)
	}
	if off%e.cols != 0 || n%e.cols != 0 {
		return fmt.Errorf("gguf: write %s: elements [%d, %d) are not whole rows of %d (the converter permutes its rows)", name, off, off+n, e.cols)
	}
	r0, nr := off/e.cols, n/e.cols
	lo, hi := int(e.tr.inv[r0]), int(e.tr.inv[r0])
	for _, d := range e.tr.inv[r0 : r0+nr] {
		lo, hi = min(lo, int(d)), max(hi, int(d))
	}
	if hi-lo+1 != nr {
		for k := range nr {
			if err := w.put(e, b, int(e.tr.inv[r0+k])*e.cols, vals[k*e.cols:(k+1)*e.cols]); err != nil {
				return err
			}
		}
		return nil
	}
	// whole heads: the rows land in one contiguous range, each encoded
	// straight into its place
	rb, err := rowBytes(e.kind, e.cols)
	if err != nil {
		return fmt.Errorf("gguf: write %s: %w", e.name, err)
	}
	b.bytes = grow(b.bytes, nr*int(rb))
	for k := range nr {
		d := int(e.tr.inv[r0+k]) - lo
		if err := encode(e.kind, b.bytes[d*int(rb):(d+1)*int(rb)], vals[k*e.cols:(k+1)*e.cols]); err != nil {
			return fmt.Errorf("gguf: write %s: %w", e.name, err)
		}
	}
	// written ConvChunk elements (whole rows) at a time, as put does
	step := max(1, safetensors.ConvChunk/e.cols)
	for r := 0; r < nr; r += step {
		if err := w.writeBytes(e, (lo+r)*e.cols, b.bytes[r*int(rb):min(r+step, nr)*int(rb)]); err != nil {
			return err
		}
	}
	return nil
}

// sameType reports whether values of dtype d are stored in type k.
func sameType(d safetensors.DType, k ggml.TensorType) bool {
	return d == safetensors.F32 && k == ggml.TensorTypeF32 || d == safetensors.F16 && k == ggml.TensorTypeF16 ||
		d == safetensors.BF16 && k == ggml.TensorTypeBF16
}

// put encodes vals and writes them as elements from off of e's GGUF data,
// safetensors.ConvChunk elements at a time (a whole number of q8_0
// blocks).
func (w *Writer) put(e *entry, b *buffers, off int, vals []float32) error {
	for len(vals) > 0 {
		k := min(len(vals), safetensors.ConvChunk)
		nb, err := rowBytes(e.kind, k)
		if err != nil {
			return fmt.Errorf("gguf: write %s: %w", e.name, err)
		}
		b.bytes = grow(b.bytes, int(nb))
		if err := encode(e.kind, b.bytes, vals[:k]); err != nil {
			return fmt.Errorf("gguf: write %s: %w", e.name, err)
		}
		if err := w.writeBytes(e, off, b.bytes); err != nil {
			return err
		}
		vals, off = vals[k:], off+k
	}
	return nil
}

// writeBytes writes data, encoded, as e's elements from off on.
func (w *Writer) writeBytes(e *entry, off int, data []byte) error {
	if e.kind == ggml.TensorTypeQ8_0 && off%vec.Q8_0Block != 0 {
		return fmt.Errorf("gguf: write %s: element %d does not start a q8_0 block", e.name, off)
	}
	at, err := rowBytes(e.kind, off)
	if err != nil {
		return fmt.Errorf("gguf: write %s: %w", e.name, err)
	}
	if _, err := w.wb.WriteAt(0, data, e.off+at); err != nil {
		return fmt.Errorf("gguf: write %s to %s: %w", e.name, w.path, err)
	}
	nb := int64(len(data))
	e.written.Add(nb)
	w.prefix.mark(e.off+at, e.off+at+nb)
	return nil
}

// Close checks that every byte of every merged tensor was written once (by
// count), finishes the file's digest (Digest), and syncs and closes the
// file. On error the file is removed.
func (w *Writer) Close() error {
	if w.closed.Swap(true) {
		return fmt.Errorf("gguf: close %s: already closed", w.path)
	}
	for _, e := range w.order {
		size, err := rowBytes(e.kind, int(e.elems))
		if err != nil {
			w.abort()
			return fmt.Errorf("gguf: close %s: tensor %s: %w", w.path, e.name, err)
		}
		if got := e.written.Load(); got != size {
			w.abort()
			return fmt.Errorf("gguf: close %s: tensor %s: %d of %d bytes written", w.path, e.name, got, size)
		}
	}
	if w.wb != nil {
		w.wb.Stop()
	}
	// The sync runs while the hasher reads the tail.
	synced := make(chan error, 1)
	go func() { synced <- w.f.Sync() }()
	if w.hash != nil {
		d, err := w.hash.sum()
		if err != nil {
			<-synced
			w.abort()
			return fmt.Errorf("gguf: close %s: hash: %w", w.path, err)
		}
		w.digest = d
	}
	var errs []error
	if err := <-synced; err != nil {
		errs = append(errs, fmt.Errorf("gguf: sync %s: %w", w.path, err))
	}
	if err := w.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("gguf: close %s: %w", w.path, err))
	}
	if err := errors.Join(errs...); err != nil {
		os.Remove(w.path)
		return err
	}
	return nil
}

// Abort closes and removes the file.
func (w *Writer) Abort() {
	if !w.closed.Swap(true) {
		w.abort()
	}
}

func (w *Writer) abort() {
	if w.wb != nil {
		w.wb.Stop()
	}
	if w.hash != nil {
		w.hash.abort()
	}
	w.prefix.abort()
	w.f.Close()
	os.Remove(w.path)
}

// Files returns the file's path.
func (w *Writer) Files() []string { return []string{w.path} }
