package methods

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// BenchmarkGTA times Prepare and the kernel of each sparsifying method on
// one 8M-element tensor (base + 3 fine-tunes, float32 in memory, so no
// dtype conversion), on one worker. Bytes are the input bytes read.
func BenchmarkGTA(b *testing.B) {
	const rows, cols = 2048, 4096
	n := rows * cols
	rng := rand.New(rand.NewSource(1))
	base := make(Slice, n)
	for i := range base {
		base[i] = float32(rng.NormFloat64() * 0.02)
	}
	var models []Slice
	for range 3 {
		m := make(Slice, n)
		for i := range m {
			m[i] = base[i] + float32(rng.NormFloat64()*0.002)
		}
		models = append(models, m)
	}
	reg := All()
	for _, name := range []string{"task_arithmetic", "ties", "breadcrumbs", "dare_ties", "della"} {
		b.Run(name, func(b *testing.B) {
			method := reg[name]
			out := make([]float32, n)
			b.SetBytes(int64(n) * 4 * 4)
			for range b.N {
				j := &Job{Tensor: "w", Shape: []int{rows, cols}, Base: &Model{Input: base}, Workers: 1, Seed: 1}
				for i, m := range models {
					j.Models = append(j.Models, Model{Name: fmt.Sprint(i), Input: m,
						Params: Params{"weight": 0.3, "density": 0.5, "gamma": 0.01, "epsilon": 0.1}})
				}
				if name == "breadcrumbs" {
					for i := range j.Models {
						j.Models[i].Params["density"] = 0.9
					}
				}
				fillDefaults(method, j)
				k, err := method.Prepare(context.Background(), j)
				if err != nil {
					b.Fatal(err)
				}
				for off := 0; off < n; off += 1 << 18 {
					if err := k(off, out[off:off+1<<18]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkGTATies is BenchmarkGTA on bf16-rounded fine-tunes, whose task
// vectors have tie groups of thousands at every cut-off, on two workers.
func BenchmarkGTATies(b *testing.B) {
	const rows, cols = 2048, 4096
	n := rows * cols
	rng := rand.New(rand.NewSource(1))
	round := func(x float64) float32 {
		f := float32(x)
		return math.Float32frombits((math.Float32bits(f) + 0x7fff + (math.Float32bits(f)>>16)&1) &^ 0xffff)
	}
	base := make(Slice, n)
	for i := range base {
		base[i] = round(rng.NormFloat64() * 0.02)
	}
	var models []Slice
	for range 3 {
		m := make(Slice, n)
		for i := range m {
			m[i] = round(float64(base[i]) + rng.NormFloat64()*0.002)
		}
		models = append(models, m)
	}
	reg := All()
	for _, name := range []string{"ties", "breadcrumbs_ties"} {
		b.Run(name, func(b *testing.B) {
			method := reg[name]
			out := make([]float32, n)
			b.SetBytes(int64(n) * 4 * 4)
			for range b.N {
				j := &Job{Tensor: "w", Shape: []int{rows, cols}, Base: &Model{Input: base}, Workers: 2, Seed: 1}
				for i, m := range models {
					j.Models = append(j.Models, Model{Name: fmt.Sprint(i), Input: m,
						Params: Params{"weight": 0.3, "density": 0.5, "gamma": 0.01}})
				}
				fillDefaults(method, j)
				k, err := method.Prepare(context.Background(), j)
				if err != nil {
					b.Fatal(err)
				}
				for off := 0; off < n; off += 1 << 18 {
					if err := k(off, out[off:off+1<<18]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
