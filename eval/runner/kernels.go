package runner

import (
	"math"
	"sync"
)

// parallelMACs is the smallest matrix product, in multiply-adds, that is
// split across goroutines; below it the goroutine overhead does not pay off.
const parallelMACs = 1 << 18

// matmul computes out[t, j] = sum_k x[t, k] * w[j, k] for T rows of x
// ([T, K]) and the N rows of w ([N, K]); out is [T, N]. Rows of w are split
// across up to threads goroutines when the product is large enough.
func matmul(out, x, w []float32, T, N, K, threads int) {
	work := T * N * K
	parts := min(threads, work/parallelMACs, N/4)
	if parts <= 1 {
		matmulRows(out, x, w, T, N, K, 0, N)
		return
	}
	var wg sync.WaitGroup
	chunk := (N/parts + 3) &^ 3
	for j0 := 0; j0 < N; j0 += chunk {
		j1 := min(N, j0+chunk)
		wg.Go(func() { matmulRows(out, x, w, T, N, K, j0, j1) })
	}
	wg.Wait()
}

// matmulRows is matmul restricted to the rows [j0, j1) of w. Four rows of w
// are combined with each token in turn, so that they stay in the L1 cache
// while the tokens stream by.
func matmulRows(out, x, w []float32, T, N, K, j0, j1 int) {
	j := j0
	for ; j+4 <= j1; j += 4 {
		w0 := w[j*K : (j+1)*K]
		w1 := w[(j+1)*K : (j+2)*K]
		w2 := w[(j+2)*K : (j+3)*K]
		w3 := w[(j+3)*K : (j+4)*K]
		for t := range T {
			o := out[t*N+j : t*N+j+4]
			o[0], o[1], o[2], o[3] = dot4(w0, w1, w2, w3, x[t*K:(t+1)*K])
		}
	}
	for ; j < j1; j++ {
		wj := w[j*K : (j+1)*K]
		for t := range T {
			out[t*N+j] = dot(wj, x[t*K:(t+1)*K])
		}
	}
}

// dot4 returns the dot products of x with w0..w3 (all of len(x)), with two
// accumulators per row to hide the add latency.
func dot4(w0, w1, w2, w3, x []float32) (float32, float32, float32, float32) {
	n := len(x)
	w0, w1, w2, w3 = w0[:n], w1[:n], w2[:n], w3[:n]
	var a0, a1, a2, a3, b0, b1, b2, b3 float32
	i := 0
	for ; i < n-1; i += 2 {
		x0, x1 := x[i], x[i+1]
		a0 += w0[i] * x0
		a1 += w1[i] * x0
		a2 += w2[i] * x0
		a3 += w3[i] * x0
		b0 += w0[i+1] * x1
		b1 += w1[i+1] * x1
		b2 += w2[i+1] * x1
		b3 += w3[i+1] * x1
	}
	if i < n {
		x0 := x[i]
		a0 += w0[i] * x0
		a1 += w1[i] * x0
		a2 += w2[i] * x0
		a3 += w3[i] * x0
	}
	return a0 + b0, a1 + b1, a2 + b2, a3 + b3
}

// dot returns the dot product of a and b[:len(a)], with eight accumulators.
func dot(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i < n-7; i += 8 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
		s4 += a[i+4] * b[i+4]
		s5 += a[i+5] * b[i+5]
		s6 += a[i+6] * b[i+6]
		s7 += a[i+7] * b[i+7]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3) + (s4 + s5) + (s6 + s7)
}

// axpy computes y += a * x for x of len(y).
func axpy(y, x []float32, a float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// add computes y += x for x of len(y).
func add(y, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += x[i]
	}
}

// rmsNorm computes dst = w * (x * rsqrt(mean(x²) + eps)), the sum of squares
// in float64.
func rmsNorm(dst, x, w []float32, eps float64) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	r := float32(1 / math.Sqrt(ss/float64(len(x))+eps))
	w = w[:len(x)]
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = w[i] * (v * r)
	}
}

// rope rotates one head vector in place in the Hugging Face "rotate_half"
// convention: v*cos + rotate_half(v)*sin, with rotate_half([a, b]) = [-b, a]
// for the first and second halves a and b.
func rope(v, cos, sin []float32) {
	half := len(v) / 2
	a, b := v[:half], v[half:]
	b, cos, sin = b[:len(a)], cos[:len(a)], sin[:len(a)]
	for i := range a {
		x0, x1 := a[i], b[i]
		a[i] = x0*cos[i] - x1*sin[i]
		b[i] = x1*cos[i] + x0*sin[i]
	}
}
