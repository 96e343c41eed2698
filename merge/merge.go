// Package merge is mergetune's merge engine: it reads a mergekit
// configuration, plans one task per output tensor, merges the tensors in
// parallel straight from the memory-mapped inputs, and writes a
// safetensors checkpoint to a temporary sibling of the output directory,
// renamed into place only when complete.
package merge

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/merge/gguf"
	"github.com/mergetune/mergetune/merge/lora"
	"github.com/mergetune/mergetune/merge/methods"
	"github.com/mergetune/mergetune/merge/safetensors"
	"github.com/mergetune/mergetune/merge/vec"
)

// DefaultShardSize is the default output shard size in bytes (mergekit's 5B).
const DefaultShardSize = 5_000_000_000

// Options tune a merge. The zero value is usable.
type Options struct {
	// ShardSize is the largest shard in bytes; 0 means DefaultShardSize.
	ShardSize int64
	// Seed seeds the random methods (DARE, DELLA) and the order among
	// elements of equal magnitude at the cut-offs of ties, breadcrumbs and
	// sce. A merge is reproducible bit for bit for a given seed.
	Seed uint64
	// Force allows writing over an existing, non-empty output directory.
	Force bool
	// Workers is the number of tensors merged at once; 0 means GOMAXPROCS.
	Workers int
	// NoTokenizer skips copying the tokenizer files (a vocabulary built
	// for tokenizer_source or a tokenizer block is written all the same).
	NoTokenizer bool
	// Progress, when set, is called after each finished tensor.
	Progress func(Progress)
	// Warn, when set, receives each distinct warning once.
	Warn func(msg string)
	// Masks, when set, replaces the random keep-masks of DARE and DELLA:
	// it returns the mask of model (a reference as written in the config)
	// for an output tensor, or nil to draw it. Tests use it.
	Masks func(tensor, model string) []float32
	// Methods is the method registry; nil means every built-in method.
	Methods methods.Registry
	// AllowNonFinite writes merged tensors holding NaN or ±Inf values
	// (with a warning per tensor) instead of failing with a
	// *NonFiniteError.
	AllowNonFinite bool

	// Format is the output format: "" or FormatSafetensors (a checkpoint
	// directory), or FormatGGUF (one GGUF file that Ollama serves, at the
	// output path; see package merge/gguf).
	Format string
	// GGUFType is the storage type of a GGUF's weight matrices: "" (what
	// Ollama's converter would choose), "f32", "f16", "bf16" or "q8_0".
	GGUFType string
	// Follow, when set, is called once a GGUF output written straight
	// from the merge is laid out, before its tensor data is written, with
	// a reader of the whole file (size bytes) that yields each byte as
	// soon as the merge has written it and fails with gguf.ErrAborted if
	// the merge fails (gguf.Writer.Follow); the caller must close it. The
	// merge does not wait for the reader. It is not called where the
	// merge writes no GGUF itself (another format, or an architecture
	// left to Ollama's converter).
	Follow func(r io.ReadCloser, size int64)
	// NoDigest leaves a GGUF output written straight from the merge
	// unhashed (Result.Digest empty; gguf.Options.NoHash): for a file
	// whose reader computes the digest itself (Follow).
	NoDigest bool

	// parallelFrom overrides bigTensor (tests).
	parallelFrom int
}

// Output formats (Options.Format).
const (
	FormatSafetensors = "safetensors"
	FormatGGUF        = "gguf"
)

// Formats lists the output formats.
func Formats() []string { return []string{FormatSafetensors, FormatGGUF} }

// Progress reports how far a merge has come.
type Progress struct {
	Tensors, TotalTensors int
	Bytes, TotalBytes     int64 // output bytes written
}

// Result describes a finished merge.
type Result struct {
	Dir     string // the output: a directory, or the GGUF file
	Tensors int
	Bytes   int64 // output tensor bytes
	Files   []string
	// Digest is the "sha256:<hex>" digest of a GGUF output, computed
	// while it was written (empty for safetensors, and for a GGUF
	// written by Ollama's converter).
	Digest   string
	Layers   int // output layer count (0 without layers)
	Warnings []string
	Elapsed  time.Duration
}

// RunFile merges the configuration file at path into outDir.
func RunFile(ctx context.Context, path, outDir string, opt Options) (*Result, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return Run(ctx, cfg, outDir, opt)
}

// model is one opened input model.
type model struct {
	ref          string
	dir          string
	st           *safetensors.Model
	hf           *hfConfig
	layerTensors map[int][]layerTensor
	outside      []string
	layers       int
	lora         *lora.Adapter // the adapter of a "model+lora" reference, else nil
}

// engine holds the state of one merge.
type engine struct {
	cfg    *config.Config
	opt    Options
	method *methods.Method
	models map[string]*model
	order  []string    // model references in first-appearance order
	vocab  *vocabulary // the output vocabulary (tokenizer_source, tokenizer:), else nil
	warned sync.Map
	warns  []string
	mu     sync.Mutex
}

func (e *engine) warn(format string, args ...any) {
	if _, dup := e.warned.Load(format); dup {
		return
	}
	e.emit(format, fmt.Sprintf(format, args...))
}

// emit records msg and passes it on, unless a warning with the same key
// came before.
func (e *engine) emit(key, msg string) {
	if _, dup := e.warned.LoadOrStore(key, true); dup {
		return
	}
	e.mu.Lock()
	e.warns = append(e.warns, msg)
	e.mu.Unlock()
	if e.opt.Warn != nil {
		e.opt.Warn(msg)
	}
}

// Run merges cfg into outDir.
func Run(ctx context.Context, cfg *config.Config, outDir string, opt Options) (*Result, error) {
	start := time.Now()
	if opt.Methods == nil {
		opt.Methods = methods.All()
	}
	if opt.ShardSize == 0 {
		opt.ShardSize = DefaultShardSize
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	switch opt.Format {
	case "":
		opt.Format = FormatSafetensors
	case FormatSafetensors, FormatGGUF:
	default:
		return nil, fmt.Errorf("unknown output format %q (want %s)", opt.Format, strings.Join(Formats(), " or "))
	}
	if opt.GGUFType != "" && opt.Format != FormatGGUF {
		return nil, fmt.Errorf("output type %q is for the gguf format", opt.GGUFType)
	}
	if !slices.Contains(gguf.Types(), opt.GGUFType) {
		return nil, fmt.Errorf("unknown GGUF output type %q (want f32, f16, bf16 or q8_0)", opt.GGUFType)
	}
	e := &engine{cfg: cfg, opt: opt, models: map[string]*model{}}
	for _, w := range cfg.Warnings {
		e.emit(w, w) // each config warning is its own message: keyed by its text
	}
	m, err := opt.Methods.Lookup(cfg.MergeMethod)
	if err != nil {
		return nil, fmt.Errorf("%s: merge_method: %w", cfg.File, err)
	}
	e.method = m
	if err := e.checkParams(); err != nil {
		return nil, err
	}
	cleanStale(outDir, e.warn)
	if opt.Format == FormatGGUF {
		if err := checkOutFile(outDir, opt.Force); err != nil {
			return nil, err
		}
	} else if err := checkOutDir(outDir, opt.Force); err != nil {
		return nil, err
	}
	defer e.close()
	if err := e.open(ctx); err != nil {
		return nil, err
	}
	if err := e.checkOverlap(outDir); err != nil {
		return nil, err
	}
	if err := e.buildVocab(ctx); err != nil {
		return nil, err
	}
	slices, err := cfg.Normalize(func(ref string) (int, error) { return e.models[ref].layers, nil })
	if err != nil {
		return nil, err
	}
	tasks, layers, err := e.plan(slices)
	if err != nil {
		return nil, err
	}
	if len(tasks) == 0 {
		return nil, fmt.Errorf("%s: the models hold no tensors to merge", cfg.File)
	}
	for _, t := range tasks {
		if err := e.prepareTask(slices, t); err != nil {
			return nil, err
		}
	}
	tmp, err := newTempDir(outDir)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.remove()
		}
	}()
	var res *Result
	if opt.Format == FormatGGUF {
		if res, err = e.writeGGUF(ctx, tmp, outDir, slices, tasks, layers); err != nil {
			return nil, err
		}
	} else {
		if res, err = e.writeSafetensors(ctx, tmp.path, tasks); err != nil {
			return nil, err
		}
		if err := e.writeExtras(tmp.path, slices, layers); err != nil {
			return nil, err
		}
		if err := tmp.commit(outDir, e.warn); err != nil {
			return nil, err
		}
	}
	ok = true
	res.Dir = outDir
	res.Layers = layers
	res.Warnings = e.warns
	res.Elapsed = time.Since(start)
	return res, nil
}

// checkParams rejects parameter names that no registered method takes and
// values outside a parameter's declared range, naming the file, line, key
// path and value. It warns, once per parameter, about names the method
// does not take but another method does (mergekit ignores them), and
// about global ones set under a model.
func (e *engine) checkParams() error {
	var ignored []string           // names in first-use order
	where := map[string][]string{} // name → key paths
	for _, r := range e.cfg.ParamRefs() {
		d, ok := e.method.Param(r.Name)
		if !ok {
			if len(e.opt.Methods.Takers(r.Name)) == 0 {
				known := make([]string, len(e.method.Params))
				for i, p := range e.method.Params {
					known[i] = p.Name
				}
				return fmt.Errorf("%s: %s: unknown parameter %q for merge_method %s (known: %s)",
					e.cfg.File, r.Path, r.Name, e.method.Name, strings.Join(known, ", "))
			}
			if where[r.Name] == nil {
				ignored = append(ignored, r.Name)
			}
			where[r.Name] = append(where[r.Name], r.Path)
			continue
		}
		if r.PerModel && !d.PerModel {
			e.warn("%s: %s: %q is a global parameter of %s and is ignored under a model (mergekit does the same); set it under parameters",
				e.cfg.File, r.Path, r.Name, e.method.Name)
			continue
		}
		if err := e.checkValues(r, d); err != nil {
			return err
		}
	}
	for _, name := range ignored {
		e.emit("ignored parameter\x00"+e.method.Name+"\x00"+name,
			fmt.Sprintf("%s: %s: merge_method %s does not take parameter %q; it is ignored (as mergekit does)",
				e.cfg.File, strings.Join(where[name], ", "), e.method.Name, name))
	}
	return nil
}

// open opens every model the configuration names (see locator).
func (e *engine) open(ctx context.Context) error {
	loc := e.newLocator()
	for _, ref := range e.cfg.ModelRefs() {
		base, _ := config.SplitLoRA(ref)
		dir, err := loc.dir(ctx, base)
		if err != nil {
			return err
		}
		st, err := loc.weights(ctx, ref, dir)
		if err != nil {
			return err
		}
		m := &model{ref: ref, dir: dir, st: st}
		e.models[ref] = m
		e.order = append(e.order, ref)
		if m.hf, err = readHFConfig(dir); err != nil {
			return err
		}
		if err := e.openLoRA(ctx, m, loc); err != nil {
			return err
		}
		m.layerTensors, m.outside, m.layers = indexLayers(st)
		if n, ok := m.hf.numLayers(); ok && n != m.layers && m.layers > 0 {
			return fmt.Errorf("%s says %d layers but the tensors of %s hold %d", m.hf.path, n, ref, m.layers)
		}
	}
	return nil
}

// resolve maps a model reference to a directory: as written, or relative
// to the configuration file's directory.
func (e *engine) resolve(ref string) string {
	if filepath.IsAbs(ref) || e.cfg.File == "" {
		return ref
	}
	if _, err := os.Stat(ref); err == nil {
		return ref
	}
	alt := filepath.Join(filepath.Dir(e.cfg.File), ref)
	if _, err := os.Stat(alt); err == nil {
		return alt
	}
	return ref
}

func (e *engine) close() {
	for _, m := range e.models {
		m.st.Close()
	}
}

// checkOutDir refuses an existing non-empty directory unless forced.
func checkOutDir(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output %s: %w", dir, err)
	}
	if len(entries) > 0 && !force {
		return fmt.Errorf("output directory %s exists and is not empty (use --force to replace it)", dir)
	}
	return nil
}

// specs returns the output tensors of tasks.
func specs(tasks []*task) []safetensors.Spec {
	out := make([]safetensors.Spec, len(tasks))
	for i, t := range tasks {
		out[i] = safetensors.Spec{Name: t.name, DType: t.dtype, Shape: t.shape}
	}
	return out
}

// writeSafetensors merges every task into a checkpoint in dir.
func (e *engine) writeSafetensors(ctx context.Context, dir string, tasks []*task) (*Result, error) {
	w, err := safetensors.Create(dir, specs(tasks), e.opt.ShardSize)
	if err != nil {
		return nil, err
	}
	return e.write(ctx, w, tasks)
}

// sink is where merged tensors are written: a safetensors checkpoint or a
// GGUF file.
type sink interface {
	WriteFloat32(name string, off int, src []float32) error
	Close() error
	Abort()
	Files() []string
}

// placingSink is a sink that says where each tensor's data starts.
type placingSink interface {
	sink
	Offset(name string) (int64, bool)
}

// write merges every task into w, and closes it (aborts it on error).
func (e *engine) write(ctx context.Context, w sink, tasks []*task) (*Result, error) {
	var total int64
	for _, t := range tasks {
		total += int64(t.len() * t.dtype.Size())
	}
	// Large tensors of a Parallel method are merged one at a time with
	// every worker inside the tensor; the rest run side by side, biggest
	// first so that no long tensor trails at the end. A sink that places
	// tensors at offsets (a GGUF file, hashed as its written prefix grows)
	// gets them in file order instead, every tensor of a Parallel method
	// with every worker, so that the written prefix follows the merge.
	from := bigTensor
	if e.opt.parallelFrom > 0 {
		from = e.opt.parallelFrom
	}
	smallOrder := func(a, b *task) bool { return a.len() > b.len() }
	if o, ok := w.(placingSink); ok {
		offset := func(t *task) int64 {
			off, _ := o.Offset(t.name)
			return off
		}
		tasks = slices.Clone(tasks)
		sort.SliceStable(tasks, func(a, b int) bool { return offset(tasks[a]) < offset(tasks[b]) })
		smallOrder = func(a, b *task) bool { return offset(a) < offset(b) }
		if e.opt.parallelFrom == 0 {
			from = 1
		}
	}
	var big, small []*task
	for _, t := range tasks {
		if e.method.Parallel && e.opt.Workers > 1 && t.len() >= from {
			big = append(big, t)
		} else {
			small = append(small, t)
		}
	}
	sort.SliceStable(small, func(a, b int) bool { return smallOrder(small[a], small[b]) })
	var done atomic.Int64
	var bytes atomic.Int64
	finished := func(t *task) {
		d := done.Add(1)
		b := bytes.Add(int64(t.len() * t.dtype.Size()))
		if e.opt.Progress != nil {
			e.opt.Progress(Progress{Tensors: int(d), TotalTensors: len(tasks), Bytes: b, TotalBytes: total})
		}
	}
	fail := func(err error) (*Result, error) {
		w.Abort()
		return nil, err
	}
	for _, t := range big {
		t.job.Workers = e.opt.Workers
		if err := e.run(ctx, w, t, e.opt.Workers); err != nil {
			return fail(err)
		}
		finished(t)
	}
	g, gctx := errgroup.WithContext(ctx)
	next := make(chan *task)
	g.Go(func() error {
		defer close(next)
		for _, t := range small {
			select {
			case next <- t:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range e.opt.Workers {
		g.Go(func() error {
			for t := range next {
				if err := e.run(gctx, w, t, 1); err != nil {
					return err
				}
				finished(t)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fail(err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return &Result{Tensors: len(tasks), Bytes: total, Files: w.Files()}, nil
}

// chunkElems is the target number of elements per kernel call.
const chunkElems = 1 << 18

// bigTensor is the size from which a tensor is merged by all workers.
const bigTensor = 4 << 20

// run merges one tensor chunk by chunk, on `workers` goroutines when the
// method's kernel allows concurrent chunks, and writes it.
func (e *engine) run(ctx context.Context, w sink, t *task, workers int) error {
	for _, in := range t.inputs {
		in.tensor.Prefetch()
	}
	defer func() {
		for _, in := range t.inputs {
			in.tensor.Release()
		}
	}()
	kernel, err := e.method.Prepare(ctx, t.job)
	if err != nil {
		return fmt.Errorf("merge %s: %w", t.name, err)
	}
	kernel = t.faultChecked(kernel)
	n := t.len()
	row := t.job.RowLen()
	step := max(row, chunkElems/row*row)
	count := (n + step - 1) / step
	var nonFinite atomic.Int64
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for range max(1, min(workers, count)) {
		g.Go(func() error {
			buf := make([]float32, min(step, n))
			for {
				c := int(next.Add(1) - 1)
				if c >= count {
					return nil
				}
				if err := gctx.Err(); err != nil {
					return err
				}
				off := c * step
				out := buf[:min(step, n-off)]
				if err := kernel(off, out); err != nil {
					return fmt.Errorf("merge %s: %w", t.name, err)
				}
				nonFinite.Add(int64(vec.CountNonFinite(out)))
				if err := w.WriteFloat32(t.name, off, out); err != nil {
					return err
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return e.checkFinite(t, nonFinite.Load())
}
