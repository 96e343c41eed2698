package merge_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mergetune/mergetune/merge"
)

// ExampleRunFile merges two fine-tunes of the toy model family with TIES
// from a mergekit configuration file.
func ExampleRunFile() {
	dir, err := os.MkdirTemp("", "mergetune-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	fam, err := filepath.Abs(filepath.Join("..", "datasets", "toy", "family"))
	if err != nil {
		log.Fatal(err)
	}
	cfg := fmt.Sprintf(`merge_method: ties
base_model: %[1]s/base
models:
  - model: %[1]s/swapcase
    parameters: {weight: 1, density: 0.5}
  - model: %[1]s/rot1
    parameters: {weight: 1, density: 0.5}
parameters: {lambda: 1}
dtype: float32
`, fam)
	path := filepath.Join(dir, "ties.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		log.Fatal(err)
	}
	res, err := merge.RunFile(context.Background(), path, filepath.Join(dir, "out"), merge.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d tensors, %d layers, %d warnings\n", res.Tensors, res.Layers, len(res.Warnings))
	_, err = os.Stat(filepath.Join(res.Dir, "mergetune_config.yml"))
	fmt.Println("configuration kept beside the weights:", err == nil)
	// Output:
	// 21 tensors, 2 layers, 0 warnings
	// configuration kept beside the weights: true
}
