// Command toyexport writes the toy tasks' splits as JSONL files, one
// directory per task, for the model family's training script:
//
//	go run ./datasets/toy/cmd/toyexport -out DIR [-train 2000] [-tune 100] [-test 200]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mergetune/mergetune/datasets/toy"
)

func main() {
	def := toy.DefaultSizes()
	out := flag.String("out", "", "output directory (required)")
	train := flag.Int("train", def[toy.SplitTrain], "train items per task (capped at what the task holds)")
	tune := flag.Int("tune", def[toy.SplitTune], "tune items per task")
	test := flag.Int("test", def[toy.SplitTest], "test items per task")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "toyexport: -out is required")
		flag.Usage()
		os.Exit(2)
	}
	sizes := map[string]int{toy.SplitTrain: *train, toy.SplitTune: *tune, toy.SplitTest: *test}
	if err := toy.Export(*out, sizes); err != nil {
		fmt.Fprintln(os.Stderr, "toyexport:", err)
		os.Exit(1)
	}
}
