package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ollama/ollama/api"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/eval/ollama"
	"github.com/mergetune/mergetune/merge"
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
	loads     int
	repeat    int
	ways      string  // a regular expression; "": every way
	prefault  float64 // GB touched and freed before each timed stage
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
  new, streamed: the GGUF uploaded while the merge writes it (in this
       process, as a study's candidate; the server hashes it), create, load

in bf16, and in q8_0 (old: the server's create --quantize q8_0; new: the
merge writes q8_0, and the merge's digest is used: no hash stage). Each new
way is paired with the safetensors merge alone, run just before it, and an
uploaded or streamed way with the upload of the same GGUF alone (the
candidates' own upload, Backend.UploadBlob), just after it: the
machine drifts within a run (the same merge took 3 to 9 s in one run here,
slower after 10+ GB of writes), so each ratio compares like with like. The
floors are measured in the same run: reading the inputs once (cat, page
cache warm) and writing one output with fsync (dd). Then the load alone: each new GGUF is
reloaded --loads times with use_mmap left to the server and with use_mmap
true (mergetune's default), and once more after evicting the file from the
page cache (--loads 0: no load alone). --ways picks ways by name. The report is markdown tables of stage times, ratios to the
paired merge alone and the targets (placed ≤ 1.5 × merge alone; uploaded
≤ merge alone + upload alone). With --repeat N each new way runs N times,
the repetitions interleaved (every way once, then every way again), and a
second table gives each way's ratios, their median and how many met the
target. On a virtual machine that hands free memory back to its host,
--prefault GB writes and frees that much memory right before each timed
stage, so that no stage pays the host's faults for the others (a way
that needs more fresh memory than the stage before it freed, as a stream
to a server on this machine does, pays them otherwise).`,
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
	fl.IntVar(&f.loads, "loads", 3, "warm reloads of each new GGUF measured alone, per use_mmap setting")
	fl.IntVar(&f.repeat, "repeat", 1, "runs of each new way (each paired with its own merge alone and upload alone); the old ways run once")
	fl.StringVar(&f.ways, "ways", "", "run only the ways whose name matches this regular expression (\"streamed\", \"^new bf16\"); default every way")
	fl.Float64Var(&f.prefault, "prefault", 0, "GB of memory written and freed right before each timed stage (0: none), so that each stage writes into memory just freed: a virtual machine that hands free memory back to its host otherwise charges the host's faults to whichever stage needs fresh memory")
	return cmd
}

// trialRow is one measured way to a loaded model.
type trialRow struct {
	name  string
	merge time.Duration
	cpu   float64 // the merge's user + system seconds
	st    ollama.ImportStats
	// alone is the safetensors merge alone run just before a new way
	// (an old way's own merge is one), upload the upload of the same
	// GGUF alone just after an uploaded new way (0: none).
	alone, upload time.Duration
}

// target is a way's target and ratio: a placed way's total against 1.5 ×
// its paired merge alone, an uploaded new way's against its paired merge
// alone + upload alone; an old way has none.
func (r trialRow) target() (ratio float64, text string) {
	ratio = r.total().Seconds() / max(r.alone, time.Nanosecond).Seconds()
	if strings.HasPrefix(r.name, "old") {
		return ratio, ""
	}
	tr, ok := r.targetRatio()
	if r.st.Placed {
		return ratio, fmt.Sprintf("≤ 1.5 × merge: %s", met(ok))
	}
	return ratio, fmt.Sprintf("≤ merge + upload (%.2f s): %.2f×, %s", (r.alone + r.upload).Seconds(), tr, met(ok))
}

// targetRatio is the ratio the way's target bounds, and whether it is
// met: a placed way's total × its merge alone (target 1.5), an uploaded
// way's total × its merge alone + upload alone (target 1).
func (r trialRow) targetRatio() (ratio float64, met bool) {
	if r.st.Placed {
		ratio = r.total().Seconds() / max(r.alone, time.Nanosecond).Seconds()
		return ratio, r.total() <= r.alone*3/2
	}
	lim := max(r.alone+r.upload, time.Nanosecond)
	return r.total().Seconds() / lim.Seconds(), r.total() <= lim
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
	if f.repeat < 1 {
		return fmt.Errorf("--repeat %d: want at least 1", f.repeat)
	}
	if f.loads < 0 {
		return fmt.Errorf("--loads %d: want 0 or more", f.loads)
	}
	if f.prefault < 0 {
		return fmt.Errorf("--prefault %g: want 0 or more GB", f.prefault)
	}
	fresh := func() error { return prefault(int64(f.prefault * 1e9)) }
	pick, err := regexp.Compile(f.ways)
	if err != nil {
		return fmt.Errorf("--ways %q: %w", f.ways, err)
	}
	work := filepath.Join(f.dir, "trial")
	stDir := filepath.Join(work, "merged")
	gguf := filepath.Join(work, "merged.gguf")
	q8 := filepath.Join(work, "merged-q8_0.gguf")
	type way struct {
		name      string
		dst       string
		typ       string // the GGUF's --type
		modelsDir string
		quantize  string
		stream    bool // uploaded while the merge writes it (in this process)
	}
	ways := []way{
		{name: "old bf16: safetensors → converter → upload", dst: stDir},
		{name: "new bf16: GGUF → upload", dst: gguf},
		{name: "new bf16: GGUF streamed while merging", dst: gguf, stream: true},
		{name: "old q8_0: safetensors → converter → upload → quantize", dst: stDir, quantize: "q8_0"},
		{name: "new q8_0: q8_0 GGUF → upload", dst: q8, typ: "q8_0"},
		{name: "new q8_0: q8_0 GGUF streamed while merging", dst: q8, typ: "q8_0", stream: true},
	}
	if f.modelsDir != "" {
		ways = append(ways,
			way{name: "new bf16: GGUF → blob store", dst: gguf, modelsDir: f.modelsDir},
			way{name: "new q8_0: q8_0 GGUF → blob store", dst: q8, typ: "q8_0", modelsDir: f.modelsDir})
	}
	ways = slices.DeleteFunc(ways, func(w way) bool { return !pick.MatchString(w.name) })
	if len(ways) == 0 {
		return fmt.Errorf("--ways %q matches no way of this run (without --models-dir there are no blob store ways)", f.ways)
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
	if err := fresh(); err != nil {
		return err
	}
	dd, err := writeOnce(ctx, filepath.Join(work, "write-once"), outBytes, buf)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "floors: cat %.1f GB in %.2f s, dd %.1f GB in %.2f s\n", float64(inBytes)/1e9, cat.Seconds(), float64(outBytes)/1e9, dd.Seconds())

	backend := func(modelsDir, quantize string, noMmap bool) (*ollama.Backend, error) {
		if modelsDir == "" {
			modelsDir = "-"
		}
		return ollama.New(ollama.Options{Host: f.host, ModelsDir: modelsDir, Quantize: quantize, NamePrefix: "mergetune-bench-trial",
			NoMmap: noMmap, Timeouts: ollama.Timeouts{Import: 30 * time.Minute}})
	}
	// mergeTo merges into dst in a child process and returns its wall
	// time and, for a GGUF, the digest the merge computed while writing.
	mergeTo := func(dst string, args ...string) (childUsage, string, error) {
		os.RemoveAll(dst)
		if err := fresh(); err != nil {
			return childUsage{}, "", err
		}
		u, err := runChild(ctx, exe, append([]string{"merge", cfg, dst, "--quiet"}, args...)...)
		return u, digestRE.FindString(u.out), err
	}
	defer os.RemoveAll(stDir)
	defer os.Remove(gguf)
	defer os.Remove(q8)
	var rows []trialRow
	digests := map[string]string{}
	var runs []way // every way once, then the new ways again (--repeat)
	runs = append(runs, ways...)
	for range f.repeat - 1 {
		for _, w := range ways {
			if !strings.HasPrefix(w.name, "old") {
				runs = append(runs, w)
			}
		}
	}
	for _, w := range runs {
		old := strings.HasPrefix(w.name, "old")
		var alone childUsage
		if !old {
			fmt.Fprintf(log, "merge alone, paired with %s ...\n", w.name)
			if alone, _, err = mergeTo(stDir); err != nil {
				return err
			}
		}
		fmt.Fprintf(log, "%s ...\n", w.name)
		be, err := backend(w.modelsDir, w.quantize, false)
		if err != nil {
			return err
		}
		var md childUsage
		var digest string
		var m *ollama.Model
		if w.stream {
			os.Remove(w.dst)
			if err := fresh(); err != nil {
				return err
			}
			if md, digest, m, err = streamWay(ctx, be, cfg, w.dst, w.typ); err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
		} else {
			var args []string
			if w.typ != "" {
				args = []string{"--type", w.typ}
			}
			if md, digest, err = mergeTo(w.dst, args...); err != nil {
				return err
			}
			if m, err = be.OpenModelDigest(ctx, w.dst, digest); err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
		}
		if old {
			alone = md // the old way's first stage is the merge alone
		}
		digests[w.dst] = digest
		row := trialRow{name: w.name, merge: md.wall, cpu: md.cpu, st: m.Stats(), alone: alone.wall}
		if err := m.Close(); err != nil { // unloads and deletes it (and its blob)
			return err
		}
		if !old && !row.st.Placed {
			// The upload of the same bytes alone, paired with the way.
			fmt.Fprintf(log, "upload %s alone ...\n", filepath.Base(w.dst))
			if err := fresh(); err != nil {
				return err
			}
			if row.upload, err = uploadAlone(ctx, be, w.dst, digest); err != nil {
				return err
			}
		}
		rows = append(rows, row)
	}
	// The load alone, repeated: the server's own choice (a CPU-only
	// server reads the GGUF into memory) beside use_mmap, warm, and once
	// with the GGUF evicted from the page cache.
	var loads []loadRow
	for _, p := range []string{gguf, q8} {
		if _, ok := digests[p]; !ok || f.loads == 0 {
			continue // no way of this run wrote it, or --loads 0
		}
		for _, noMmap := range []bool{true, false} {
			be, err := backend(f.modelsDir, "", noMmap)
			if err != nil {
				return err
			}
			r, err := measureLoads(ctx, log, be, p, digests[p], noMmap, f.loads)
			if err != nil {
				return err
			}
			loads = append(loads, r)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "bench trial: %s-shaped base + %d fine-tunes, task_arithmetic, bf16 inputs (%.1f GB read, %.1f GB written)\n\n",
		f.shape, f.models, float64(inBytes)/1e9, float64(outBytes)/1e9)
	fmt.Fprintf(&b, "floors in this run: read inputs once (cat, warm) %.2f s; write one output with fsync (dd) %.2f s\n\n",
		cat.Seconds(), dd.Seconds())
	if f.prefault > 0 {
		fmt.Fprintf(&b, "before each timed stage (dd too): %g GB of memory written and freed (--prefault)\n\n", f.prefault)
	}
	b.WriteString("| way | merge alone (paired) | merge | merge CPU s | convert | hash | upload/place | upload alone (paired) | create | load | params → loaded | × merge alone | target | GGUF GB |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, r := range rows {
		up := fmtSec(r.st.Upload.Seconds())
		switch {
		case r.st.Placed:
			up += " (placed)"
		case r.st.Streamed:
			up += " (after the merge)"
		case r.st.StreamFallback != "":
			up += " (stream fell back: " + r.st.StreamFallback + ")"
		}
		upAlone := "-"
		if r.upload > 0 {
			upAlone = fmtSec(r.upload.Seconds())
		}
		hash := fmtSec(r.st.Hash.Seconds())
		if r.st.DigestGiven {
			hash = "in merge"
		}
		ratio, target := r.target()
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %s | %s | %s | %s | %s | %s | %s | %.2f | %s | %.2f |\n", r.name, fmtSec(r.alone.Seconds()),
			fmtSec(r.merge.Seconds()), r.cpu, fmtSec(r.st.Convert.Seconds()), hash, up, upAlone, fmtSec(r.st.Create.Seconds()),
			fmtSec(r.st.Load.Seconds()), fmtSec(r.total().Seconds()), ratio, target, float64(r.st.GGUFBytes)/1e9)
	}
	if f.repeat > 1 {
		b.WriteString("\n" + repeatTable(rows))
	}
	if len(loads) > 0 {
		fmt.Fprintf(&b, "\nload alone (%d warm reloads, then one with the GGUF evicted from the page cache; each followed by a one-token request):\n\n", f.loads)
		b.WriteString("| GGUF | use_mmap | warm loads s | min | first requests s | evicted: load + first request s |\n|---|---|---|---:|---|---:|\n")
		for _, l := range loads {
			mode := "true (mergetune's default)"
			if l.noMmap {
				mode = "server's choice"
			}
			var ws, fs []string
			lo := time.Duration(0)
			for i, d := range l.warm {
				ws = append(ws, fmtSec(d.Seconds()))
				fs = append(fs, fmtSec(l.first[i].Seconds()))
				if i == 0 || d < lo {
					lo = d
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s + %s |\n", filepath.Base(l.path), mode, strings.Join(ws, ", "), fmtSec(lo.Seconds()),
				strings.Join(fs, ", "), fmtSec(l.cold[0].Seconds()), fmtSec(l.cold[1].Seconds()))
		}
	}
	fmt.Fprint(out, b.String())
	if f.out != "" {
		if err := os.WriteFile(f.out, []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", f.out, err)
		}
	}
	return nil
}

// repeatTable summarises the repeated runs of each new way: the ratio
// each run's target compares (a placed way's total to its merge alone, an
// uploaded way's to its merge alone + upload alone), their median, and
// how many runs met the target.
func repeatTable(rows []trialRow) string {
	type agg struct {
		ratios []float64
		met    int
	}
	var names []string
	by := map[string]*agg{}
	for _, r := range rows {
		if strings.HasPrefix(r.name, "old") {
			continue
		}
		a := by[r.name]
		if a == nil {
			a = &agg{}
			by[r.name] = a
			names = append(names, r.name)
		}
		ratio, ok := r.targetRatio()
		a.ratios = append(a.ratios, ratio)
		if ok {
			a.met++
		}
	}
	var b strings.Builder
	b.WriteString("| way | target | ratio per run | median | met |\n|---|---|---|---:|---:|\n")
	for _, n := range names {
		a := by[n]
		var rs []string
		for _, x := range a.ratios {
			rs = append(rs, fmt.Sprintf("%.2f", x))
		}
		target := "× (merge alone + upload alone) ≤ 1"
		if strings.Contains(n, "blob store") {
			target = "× merge alone ≤ 1.5"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %d of %d |\n", n, target, strings.Join(rs, ", "), median(a.ratios), a.met, len(a.ratios))
	}
	return b.String()
}

// median is the middle value of xs (the mean of the middle two for an
// even count); xs is not changed.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// digestRE finds the digest `mergetune merge` prints for a GGUF output.
var digestRE = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// loadRow is the load alone of one GGUF, repeated, each load followed by
// a first request (with use_mmap the weights are read in by the first
// request, not by the load).
type loadRow struct {
	path        string
	noMmap      bool
	warm, first []time.Duration
	cold        [2]time.Duration // load and first request after evicting
}

// measureLoads imports the GGUF path through be (whose NoMmap is noMmap;
// its blob is placed or uploaded, and created), then reloads it n times,
// and once more after evicting the file from the page cache, timing each
// load and the one-token request that follows it, and deletes it.
func measureLoads(ctx context.Context, log io.Writer, be *ollama.Backend, path, digest string, noMmap bool, n int) (loadRow, error) {
	r := loadRow{path: path, noMmap: noMmap}
	m, err := be.OpenModelDigest(ctx, path, digest)
	if err != nil {
		return r, err
	}
	defer m.Close()
	once := func() (load, first time.Duration, err error) {
		if load, err = m.Reload(ctx); err != nil {
			return 0, 0, err
		}
		start := time.Now()
		if _, err := m.Generate(ctx, "Hi", eval.GenerateOptions{MaxTokens: 1}); err != nil {
			return 0, 0, err
		}
		return load, time.Since(start), nil
	}
	for range n {
		load, first, err := once()
		if err != nil {
			return r, err
		}
		r.warm, r.first = append(r.warm, load), append(r.first, first)
	}
	if err := evict(path); err != nil {
		return r, err
	}
	if r.cold[0], r.cold[1], err = once(); err != nil {
		return r, err
	}
	fmt.Fprintf(log, "load %s (no mmap %v): warm %v, first requests %v, evicted %v\n", filepath.Base(path), r.noMmap, r.warm, r.first, r.cold)
	return r, m.Close()
}

// evict drops the file's pages from the page cache (they are clean: the
// merge synced the file). A blob placed by a hard link shares them.
func evict(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("evict %s from the page cache: %w", path, err)
	}
	return nil
}

// uploadAlone uploads the GGUF path as a blob to the server of be, as a
// candidate's upload does (Backend.UploadBlob), and returns how long the
// upload took; the blob is then removed through a
// model created from it and deleted (the server deletes a blob no model
// uses), so that later runs upload it again. The file is read into the
// page cache first (not timed), as it is when a way's upload starts right
// after its merge: the way's upload drops the pages it has sent, and the
// upload alone would otherwise read the file from disk.
func uploadAlone(ctx context.Context, be *ollama.Backend, path, digest string) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := io.Copy(io.Discard, f); err != nil {
		return 0, fmt.Errorf("read %s into the page cache: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := be.UploadBlob(ctx, digest, f, fi.Size()); err != nil {
		return 0, fmt.Errorf("upload %s alone: %w", path, err)
	}
	d := time.Since(start)
	name := "mergetune-bench-upload-alone:latest"
	err = be.Client().Create(ctx, &api.CreateRequest{Model: name, Files: map[string]string{"model.gguf": digest}}, func(api.ProgressResponse) error { return nil })
	if err != nil {
		return 0, fmt.Errorf("create a model of the uploaded %s (to delete its blob): %w", path, err)
	}
	if err := be.Client().Delete(ctx, &api.DeleteRequest{Model: name}); err != nil {
		return 0, fmt.Errorf("delete the model of the uploaded %s: %w", path, err)
	}
	return d, nil
}

// streamWay merges cfg into the GGUF dst (of type typ) in this process
// while be uploads it (Backend.Stream, as a study's candidate is: the
// merge does not hash it, the server does), then opens the model. Its usage is the merge's wall time and this process's
// CPU time over it (the upload's client side included).
func streamWay(ctx context.Context, be *ollama.Backend, cfg, dst, typ string) (childUsage, string, *ollama.Model, error) {
	os.Remove(dst)
	var st eval.Stream
	opt := merge.Options{Format: merge.FormatGGUF, GGUFType: typ, Force: true, NoDigest: true, Follow: func(r io.ReadCloser, size int64) {
		st = be.Stream(ctx, r, size)
	}}
	var ru0, ru1 unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	start := time.Now()
	res, err := merge.RunFile(ctx, cfg, dst, opt)
	u := childUsage{wall: time.Since(start)}
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	u.cpu = rusageSeconds(ru1) - rusageSeconds(ru0)
	if err != nil {
		if st != nil {
			st.Cancel()
		}
		return u, "", nil, err
	}
	if st == nil {
		return u, "", nil, fmt.Errorf("the backend did not stream %s", dst)
	}
	em, err := st.Open(ctx, dst, res.Digest) // the server's digest
	if err != nil {
		return u, "", nil, err
	}
	return u, em.Digest(), em.(*ollama.Model), nil
}

// rusageSeconds is the user + system time of ru, in seconds.
func rusageSeconds(ru unix.Rusage) float64 {
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
