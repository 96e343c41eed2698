package ollama

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

// sizeRecorder records the size of each write.
type sizeRecorder struct {
	bytes.Buffer
	sizes []int
}

func (s *sizeRecorder) Write(p []byte) (int, error) {
	s.sizes = append(s.sizes, len(p))
	return s.Buffer.Write(p)
}

// TestCountingReaderWriteTo: io.Copy through a countingReader (as the
// HTTP client copies a request body) gets every byte, in writes of at
// most uploadWrite bytes (not the 32 KiB of io.Copy's own buffer), and
// the progress reaches the total.
func TestCountingReaderWriteTo(t *testing.T) {
	for _, n := range []int{0, 1, 32 << 10, uploadWrite, 3*uploadWrite + 12345} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		for _, half := range []bool{false, true} {
			var src io.Reader = bytes.NewReader(data)
			if half {
				src = iotest.HalfReader(src) // short reads, as a file being written gives
			}
			var last int64
			cr := &countingReader{r: src, total: int64(n), report: func(d, _ int64) { last = d }}
			var dst sizeRecorder
			got, err := io.Copy(&dst, cr)
			if err != nil || got != int64(n) || !bytes.Equal(dst.Bytes(), data) {
				t.Fatalf("n=%d half=%v: copied %d (%v), bytes equal %v", n, half, got, err, bytes.Equal(dst.Bytes(), data))
			}
			for _, s := range dst.sizes {
				if s > uploadWrite {
					t.Errorf("n=%d: a write of %d bytes", n, s)
				}
			}
			if !half && n >= uploadWrite && dst.sizes[0] != uploadWrite {
				t.Errorf("n=%d: first write %d bytes, want %d", n, dst.sizes[0], uploadWrite)
			}
			if last != int64(n) {
				t.Errorf("n=%d: progress ended at %d", n, last)
			}
		}
	}
}
