package search_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mergetune/mergetune/search"
	"github.com/mergetune/mergetune/search/study"
)

// ExampleRun searches TIES's lambda and density for two fine-tunes of the
// toy model family, scored by the built-in runner, and reads the best
// trial's recorded configuration.
func ExampleRun() {
	dir, err := os.MkdirTemp("", "mergetune-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	fam, err := filepath.Abs(filepath.Join("..", "datasets", "toy", "family"))
	if err != nil {
		log.Fatal(err)
	}
	text := fmt.Sprintf(`name: example
base_model: %[1]s/base
models:
  - {model: %[1]s/swapcase, tasks: [swapcase]}
  - {model: %[1]s/rot1, tasks: [rot1]}
method: ties
space:
  lambda: {type: float, low: 0.5, high: 1.5}
  density: {type: float}   # the range ties suggests
tasks: [toy:swapcase@tune, toy:rot1@tune]
limit: 8
trials: 2
workers: 1
sampler: {type: random, seed: 1}
`, fam)
	path := filepath.Join(dir, "study.yml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		log.Fatal(err)
	}
	s, err := study.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	sum, err := search.Run(context.Background(), s, search.Options{})
	if err != nil {
		log.Fatal(err)
	}
	st := sum.Status
	fmt.Printf("study %s: %d of %d trials complete\n", st.Study, st.Complete, st.Budget)
	fmt.Println("baselines:", len(st.Baselines))
	best, err := search.FreezeYAML(st.Best.MergeYAML)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("best method:", best.Method)
	// The first trial starts from the method's start values (merge/methods).
	first, err := search.FreezeYAML(st.Trials[0].MergeYAML)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first trial:", first.Parameters["lambda"], first.ModelParameters["density"])
	// Output:
	// study example: 2 of 2 trials complete
	// baselines: 6
	// best method: ties
	// first trial: 1 0.5
}
