package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/merge/methods"
	"github.com/mergetune/mergetune/merge/safetensors"
	"github.com/mergetune/mergetune/merge/synth"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the speed and memory of mergetune's parts",
	}
	cmd.AddCommand(newBenchMergeCmd(), newBenchTrialCmd(), newBenchSamplersCmd())
	return cmd
}

// defaultBenchMethods are the methods bench merge runs by default.
const defaultBenchMethods = "linear,task_arithmetic,ties,breadcrumbs,dare_ties,della,model_stock,slerp"

// Targets of bench merge.
const (
	// targetIO bounds task_arithmetic: this many times the time to read
	// every model once and write one output once.
	targetIO = 1.5
	// targetFloor bounds linear: this many times the larger of reading its
	// inputs once and writing its output once (issue 16).
	targetFloor = 1.25
	// targetSparse bounds the sparsifying methods: this many times linear.
	targetSparse = 3.0
	// targetRSSMB bounds every method's peak resident memory.
	targetRSSMB = 1024
	// targetGGUF bounds a merge written straight to GGUF (digest
	// included): this many times the same method's safetensors merge
	// (issue 16).
	targetGGUF = 1.0
)

// formatSafetensors is the output format bench merge times by default.
const formatSafetensors = "safetensors"

// benchFormats are the output formats bench merge can time, each with the
// arguments it adds to "mergetune merge" and the output's file name
// suffix: safetensors (a directory) and GGUF written straight from the
// merge, digest included, in each storage type.
func benchFormats() map[string][]string {
	return map[string][]string{
		formatSafetensors: nil,
		"gguf-bf16":       {"--type", "bf16"},
		"gguf-f16":        {"--type", "f16"},
		"gguf-f32":        {"--type", "f32"},
		"gguf-q8_0":       {"--type", "q8_0"},
	}
}

// parseBenchFormats splits and checks --formats.
func parseBenchFormats(s string) ([]string, error) {
	return parseNames("--formats", "format", s, knownName("format", benchFormats()))
}

// parseNames splits the comma-separated names of flag (one what each),
// drops blanks and repeats, and checks each with check; no name at all is
// an error.
func parseNames(flag, what, s string, check func(string) error) ([]string, error) {
	var out []string
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if n == "" || slices.Contains(out, n) {
			continue
		}
		if err := check(n); err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no %s given", flag, what)
	}
	return out, nil
}

// knownName returns a check that a name is a key of table, whose error
// lists the keys.
func knownName[V any](what string, table map[string]V) func(string) error {
	return func(n string) error {
		if _, ok := table[n]; !ok {
			return fmt.Errorf("unknown %s %q (known: %s)", what, n, strings.Join(slices.Sorted(maps.Keys(table)), ", "))
		}
		return nil
	}
}

// benchMergeFlags are the flags of bench merge.
type benchMergeFlags struct {
	dir     string
	shape   string
	methods string
	formats string
	models  int
	out     string
	seed    uint64
}

func newBenchMergeCmd() *cobra.Command {
	var f benchMergeFlags
	cmd := &cobra.Command{
		Use:   "merge",
		Short: "Time each merge method on generated llama checkpoints",
		Long: `Generate a llama-shaped base model and fine-tunes of it (once: they are
kept in --dir and reused), measure how long reading every input byte once
and writing one output once take, then run each merge method in a child
process ("mergetune merge") and report its time, input throughput and peak
resident memory as a markdown table, with the targets met or missed.
--formats times each method's merge into each output format in turn
(safetensors; gguf-bf16, gguf-q8_0, gguf-f16, gguf-f32: one GGUF file
written straight from the merge, its digest included), with each GGUF
merge's ratio to the same method's safetensors merge.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBenchMerge(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", filepath.Join(os.TempDir(), "mergetune-bench"), "cache directory of the generated checkpoints")
	fl.StringVar(&f.shape, "shape", "tinyllama", "model shape: tinyllama (1.1B parameters) or pico (tests)")
	fl.StringVar(&f.methods, "methods", defaultBenchMethods, "comma-separated merge methods to time")
	fl.StringVar(&f.formats, "formats", formatSafetensors, "comma-separated output formats to time each method in: safetensors, gguf-bf16, gguf-q8_0, gguf-f16, gguf-f32")
	fl.IntVar(&f.models, "models", 3, "number of fine-tunes")
	fl.StringVar(&f.out, "out", "", "also write the markdown report to this file")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the generated checkpoints")
	return cmd
}

// benchShape returns the named synthetic shape.
func benchShape(name string) (synth.Shape, error) {
	switch name {
	case "tinyllama":
		return synth.TinyLlama(), nil
	case "pico":
		return synth.Pico(), nil
	}
	return synth.Shape{}, fmt.Errorf("--shape %q: want tinyllama or pico", name)
}

// benchMethod is what bench merge needs to know of a method beyond its
// declaration in merge/methods (its base use and start values).
type benchMethod struct {
	one bool // exactly one fine-tune (slerp)
}

// benchMethods returns the methods bench merge times.
func benchMethods() map[string]benchMethod {
	return map[string]benchMethod{
		"linear": {}, "task_arithmetic": {}, "ties": {}, "dare_ties": {}, "dare_linear": {},
		"breadcrumbs": {}, "breadcrumbs_ties": {}, "della": {}, "della_linear": {},
		"model_stock": {}, "slerp": {one: true},
	}
}

// parseBenchMethods splits and checks --methods.
func parseBenchMethods(s string) ([]string, error) {
	return parseNames("--methods", "method", s, knownName("method", benchMethods()))
}

// benchConfig returns the mergekit YAML of method over base and
// fineTunes, and the models it reads. Every model gets the method's start
// values (methods.Method.Start: the values a study starts from, e.g.
// weight 1/N for linear, weight 1 and density 0.5 for ties), so the
// benchmark merges what a user's first merge would; the base is given to
// the methods that take one.
func benchConfig(method string, bm benchMethod, base string, fineTunes []string) (string, []string, error) {
	m, err := methods.All().Lookup(method)
	if err != nil {
		return "", nil, err
	}
	fts := fineTunes
	if bm.one {
		fts = fts[:1]
	}
	inputs := slices.Clone(fts)
	global, per := m.Start(len(fts))
	d := config.Document{MergeMethod: method, DType: "bfloat16"}
	if m.Base != methods.BaseNone {
		d.BaseModel = base
		inputs = append([]string{base}, inputs...)
	}
	if len(global) > 0 {
		d.Parameters = anyParams(global)
	}
	for _, ft := range fts {
		dm := config.DocumentModel{Model: ft}
		if len(per) > 0 {
			dm.Parameters = anyParams(per)
		}
		d.Models = append(d.Models, dm)
	}
	yml, err := d.Marshal("written by mergetune bench merge")
	return string(yml), inputs, err
}

// anyParams converts method parameters to a Document's values.
func anyParams(p methods.Params) map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

// benchMarker is the file written into a generated model directory once the
// model is complete; its content identifies the model.
const benchMarker = ".mergetune-bench-complete"

// benchModel makes sure dir holds the model (index < 0: the base, else
// fine-tune index) of opt, generating it unless a complete one is there.
func benchModel(ctx context.Context, log io.Writer, dir, label string, opt synth.Options, index int) error {
	id, err := json.Marshal(struct {
		Options synth.Options
		Index   int
		Version int
	}{opt, index, 1})
	if err != nil {
		return fmt.Errorf("describe %s: %w", label, err)
	}
	marker := filepath.Join(dir, benchMarker)
	if got, err := os.ReadFile(marker); err == nil && bytes.Equal(got, id) {
		fmt.Fprintf(log, "using the %s in %s\n", label, dir)
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear %s: %w", dir, err)
	}
	fmt.Fprintf(log, "generating the %s (%.2f GB) in %s ...\n", label, float64(opt.Bytes())/1e9, dir)
	start := time.Now()
	if index < 0 {
		err = synth.WriteBase(ctx, dir, opt)
	} else {
		err = synth.WriteFineTune(ctx, dir, opt, index)
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(marker, id, 0o644); err != nil {
		return fmt.Errorf("mark %s complete: %w", dir, err)
	}
	fmt.Fprintf(log, "  done in %.1f s\n", time.Since(start).Seconds())
	return nil
}

// modelFiles returns the safetensors files of the model in dir and their
// total size.
func modelFiles(dir string) ([]string, int64, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, 0, fmt.Errorf("no safetensors files in %s", dir)
	}
	var total int64
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, 0, fmt.Errorf("stat %s: %w", p, err)
		}
		total += st.Size()
	}
	return paths, total, nil
}

// ioBufSize is the buffer size of the read-once and write-once measures.
const ioBufSize = 16 << 20

// writeBlock is the size of each write of the write-once floor: what the
// merge's writers write at a time (safetensors.ConvChunk bfloat16 values).
// Larger writes fill larger page-cache folios, which cost several times
// more to fill in some VMs (dd with bs=16M took 6.6-12 s for 2.2 GB where
// bs=128K took 1.7-1.8 s, fsync included), so a floor written in larger
// blocks would be no floor.
const writeBlock = 2 * safetensors.ConvChunk

// readFiles reads every byte of paths sequentially and returns the bytes
// read.
func readFiles(ctx context.Context, paths []string, buf []byte) (int64, error) {
	var total int64
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return total, fmt.Errorf("read once: %w", err)
		}
		for {
			if err := ctx.Err(); err != nil {
				f.Close()
				return total, err
			}
			n, err := f.Read(buf)
			total += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return total, fmt.Errorf("read once: read %s: %w", p, err)
			}
		}
		f.Close()
	}
	return total, nil
}

// catFiles reads paths once with `cat` into /dev/null and returns the
// time and "cat"; without a cat on PATH it reads them in this process
// ("sequential reads").
func catFiles(ctx context.Context, paths []string, buf []byte) (time.Duration, string, error) {
	if cat, err := exec.LookPath("cat"); err == nil {
		c := exec.CommandContext(ctx, cat, paths...)
		var stderr bytes.Buffer
		c.Stderr = &stderr
		start := time.Now()
		if err := c.Run(); err != nil {
			return 0, "", fmt.Errorf("read once: cat %s: %w: %s", strings.Join(paths, " "), err, stderr.String())
		}
		return time.Since(start), "cat", nil
	}
	start := time.Now()
	if _, err := readFiles(ctx, paths, buf); err != nil {
		return 0, "", err
	}
	return time.Since(start), "sequential reads", nil
}

// ddWrite writes n bytes to a new file at path with `dd conv=fsync` (GNU
// dd: the count in bytes, writeBlock bytes a write), removes it and
// returns the time and "dd";
// where dd is missing or refuses the flags it writes them in this process
// ("sequential writes + fsync").
func ddWrite(ctx context.Context, path string, n int64, buf []byte) (time.Duration, string, error) {
	if dd, err := exec.LookPath("dd"); err == nil {
		c := exec.CommandContext(ctx, dd, "if=/dev/zero", "of="+path, fmt.Sprintf("bs=%d", writeBlock), fmt.Sprintf("count=%d", n),
			"iflag=count_bytes", "conv=fsync", "status=none")
		start := time.Now()
		err := c.Run()
		elapsed := time.Since(start)
		st, statErr := os.Stat(path)
		os.Remove(path)
		if ctx.Err() != nil {
			return 0, "", ctx.Err()
		}
		if err == nil && statErr == nil && st.Size() == n {
			return elapsed, "dd", nil
		}
	}
	d, err := writeOnce(ctx, path, n, buf)
	return d, "sequential writes + fsync", err
}

// writeOnce writes n bytes to a new file at path, writeBlock bytes a
// write, syncs and removes it, and returns the time until the sync
// returned.
func writeOnce(ctx context.Context, path string, n int64, buf []byte) (time.Duration, error) {
	for i := range buf {
		buf[i] = byte(i*131 + i>>9) // not all zeros, in case the file system compresses
	}
	start := time.Now()
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("write once: %w", err)
	}
	defer os.Remove(path)
	defer f.Close()
	for left := n; left > 0; {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		k := int(min(left, int64(min(len(buf), writeBlock))))
		if _, err := f.Write(buf[:k]); err != nil {
			return 0, fmt.Errorf("write once: write %s: %w", path, err)
		}
		left -= int64(k)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("write once: sync %s: %w", path, err)
	}
	return time.Since(start), nil
}

// benchRun is the measure of one merge method into one output format.
type benchRun struct {
	method    string
	format    string
	outBytes  int64 // size of the output
	seconds   float64
	inBytes   int64
	rssMB     float64
	readFloor float64 // seconds to read the method's inputs once
	cpu       float64 // user + system seconds of the child
}

// childUsage is what a child process used.
type childUsage struct {
	wall  time.Duration
	rssMB float64 // peak resident set size
	cpu   float64 // user + system seconds
	out   string  // stdout and stderr
}

// runChild runs this executable with args in a child process and returns
// what it used.
func runChild(ctx context.Context, exe string, args ...string) (childUsage, error) {
	var out bytes.Buffer
	c := exec.CommandContext(ctx, exe, args...)
	c.Stdout = &out
	c.Stderr = &out
	start := time.Now()
	err := c.Run()
	elapsed := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return childUsage{}, ctx.Err()
		}
		return childUsage{}, fmt.Errorf("%s %s: %w\n%s", exe, strings.Join(args, " "), err, tail(out.String(), 4000))
	}
	u := childUsage{wall: elapsed, cpu: (c.ProcessState.UserTime() + c.ProcessState.SystemTime()).Seconds(), out: out.String()}
	if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.rssMB = float64(ru.Maxrss) * 1024 / 1e6 // KiB on Linux
	}
	return u, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// runBenchMerge is bench merge: progress goes to log, the report to out.
func runBenchMerge(ctx context.Context, out, log io.Writer, f benchMergeFlags) error {
	shape, err := benchShape(f.shape)
	if err != nil {
		return err
	}
	methodNames, err := parseBenchMethods(f.methods)
	if err != nil {
		return err
	}
	formats, err := parseBenchFormats(f.formats)
	if err != nil {
		return err
	}
	if f.models < 1 {
		return fmt.Errorf("--models %d: want at least 1", f.models)
	}
	known := benchMethods()
	for _, m := range methodNames {
		if m == "model_stock" && f.models < 2 {
			return fmt.Errorf("--models %d: model_stock needs at least 2 fine-tunes", f.models)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the mergetune executable: %w", err)
	}
	root, err := filepath.Abs(filepath.Join(f.dir, f.shape))
	if err != nil {
		return fmt.Errorf("--dir %s: %w", f.dir, err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("--dir: %w", err)
	}

	// 1. The checkpoints.
	opt := synth.Options{Shape: shape, Seed: f.seed}
	baseDir := filepath.Join(root, "base")
	if err := benchModel(ctx, log, baseDir, f.shape+" base model", opt, -1); err != nil {
		return err
	}
	fineTunes := make([]string, f.models)
	for i := range fineTunes {
		fineTunes[i] = filepath.Join(root, fmt.Sprintf("ft%d", i+1))
		if err := benchModel(ctx, log, fineTunes[i], fmt.Sprintf("%s fine-tune %d", f.shape, i+1), opt, i+1); err != nil {
			return err
		}
	}
	sizes := map[string]int64{}
	files := map[string][]string{}
	var allFiles []string
	for _, d := range append([]string{baseDir}, fineTunes...) {
		paths, n, err := modelFiles(d)
		if err != nil {
			return err
		}
		sizes[d], files[d] = n, paths
		allFiles = append(allFiles, paths...)
	}

	// 2. The floors: each model's files read once (`cat`, from the page
	// cache) and one output written once (`dd`, fsync included).
	buf := make([]byte, ioBufSize)
	fmt.Fprintln(log, "measuring read once (warm-up read first) ...")
	if _, err := readFiles(ctx, allFiles, buf); err != nil {
		return err
	}
	readTimes := map[string]float64{}
	var readOnce float64
	var readBytes int64
	var readTool string
	for _, d := range append([]string{baseDir}, fineTunes...) {
		dur, tool, err := catFiles(ctx, files[d], buf)
		if err != nil {
			return err
		}
		readTimes[d], readTool = dur.Seconds(), tool
		readOnce += dur.Seconds()
		readBytes += sizes[d]
	}
	fmt.Fprintln(log, "measuring write once ...")
	writeBytes := sizes[baseDir]
	writeDur, writeTool, err := ddWrite(ctx, filepath.Join(root, "write-once.tmp"), writeBytes, buf)
	if err != nil {
		return err
	}
	buf = nil

	// 3. The merges, each in a child process.
	cfgDir := filepath.Join(root, "configs")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", cfgDir, err)
	}
	// Linux carries the peak RSS of a vfork'ed parent into its child's
	// count: measure it with a child that does next to nothing.
	help, err := runChild(ctx, exe, "--help")
	if err != nil {
		return err
	}
	floorMB := help.rssMB
	var runs []benchRun
	for _, m := range methodNames {
		yml, inputs, err := benchConfig(m, known[m], baseDir, fineTunes)
		if err != nil {
			return fmt.Errorf("bench %s: %w", m, err)
		}
		cfgPath := filepath.Join(cfgDir, m+".yml")
		if err := os.WriteFile(cfgPath, []byte(yml), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", cfgPath, err)
		}
		for _, format := range formats {
			r, err := benchMergeOnce(ctx, log, exe, root, cfgPath, m, format)
			if err != nil {
				return err
			}
			for _, in := range inputs {
				r.inBytes += sizes[in]
				r.readFloor += readTimes[in]
			}
			fmt.Fprintf(log, "  %.2f s, %.2f GB/s, %.0f MB peak RSS\n", r.seconds, float64(r.inBytes)/1e9/r.seconds, r.rssMB)
			runs = append(runs, r)
		}
	}

	report := benchReport(benchInfo{
		shape: f.shape, params: shape.Params(), models: f.models,
		readOnce: readOnce, readBytes: readBytes, readTool: readTool,
		writeOnce: writeDur.Seconds(), writeBytes: writeBytes, writeTool: writeTool,
		floorMB: floorMB,
	}, runs)
	if _, err := io.WriteString(out, report); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	if f.out != "" {
		if err := os.WriteFile(f.out, []byte(report), 0o644); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	return nil
}

// benchMergeOnce merges cfgPath (method m) into format in a child
// process, measures it, and removes the output.
func benchMergeOnce(ctx context.Context, log io.Writer, exe, root, cfgPath, m, format string) (benchRun, error) {
	out := filepath.Join(root, "out-"+m)
	extra := benchFormats()[format]
	if format != formatSafetensors {
		out += "-" + format + ".gguf"
	}
	if err := os.RemoveAll(out); err != nil {
		return benchRun{}, fmt.Errorf("clear %s: %w", out, err)
	}
	fmt.Fprintf(log, "merging with %s into %s ...\n", m, format)
	u, err := runChild(ctx, exe, append([]string{"merge", cfgPath, out, "--force", "--quiet"}, extra...)...)
	var size int64
	if err == nil {
		size, err = pathSize(out)
	}
	if rmErr := os.RemoveAll(out); rmErr != nil && err == nil {
		err = fmt.Errorf("remove %s: %w", out, rmErr)
	}
	if err != nil {
		return benchRun{}, fmt.Errorf("bench %s into %s: %w", m, format, err)
	}
	return benchRun{method: m, format: format, outBytes: size, seconds: u.wall.Seconds(), rssMB: u.rssMB, cpu: u.cpu}, nil
}

// pathSize is the size of the file path, or of the files in the directory
// path.
func pathSize(path string) (int64, error) {
	var n int64
	err := filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", path, err)
	}
	return n, nil
}

// benchInfo is the context of a bench merge report.
type benchInfo struct {
	shape                 string
	params                int64
	models                int
	readOnce, writeOnce   float64 // seconds
	readBytes, writeBytes int64
	readTool, writeTool   string // what measured them: cat and dd, or this process
	floorMB               float64
}

// benchReport formats the markdown report.
func benchReport(info benchInfo, runs []benchRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## mergetune bench merge: %s (%s parameters, bf16), base + %d fine-tunes, %d CPUs, %s/%s\n\n",
		info.shape, fmtCount(info.params), info.models, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	linear := map[string]float64{}       // format → linear's seconds
	safetensors := map[string]benchRun{} // method → its safetensors merge
	for _, r := range runs {
		if r.method == "linear" {
			linear[r.format] = r.seconds
		}
		if r.format == formatSafetensors {
			safetensors[r.method] = r
		}
	}
	ratio := func(x, of float64) string {
		if of <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", x/of)
	}
	b.WriteString("| method | format | seconds | CPU s | output GB | input GB/s | peak RSS MB | × linear | × safetensors | read once s | write once s | × max(read, write) |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range runs {
		floor := max(r.readFloor, info.writeOnce)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.2f | %.2f | %.0f | %s | %s | %s | %s | %.2f |\n", r.method, r.format, fmtSec(r.seconds), fmtSec(r.cpu),
			float64(r.outBytes)/1e9, float64(r.inBytes)/1e9/r.seconds, r.rssMB, ratio(r.seconds, linear[r.format]),
			ratio(r.seconds, safetensors[r.method].seconds), fmtSec(r.readFloor), fmtSec(info.writeOnce), r.seconds/floor)
	}
	ioTime := info.readOnce + info.writeOnce
	fmt.Fprintf(&b, "\nread once (%s): %s s (%.2f GB, %.2f GB/s, from page cache)\n", info.readTool, fmtSec(info.readOnce), float64(info.readBytes)/1e9, float64(info.readBytes)/1e9/info.readOnce)
	fmt.Fprintf(&b, "write once (%s): %s s (%.2f GB, %.2f GB/s, fsync included)\n", info.writeTool, fmtSec(info.writeOnce), float64(info.writeBytes)/1e9, float64(info.writeBytes)/1e9/info.writeOnce)
	if r, ok := safetensors["linear"]; ok {
		fmt.Fprintf(&b, "linear / max(read, write): %.2f\n", r.seconds/max(r.readFloor, info.writeOnce))
	}
	fmt.Fprintf(&b, "\nseconds: wall time of the child process `mergetune merge`; CPU s: its user + system time (steadier than the wall time on a busy machine); format: safetensors (a directory) or gguf-TYPE (one GGUF file written straight from the merge with --type TYPE, its SHA-256 digest computed while it is written); output GB: the bytes written; × linear: over linear's merge into the same format; × safetensors: over the same method's safetensors merge in this run; read once s: reading the method's input files once, measured in the same run (cat to /dev/null after a warm-up read: page cache); write once s: writing the base model's bytes once with fsync (dd conv=fsync, in 128 KiB writes as the merge writes); × max(read, write): seconds over the larger of the two, the machine's floor for a merge that overlaps reading, computing and writing; input GB/s: bytes of the input models the method reads (linear: the fine-tunes; slerp: base + one fine-tune; others: base + fine-tunes) / seconds; peak RSS: the child's maxrss, which on Linux includes the bench process's own peak (%.0f MB, measured on `mergetune --help`).\n", info.floorMB)

	b.WriteString("\ntargets:\n")
	mark := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	lin, haveLinear := safetensors["linear"]
	for _, r := range runs {
		if r.format != formatSafetensors {
			st, ok := safetensors[r.method]
			if !ok {
				fmt.Fprintf(&b, "- %s %s ≤ %.2f × its safetensors merge: not measured (safetensors was not run)\n", r.method, r.format, targetGGUF)
				continue
			}
			limit := targetGGUF * st.seconds
			fmt.Fprintf(&b, "- %s %s ≤ %.2f × its safetensors merge = %s s: %s s (%.2f×; CPU %s s against %s s) %s\n", r.method, r.format, targetGGUF,
				fmtSec(limit), fmtSec(r.seconds), r.seconds/st.seconds, fmtSec(r.cpu), fmtSec(st.cpu), mark(r.seconds <= limit))
			continue
		}
		switch r.method {
		case "linear":
			floor := max(r.readFloor, info.writeOnce)
			limit := targetFloor * floor
			fmt.Fprintf(&b, "- linear ≤ %.2f × max(read once, write once) = %s s: %s s (%.2f×) %s\n", targetFloor, fmtSec(limit), fmtSec(r.seconds), r.seconds/floor, mark(r.seconds <= limit))
		case "task_arithmetic":
			limit := targetIO * ioTime
			fmt.Fprintf(&b, "- %s ≤ %.1f × (read once + write once) = %s s: %s s %s\n", r.method, targetIO, fmtSec(limit), fmtSec(r.seconds), mark(r.seconds <= limit))
		case "ties", "breadcrumbs", "dare_ties", "della":
			if !haveLinear {
				fmt.Fprintf(&b, "- %s ≤ %.0f × linear: not measured (linear was not run)\n", r.method, targetSparse)
				continue
			}
			limit := targetSparse * lin.seconds
			fmt.Fprintf(&b, "- %s ≤ %.0f × linear = %s s: %s s (%.2f×) %s\n", r.method, targetSparse, fmtSec(limit), fmtSec(r.seconds), r.seconds/lin.seconds, mark(r.seconds <= limit))
		}
	}
	var over []string
	var maxRSS float64
	maxAt := ""
	for _, r := range runs {
		if r.rssMB > targetRSSMB {
			over = append(over, fmt.Sprintf("%s %s %.0f MB", r.method, r.format, r.rssMB))
		}
		if r.rssMB >= maxRSS {
			maxRSS, maxAt = r.rssMB, r.method+" "+r.format
		}
	}
	if len(over) == 0 {
		fmt.Fprintf(&b, "- peak RSS ≤ %d MB: ok (largest %.0f MB, %s)\n", targetRSSMB, maxRSS, maxAt)
	} else {
		fmt.Fprintf(&b, "- peak RSS ≤ %d MB: MISSED (%s)\n", targetRSSMB, strings.Join(over, ", "))
	}
	return b.String()
}

// fmtSec formats seconds with three significant digits at least.
func fmtSec(s float64) string {
	if s >= 1 {
		return strconv.FormatFloat(s, 'f', 2, 64)
	}
	return strconv.FormatFloat(s, 'g', 3, 64)
}

// fmtCount formats a parameter count: 1.10B, 25.3M, 12345.
func fmtCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	}
	return strconv.FormatInt(n, 10)
}
