package eval_test

import (
	"context"
	"fmt"
	"log"
	"path/filepath"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/runner"
)

// ExampleEvaluate scores the toy family's reverse fine-tune on its own
// task with the built-in runner.
func ExampleEvaluate() {
	ctx := context.Background()
	m, err := runner.New(runner.Options{}).Open(ctx, filepath.Join("..", "datasets", "toy", "family", "reverse"))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	task, err := datasets.Builtin("toy:reverse", "", 20)
	if err != nil {
		log.Fatal(err)
	}
	res, err := eval.Evaluate(ctx, m, task, eval.Options{Parallel: eval.DefaultParallel})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d items scored\n", res.Task, res.N)
	fmt.Println("at least 90% correct:", res.Accuracy >= 0.9)
	fmt.Println("95% interval holds the accuracy:", res.CI95[0] <= res.Accuracy && res.Accuracy <= res.CI95[1])
	// Output:
	// toy:reverse: 20 items scored
	// at least 90% correct: true
	// 95% interval holds the accuracy: true
}
