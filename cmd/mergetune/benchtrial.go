package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mergetune/mergetune/eval/ollama"
	"github.com/mergetune/mergetune/merge/synth"
)

// benchTrialFlags are the flags of bench trial.
type benchTrialFlags struct {
	dir       string
	shape     string
	models    int
	seed      uint64
	host      string
	modelsDir string
	out       string
}

func newBenchTrialCmd() *cobra.Command {
	var f benchTrialFlags
	cmd := &cobra.Command{
		Use:   "trial --host HOST [--models-dir DIR]",
		Short: "Time a trial's way from merge parameters to a loaded Ollama model, old path beside new",
		Long: `Generate a llama-shaped base model and fine-tunes of it (kept in --dir and
reused), then time, through the Ollama server at --host, the way from a
task_arithmetic merge of them to a loaded model:

  old: merge to safetensors, Ollama's converter + hash, upload, create, load
  new: merge straight to GGUF, hash, blob placed into --models-dir (the
       server's OLLAMA_MODELS; or uploaded without it), create, load

in bf16, and in q8_0 (old: the server's create --quantize q8_0; new: the
merge writes q8_0), beside the merge alone and the floors measured in the
same run: reading the inputs once (cat, page cache warm) and writing one
output with fsync (dd). The report is a markdown table of stage times and
ratios to the merge alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBenchTrial(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", filepath.Join(os.TempDir(), "mergetune-bench"), "cache directory of the generated checkpoints")
	fl.StringVar(&f.shape, "shape", "tinyllama", "model shape: tinyllama (1.1B parameters) or pico (tests)")
	fl.IntVar(&f.models, "models", 3, "number of fine-tunes")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the generated checkpoints")
	fl.StringVar(&f.host, "host", "", "the Ollama server (default OLLAMA_HOST)")
	fl.StringVar(&f.modelsDir, "models-dir", "", "the server's models directory (its OLLAMA_MODELS), for the new path's blob placement; empty: upload")
	fl.StringVar(&f.out, "out", "", "also write the markdown report to this file")
	return cmd
}

// trialRow is one measured way to a loaded model.
type trialRow struct {
	name  string
	merge time.Duration
	st    ollama.ImportStats
}

func (r trialRow) total() time.Duration { return r.merge + r.st.Total() }

func runBenchTrial(ctx context.Context, out, log io.Writer, f benchTrialFlags) error {
	shape, err := benchShape(f.shape)
	if err != nil {
		return err
	}
	if f.models < 1 {
		return fmt.Errorf("--models %d: want at least 1", f.models)
	}
	opt := synth.Options{Shape: shape, Seed: f.seed}
	base := filepath.Join(f.dir, "base")
	if err := benchModel(ctx, log, base, "base model", opt, -1); err != nil {
		return err
	}
	var fts []string
	for i := range f.models {
		d := filepath.Join(f.dir, fmt.Sprintf("ft%d", i))
		if err := benchModel(ctx, log, d, fmt.Sprintf("fine-tune %d", i), opt, i); err != nil {
			return err
		}
		fts = append(fts, d)
	}
	yaml, inputs, err := benchConfig("task_arithmetic", benchMethods()["task_arithmetic"], base, fts)
	if err != nil {
		return err
	}
	work := filepath.Join(f.dir, "trial")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	cfg := filepath.Join(work, "task_arithmetic.yml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var paths []string
	var inBytes int64
	for _, in := range inputs {
		p, n, err := modelFiles(in)
		if err != nil {
			return err
		}
		paths, inBytes = append(paths, p...), inBytes+n
	}
	_, outBytes, err := modelFiles(base)
	if err != nil {
		return err
	}
	buf := make([]byte, ioBufSize)
	if _, err := readFiles(ctx, paths, buf); err != nil { // warm the page cache
		return err
	}
	start := time.Now()
	if _, err := readFiles(ctx, paths, buf); err != nil {
		return err
	}
	cat := time.Since(start)
	dd, err := writeOnce(ctx, filepath.Join(work, "write-once"), outBytes, buf)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "floors: cat %.1f GB in %.2f s, dd %.1f GB in %.2f s\n", float64(inBytes)/1e9, cat.Seconds(), float64(outBytes)/1e9, dd.Seconds())

	backend := func(modelsDir, quantize string) (*ollama.Backend, error) {
		if modelsDir == "" {
			modelsDir = "-"
		}
		return ollama.New(ollama.Options{Host: f.host, ModelsDir: modelsDir, Quantize: quantize, NamePrefix: "mergetune-bench-trial",
			Timeouts: ollama.Timeouts{Import: 30 * time.Minute}})
	}
	mergeTo := func(dst string, args ...string) (time.Duration, error) {
		os.RemoveAll(dst)
		u, err := runChild(ctx, exe, append([]string{"merge", cfg, dst, "--quiet"}, args...)...)
		return u.wall, err
	}
	open := func(be *ollama.Backend, path string) (ollama.ImportStats, error) {
		m, err := be.OpenModel(ctx, path)
		if err != nil {
			return ollama.ImportStats{}, err
		}
		st := m.Stats()
		return st, m.Close() // unloads and deletes it (and its blob)
	}
	stDir := filepath.Join(work, "merged")
	gguf := filepath.Join(work, "merged.gguf")
	q8 := filepath.Join(work, "merged-q8_0.gguf")
	defer os.RemoveAll(stDir)
	defer os.Remove(gguf)
	defer os.Remove(q8)
	var rows []trialRow
	type way struct {
		name      string
		dst       string
		args      []string
		modelsDir string
		quantize  string
	}
	ways := []way{
		{name: "old bf16: safetensors → converter → upload", dst: stDir},
		{name: "new bf16: GGUF → upload", dst: gguf},
		{name: "old q8_0: safetensors → converter → upload → quantize", dst: stDir, quantize: "q8_0"},
		{name: "new q8_0: q8_0 GGUF → upload", dst: q8, args: []string{"--type", "q8_0"}},
	}
	if f.modelsDir != "" {
		ways = append(ways,
			way{name: "new bf16: GGUF → blob store", dst: gguf, modelsDir: f.modelsDir},
			way{name: "new q8_0: q8_0 GGUF → blob store", dst: q8, args: []string{"--type", "q8_0"}, modelsDir: f.modelsDir})
	}
	for _, w := range ways {
		fmt.Fprintf(log, "%s ...\n", w.name)
		be, err := backend(w.modelsDir, w.quantize)
		if err != nil {
			return err
		}
		md, err := mergeTo(w.dst, w.args...)
		if err != nil {
			return err
		}
		st, err := open(be, w.dst)
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		rows = append(rows, trialRow{name: w.name, merge: md, st: st})
	}
	alone := rows[0].merge
	if alone <= 0 {
		alone = time.Nanosecond
	}
	var b strings.Builder
	fmt.Fprintf(&b, "bench trial: %s-shaped base + %d fine-tunes, task_arithmetic, bf16 inputs (%.1f GB read, %.1f GB written)\n\n",
		f.shape, f.models, float64(inBytes)/1e9, float64(outBytes)/1e9)
	fmt.Fprintf(&b, "floors in this run: read inputs once (cat, warm) %.2f s; write one output with fsync (dd) %.2f s; merge alone (safetensors) %.2f s\n\n",
		cat.Seconds(), dd.Seconds(), rows[0].merge.Seconds())
	b.WriteString("| way | merge | convert | hash | upload/place | create | load | params → loaded | × merge alone | GGUF GB |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		up := fmtSec(r.st.Upload.Seconds())
		if r.st.Placed {
			up += " (placed)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %.2f |\n", r.name, fmtSec(r.merge.Seconds()),
			fmtSec(r.st.Convert.Seconds()), fmtSec(r.st.Hash.Seconds()), up, fmtSec(r.st.Create.Seconds()),
			fmtSec(r.st.Load.Seconds()), fmtSec(r.total().Seconds()), r.total().Seconds()/alone.Seconds(), float64(r.st.GGUFBytes)/1e9)
	}
	fmt.Fprint(out, b.String())
	if f.out != "" {
		if err := os.WriteFile(f.out, []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", f.out, err)
		}
	}
	return nil
}
