package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/mergetune/mergetune/merge"
)

func newMergeCmd() *cobra.Command {
	var opt merge.Options
	var shard string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "merge CONFIG.yml OUT_DIR|OUT.gguf",
		Short: "Merge models as a mergekit YAML configuration describes",
		Long: `Merge models as a mergekit YAML configuration describes and write the
result to OUT_DIR (safetensors shards, config.json, tokenizer files and the
configuration used, mergetune_config.yml). The output is written to a
temporary sibling directory and moved into place only when complete
(with --force, swapped atomically with the existing OUT_DIR). Temporary
directories of killed merges are removed by the next merge into the same
parent directory. OUT_DIR may not be, contain or lie inside an input model,
nor contain the configuration file.

With --format gguf, or an output path ending in .gguf, the output is one
GGUF file that Ollama serves (ollama create --file a Modelfile with FROM
OUT.gguf), written straight from the merge: the metadata, tokenizer and
tensor layout are what Ollama's converter writes for the architecture
(llama, qwen2, gemma, gemma2, phi3; others are written as safetensors and
converted by Ollama's converter, with a notice). --type sets the storage of
the weight matrices (default: what the converter chooses, bf16 for a bf16
merge, else f16).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := parseSize(shard)
			if err != nil {
				return fmt.Errorf("--out-shard-size: %w", err)
			}
			opt.ShardSize = n
			if opt.Format == "" && strings.EqualFold(filepath.Ext(args[1]), ".gguf") {
				opt.Format = merge.FormatGGUF
			}
			opt.Warn = func(msg string) { fmt.Fprintln(os.Stderr, "warning:", msg) }
			bar := newBar(quiet, "merging")
			if bar != nil {
				opt.Progress = func(p merge.Progress) {
					bar.ChangeMax64(p.TotalBytes)
					bar.Describe(fmt.Sprintf("merging %d/%d tensors", p.Tensors, p.TotalTensors))
					bar.Set64(p.Bytes)
				}
			}
			res, err := merge.RunFile(cmd.Context(), args[0], args[1], opt)
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(os.Stderr)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d tensors, %s in %d file(s), %.1fs\n",
				res.Dir, res.Tensors, humanBytes(res.Bytes), len(res.Files), res.Elapsed.Seconds())
			if res.Digest != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "digest %s\n", res.Digest)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&shard, "out-shard-size", "5B", "largest output shard in bytes (k, m, b suffixes are powers of 1000, as in mergekit)")
	f.Uint64Var(&opt.Seed, "random-seed", 0, "seed of the random draws (dare_*, della*) and of the order in which ties at a magnitude cut-off are kept (ties, breadcrumbs, sce)")
	f.BoolVar(&opt.Force, "force", false, "replace a non-empty OUT_DIR")
	f.IntVar(&opt.Workers, "workers", 0, "tensors merged at once (default: number of CPUs)")
	f.BoolVar(&opt.NoTokenizer, "no-copy-tokenizer", false, "do not copy the tokenizer files")
	f.BoolVar(&opt.AllowNonFinite, "allow-nonfinite", false, "write merged tensors that hold NaN or ±Inf (with a warning) instead of failing")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	f.StringVar(&opt.Format, "format", "", "output format: safetensors (a directory) or gguf (one file); default gguf for an output path ending in .gguf, else safetensors")
	f.StringVar(&opt.GGUFType, "type", "", "GGUF storage of the weight matrices: f32, f16, bf16 or q8_0 (default: what Ollama's converter chooses)")
	return cmd
}

// newBar returns a byte progress bar on a terminal, nil otherwise.
func newBar(quiet bool, what string) *progressbar.ProgressBar {
	if quiet || !isTerminal(os.Stderr) {
		return nil
	}
	return progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
	)
}
