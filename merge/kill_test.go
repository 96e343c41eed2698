package merge

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests here run merges in child processes (this test binary run again
// with MERGETUNE_TEST_CHILD set) and kill them with SIGKILL.

const childEnv = "MERGETUNE_TEST_CHILD"

// TestHelperMergeChild is the child process, not a test: it returns at
// once unless MERGETUNE_TEST_CHILD is set. "pause CONFIG OUT MARKER"
// merges and, after the first tensor, creates MARKER and waits to be
// killed; "loop CONFIG_A CONFIG_B OUT" merges the two configurations into
// OUT in turn (Force) until killed.
func TestHelperMergeChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		return
	}
	args := strings.Split(os.Getenv(childEnv+"_ARGS"), string(filepath.ListSeparator))
	ctx := context.Background()
	switch mode {
	case "pause":
		cfg, out, marker := args[0], args[1], args[2]
		_, err := RunFile(ctx, cfg, out, Options{Workers: 1, Progress: func(Progress) {
			if err := os.WriteFile(marker, nil, 0o644); err != nil {
				panic(err)
			}
			time.Sleep(time.Hour) // wait for SIGKILL
		}})
		fmt.Fprintln(os.Stderr, "child merge ended:", err)
		os.Exit(3)
	case "loop":
		for i := 0; ; i++ {
			if _, err := RunFile(ctx, args[i%2], args[2], Options{Force: true, Workers: 2}); err != nil {
				fmt.Fprintln(os.Stderr, "child merge:", err)
				os.Exit(3)
			}
		}
	}
	os.Exit(2)
}

// child starts this test binary as a merge child.
func child(t *testing.T, mode string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMergeChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childEnv+"_ARGS="+strings.Join(args, string(filepath.ListSeparator)))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("child %s stderr:\n%s", mode, stderr.String())
		}
	})
	return cmd
}

// waitFile waits up to a minute for path to exist (only a child that
// never gets there should reach the limit, even on a busy machine).
func waitFile(t *testing.T, path string, cmd *exec.Cmd) {
	t.Helper()
	for range 6000 {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("child %d did not create %s", cmd.Process.Pid, path)
}

// kill SIGKILLs a child and reaps it.
func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

// temps lists the temporary siblings in dir.
func temps(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.Contains(e.Name(), tmpMark) {
			out = append(out, e.Name())
		}
	}
	return out
}

const linearA = "merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: 1}}]\n"

// TestKilledMergesCleanedNextRun kills merges of a study's trials with
// SIGKILL half-way (their temporary directories stay behind) and checks
// that the next merge into the same parent directory removes them, but not
// the temporary directory of a merge that is still running.
func TestKilledMergesCleanedNextRun(t *testing.T) {
	dir := t.TempDir()
	ckpt{layers: 2, hidden: 8, vocab: 16, seed: 1}.write(t, filepath.Join(dir, "a"))
	ckpt{layers: 2, hidden: 8, vocab: 16, seed: 2}.write(t, filepath.Join(dir, "b"))
	cfg := filepath.Join(dir, "merge.yml")
	writeFile(t, cfg, linearA)
	work := filepath.Join(dir, "work")
	os.MkdirAll(work, 0o755)

	// Three trials merging side by side: each one's start leaves the
	// others' temporary directories alone, their owners being alive.
	var cmds []*exec.Cmd
	for _, name := range []string{"trial-00001", "trial-00002", "trial-00003"} {
		marker := filepath.Join(dir, name+".started")
		cmd := child(t, "pause", cfg, filepath.Join(work, name), marker)
		waitFile(t, marker, cmd)
		cmds = append(cmds, cmd)
	}
	left := temps(t, work)
	if len(left) != 3 {
		t.Fatalf("temporary directories %v; want one per running trial", left)
	}
	// Two are killed; the third runs on.
	kill(t, cmds[0])
	kill(t, cmds[1])
	if _, err := RunFile(context.Background(), cfg, filepath.Join(work, "trial-00004"), Options{}); err != nil {
		t.Fatal(err)
	}
	left = temps(t, work)
	if len(left) != 1 || !strings.HasPrefix(left[0], ".trial-00003.tmp-") {
		t.Fatalf("after the next merge: %v; want only the running trial-00003's", left)
	}
}

// TestTruncatedInputIsAnError truncates an input file while a merge reads
// it: the merge must fail with an error naming the file, not crash with
// SIGBUS, and leave no output and no temporary directory.
func TestTruncatedInputIsAnError(t *testing.T) {
	dir := t.TempDir()
	ckpt{layers: 4, hidden: 32, vocab: 64, seed: 1}.write(t, filepath.Join(dir, "a"))
	ckpt{layers: 4, hidden: 32, vocab: 64, seed: 2}.write(t, filepath.Join(dir, "b"))
	victim := filepath.Join(dir, "b", "model.safetensors")
	if st, err := os.Stat(victim); err != nil || st.Size() < 8*int64(os.Getpagesize()) {
		t.Fatalf("input too small for the test: %v", err)
	}
	n := 0
	_, out, err := mergeYAML(t, dir, linearA, Options{Workers: 1, Progress: func(Progress) {
		if n++; n == 1 {
			if err := os.Truncate(victim, 100); err != nil {
				panic(err)
			}
		}
	}})
	if err == nil {
		t.Fatal("merge of a truncated input succeeded")
	}
	for _, w := range []string{victim, "truncated"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if _, serr := os.Stat(out); serr == nil {
		t.Errorf("output written despite the error")
	}
	assertNoTemp(t, dir)
}

// snapshot reads every file of dir, by relative path.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sameFiles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestRandomKills SIGKILLs a process that replaces OUT_DIR over and over
// with one of two merges, at seeded random moments: after every kill
// OUT_DIR must be one of the two complete outputs (never missing, never
// partial), and after the last kill the next merge leaves no temporary
// directory behind.
func TestRandomKills(t *testing.T) {
	dir := t.TempDir()
	ckpt{layers: 3, hidden: 16, vocab: 32, seed: 1}.write(t, filepath.Join(dir, "a"))
	ckpt{layers: 3, hidden: 16, vocab: 32, seed: 2}.write(t, filepath.Join(dir, "b"))
	cfgA, cfgB := filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yml")
	writeFile(t, cfgA, linearA)
	writeFile(t, cfgB, "merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: 3}}]\n")
	ctx := context.Background()
	refs := make([]map[string]string, 2)
	for i, cfg := range []string{cfgA, cfgB} {
		ref := filepath.Join(dir, fmt.Sprintf("ref%d", i))
		if _, err := RunFile(ctx, cfg, ref, Options{}); err != nil {
			t.Fatal(err)
		}
		refs[i] = snapshot(t, ref)
	}
	parent := filepath.Join(dir, "outs")
	os.MkdirAll(parent, 0o755)
	out := filepath.Join(parent, "out")
	t0 := time.Now()
	if _, err := RunFile(ctx, cfgA, out, Options{}); err != nil {
		t.Fatal(err)
	}
	// Kill within the child's start-up and its first few merges.
	span := 40*time.Millisecond + 5*time.Since(t0)
	rng := rand.New(rand.NewPCG(10, 2026))
	seen := map[int]int{}
	for k := range 12 {
		cmd := child(t, "loop", cfgA, cfgB, out)
		time.Sleep(time.Duration(rng.Int64N(int64(span))))
		kill(t, cmd)
		got := snapshot(t, out)
		which := -1
		for i, ref := range refs {
			if sameFiles(got, ref) {
				which = i
			}
		}
		if which < 0 {
			names := make([]string, 0, len(got))
			for n := range got {
				names = append(names, n)
			}
			t.Fatalf("kill %d: OUT_DIR is neither complete output (files %v; temporary: %v)", k, names, temps(t, parent))
		}
		seen[which]++
	}
	t.Logf("after the kills OUT_DIR held output A %d times, B %d times", seen[0], seen[1])
	if _, err := RunFile(ctx, cfgB, out, Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	if left := temps(t, parent); len(left) > 0 {
		t.Fatalf("temporary directories outlived the next run: %v", left)
	}
	if !sameFiles(snapshot(t, out), refs[1]) {
		t.Fatalf("final merge output differs from its reference")
	}
}
