package ollama

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ollama/ollama/api"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/datasets/toy"
	"github.com/mergetune/mergetune/eval"
)

// benchItems returns the prompts of the toy task "reverse" and its
// fine-tune's directory (or a runner fixture when the family is missing).
func benchItems(b *testing.B) (string, []string) {
	task, _ := toy.Lookup("reverse")
	items, err := task.Items(toy.SplitTest, 64)
	if err != nil {
		b.Fatal(err)
	}
	prompts := make([]string, len(items))
	for i, it := range items {
		prompts[i] = it.Prompt
	}
	dir := filepath.Join(familyDir, "reverse")
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		dir = modelDir()
	}
	return dir, prompts
}

// BenchmarkGenerate reports items/s of Model.Generate with testParallel
// concurrent callers, and of a bare loop of the same requests with the
// api client (same server, model and options), to show the backend's
// overhead.
func BenchmarkGenerate(b *testing.B) {
	dir, prompts := benchItems(b)
	m := open(b, backend(b, Options{}), dir)
	opt := eval.GenerateOptions{MaxTokens: 16, Stop: []string{"\n"}}
	run := func(b *testing.B, one func(prompt string) error) {
		var next atomic.Int64
		b.ResetTimer()
		var wg sync.WaitGroup
		for range testParallel {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= int64(b.N) {
						return
					}
					if err := one(prompts[i%int64(len(prompts))]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
	}
	b.Run("evaluate", func(b *testing.B) {
		// the path of `mergetune eval`: eval.Evaluate over a toy task
		// (ordering, scoring, results), no cache
		task, err := datasets.Builtin("toy:reverse", "", 64)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		items := 0
		for items < b.N {
			res, err := eval.Evaluate(b.Context(), m, task, eval.Options{Parallel: testParallel})
			if err != nil {
				b.Fatal(err)
			}
			items += res.N
		}
		b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
	})
	b.Run("backend", func(b *testing.B) {
		run(b, func(p string) error {
			_, err := m.Generate(b.Context(), p, opt)
			return err
		})
	})
	b.Run("bare-api", func(b *testing.B) {
		c := m.b.client
		no := false
		run(b, func(p string) error {
			return c.Generate(b.Context(), &api.GenerateRequest{
				Model: m.name, Prompt: p, Raw: true, Stream: &no, Truncate: &no, Shift: &no,
				KeepAlive: &api.Duration{Duration: DefaultKeepAlive},
				Options:   m.options(opt.MaxTokens, opt.Stop),
			}, func(api.GenerateResponse) error { return nil })
		})
	})
}
