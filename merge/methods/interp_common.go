package methods

import (
	"fmt"
	"strings"
)

// interpScanStep is about how many elements a statistics pass of the
// interpolation methods reads from each input at a time.
const interpScanStep = 1 << 16

// interpScanChunk returns the chunk length of a statistics pass over j's
// inputs: about interpScanStep elements, rounded to a whole number of rows
// (at least one row).
func interpScanChunk(j *Job) int {
	r := j.RowLen()
	return max(1, interpScanStep/r) * r
}

// interpScan reads ins in lockstep, chunk elements at a time over [0, n),
// and calls f with each chunk's offset and the float32 values of every
// input for that chunk. The slices passed to f are reused between calls.
func interpScan(ins []Input, n, chunk int, f func(off int, vals [][]float32)) {
	if n <= 0 {
		return
	}
	chunk = max(1, min(chunk, n))
	bufs := make([][]float32, len(ins))
	vals := make([][]float32, len(ins))
	for i := range bufs {
		bufs[i] = make([]float32, chunk)
	}
	for off := 0; off < n; off += chunk {
		m := min(chunk, n-off)
		for i, in := range ins {
			vals[i] = bufs[i][:m]
			in.Read(off, vals[i])
		}
		f(off, vals)
	}
}

// interpReader reads the same chunk of several inputs into buffers that it
// reuses between kernel calls, so a streaming kernel allocates only once.
type interpReader struct {
	ins  []Input
	bufs [][]float32
	vals [][]float32
}

// newInterpReader returns a reader over ins.
func newInterpReader(ins ...Input) *interpReader {
	return &interpReader{
		ins:  ins,
		bufs: make([][]float32, len(ins)),
		vals: make([][]float32, len(ins)),
	}
}

// read returns elements [off, off+n) of every input, in input order.
func (r *interpReader) read(off, n int) [][]float32 {
	for i, in := range r.ins {
		if cap(r.bufs[i]) < n {
			r.bufs[i] = make([]float32, n)
		}
		r.vals[i] = r.bufs[i][:n]
		in.Read(off, r.vals[i])
	}
	return r.vals
}

// interpCheckChunk reports an error when the chunk [off, off+m) does not
// lie inside the tensor of j.
func interpCheckChunk(method string, j *Job, off, m int) error {
	if off < 0 || off+m > j.Len() {
		return fmt.Errorf("%s: %s: chunk [%d, %d) is outside the tensor of %d elements",
			method, j.Tensor, off, off+m, j.Len())
	}
	return nil
}

// interpInputKernel returns a kernel that copies in unchanged (the methods
// that return a lone input as it is).
func interpInputKernel(method string, j *Job, in Input) Kernel {
	return func(off int, out []float32) error {
		if err := interpCheckChunk(method, j, off, len(out)); err != nil {
			return err
		}
		in.Read(off, out)
		return nil
	}
}

// interpSliceKernel returns a kernel that copies slices of a result that
// Prepare computed whole.
func interpSliceKernel(method string, j *Job, res []float32) Kernel {
	return func(off int, out []float32) error {
		if off < 0 || off+len(out) > len(res) {
			return fmt.Errorf("%s: %s: chunk [%d, %d) is outside the result of %d elements",
				method, j.Tensor, off, off+len(out), len(res))
		}
		copy(out, res[off:off+len(out)])
		return nil
	}
}

// interpInputs returns the inputs of ms, in order.
func interpInputs(ms []Model) []Input {
	ins := make([]Input, len(ms))
	for i := range ms {
		ins[i] = ms[i].Input
	}
	return ins
}

// interpWeights returns the per-model weight parameter of ms, in order
// (0 where it is unset), and their sum.
func interpWeights(ms []Model) ([]float64, float64) {
	w := make([]float64, len(ms))
	var sum float64
	for i := range ms {
		w[i] = ms[i].Params.Get("weight", 0)
		sum += w[i]
	}
	return w, sum
}

// interpWeightList formats the weights of ms as "name=w, …" for messages.
func interpWeightList(ms []Model, w []float64) string {
	parts := make([]string, len(ms))
	for i := range ms {
		parts[i] = fmt.Sprintf("%s=%g", ms[i].Name, w[i])
	}
	return strings.Join(parts, ", ")
}

// interpLoadAll reads every input whole (the non-streaming methods).
func interpLoadAll(ins []Input, n int) [][]float32 {
	out := make([][]float32, len(ins))
	for i, in := range ins {
		out[i] = Load(in, n)
	}
	return out
}
