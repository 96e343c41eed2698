package merge

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// inputsIntact fails unless every model directory still opens and the
// configuration file still exists.
func inputsIntact(t *testing.T, cfg string, models ...string) {
	t.Helper()
	if _, err := os.Stat(cfg); err != nil {
		t.Errorf("configuration file gone: %v", err)
	}
	for _, m := range models {
		if _, err := os.Stat(filepath.Join(m, "model.safetensors")); err != nil {
			t.Errorf("input model %s damaged: %v", m, err)
		}
	}
}

// TestOutDirOverlapRefused checks that an output directory that is,
// contains or lies inside an input model, or contains the configuration
// file, is refused even with Force, leaving the inputs in place. Before,
// a forced merge deleted its own inputs and succeeded.
func TestOutDirOverlapRefused(t *testing.T) {
	tests := []struct {
		name string
		out  func(root string) string // root holds models/a, models/b, cfg/merge.yml
		want string
	}{
		{"output is an input", func(r string) string { return filepath.Join(r, "models", "a") }, "is the directory of input model"},
		{"output holds the inputs", func(r string) string { return filepath.Join(r, "models") }, "contains input model"},
		{"output is the root", func(r string) string { return r }, "contains input model"},
		{"output inside an input", func(r string) string { return filepath.Join(r, "models", "b", "merged") }, "lies inside input model"},
		{"output is the config's directory", func(r string) string { return filepath.Join(r, "cfg") }, "contains the configuration file"},
		{"output through a symlink to an input", func(r string) string {
			link := filepath.Join(r, "link")
			if err := os.Symlink(filepath.Join(r, "models", "a"), link); err != nil {
				t.Fatal(err)
			}
			return link
		}, "is the directory of input model"},
		{"output spelled with ..", func(r string) string { return filepath.Join(r, "cfg", "..", "models", "a", ".") }, "is the directory of input model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			a, b := filepath.Join(root, "models", "a"), filepath.Join(root, "models", "b")
			ckpt{layers: 1, hidden: 4, vocab: 8, seed: 1}.write(t, a)
			ckpt{layers: 1, hidden: 4, vocab: 8, seed: 2}.write(t, b)
			os.MkdirAll(filepath.Join(root, "cfg"), 0o755)
			cfg := filepath.Join(root, "cfg", "merge.yml")
			writeFile(t, cfg, "merge_method: linear\nmodels:\n  - {model: ../models/a, parameters: {weight: 1}}\n  - {model: ../models/b, parameters: {weight: 1}}\n")
			out := tc.out(root)
			_, err := RunFile(context.Background(), cfg, out, Options{Force: true})
			if err == nil {
				t.Fatalf("merge into %s succeeded", out)
			}
			for _, w := range []string{cfg, out, tc.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			inputsIntact(t, cfg, a, b)
		})
	}
	// Beside the inputs and the configuration is fine.
	root := t.TempDir()
	ckpt{layers: 1, hidden: 4, vocab: 8, seed: 1}.write(t, filepath.Join(root, "a"))
	cfg := filepath.Join(root, "merge.yml")
	writeFile(t, cfg, "merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\n")
	if _, err := RunFile(context.Background(), cfg, filepath.Join(root, "out"), Options{Force: true}); err != nil {
		t.Fatalf("merge beside the inputs: %v", err)
	}
}

// TestOutputMode checks that the output directory gets 0755 less the
// umask, not the 0700 of a private temporary directory.
func TestOutputMode(t *testing.T) {
	for _, mask := range []int{0o022, 0o027, 0o077} {
		dir := t.TempDir()
		ckpt{layers: 1, hidden: 4, vocab: 8, seed: 1}.write(t, filepath.Join(dir, "a"))
		old := syscall.Umask(mask)
		_, out, err := mergeYAML(t, dir, "merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\n", Options{})
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := st.Mode().Perm(), os.FileMode(0o755&^mask); got != want {
			t.Errorf("umask %03o: output mode %v, want %v", mask, got, want)
		}
	}
}

// deadPID returns the ID of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestCleanStale checks which temporary siblings the next merge removes:
// only those of this host whose owner process is gone and whose lock is
// free; a ".old" output whose output directory is missing is moved back.
func TestCleanStale(t *testing.T) {
	dir := t.TempDir()
	me := self()
	dead := owner{host: me.host, pid: deadPID(t), start: 1}
	reused := owner{host: me.host, pid: me.pid, start: me.start + 1} // our PID, another start time
	if me.start == 0 {
		reused = dead
	}
	other := owner{host: "0badc0de", pid: dead.pid, start: 1}
	if other.host == me.host {
		other.host = "0badc0df"
	}
	mk := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(p, "f"), name)
		return p
	}
	staleA := mk(".x.tmp-" + dead.tag() + "-1")
	staleB := mk(".trial-00001.tmp-" + reused.tag() + "-2")
	alive := mk(".x.tmp-" + me.tag() + "-3")         // a merge of this process
	locked := mk(".y.tmp-" + dead.tag() + "-4")      // owner looks dead, but the lock is held
	foreign := mk(".x.tmp-" + other.tag() + "-5")    // another host's
	legacy := mk(".x.tmp-123456")                    // an earlier version's: owner unknown
	oldGone := mk(".z.tmp-" + dead.tag() + "-6.old") // z is missing: restore
	mk("w")
	oldKept := mk(".w.tmp-" + dead.tag() + "-7.old") // w exists: remove
	oldAlive := mk(".v.tmp-" + me.tag() + "-8.old")  // its owner is replacing v now
	lock, err := lockDir(locked, true)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	var warns []string
	cleanStale(filepath.Join(dir, "out"), func(f string, a ...any) { warns = append(warns, f) })
	for _, p := range []string{staleA, staleB, oldGone, oldKept} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("stale %s kept", filepath.Base(p))
		}
	}
	for _, p := range []string{alive, locked, foreign, legacy, oldAlive} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s removed: %v", filepath.Base(p), err)
		}
	}
	if data, err := os.ReadFile(filepath.Join(dir, "z", "f")); err != nil || !strings.HasSuffix(string(data), "-6.old") {
		t.Errorf("z not restored from its .old: %q, %v", data, err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "w", "f")); string(data) != "w" {
		t.Errorf("existing w replaced by its .old: %q", data)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "restored") {
		t.Errorf("warnings %q; want one about the restore", warns)
	}
}

func TestParseTemp(t *testing.T) {
	me := self()
	out, o, old, ok := parseTemp(".my.tmp-model.tmp-" + me.tag() + "-42.old")
	if !ok || out != "my.tmp-model" || o != me || !old {
		t.Errorf("parseTemp = %q %+v %v %v", out, o, old, ok)
	}
	for _, bad := range []string{"x", ".x.tmp-1", ".x.tmp-zz-1-2-3", ".tmp-" + me.tag() + "-1", "x.tmp-" + me.tag() + "-1", ".x.tmp-0000000g-1-2-3", ".x.tmp-00000000--1-2-3"} {
		if _, _, _, ok := parseTemp(bad); ok {
			t.Errorf("parseTemp(%q) accepted", bad)
		}
	}
}

// TestRestoreAfterKilledReplace simulates a replace killed between its two
// renames where no atomic exchange exists: the old output sits in its
// ".old" sibling and the output directory is missing. The next merge puts
// it back before anything else (here: refusing to overwrite it unforced).
func TestRestoreAfterKilledReplace(t *testing.T) {
	dir := t.TempDir()
	ckpt{layers: 1, hidden: 4, vocab: 8, seed: 1}.write(t, filepath.Join(dir, "a"))
	dead := owner{host: hostHash(), pid: deadPID(t), start: 1}
	old := filepath.Join(dir, ".out.tmp-"+dead.tag()+"-9.old")
	os.MkdirAll(old, 0o755)
	writeFile(t, filepath.Join(old, "keep.txt"), "old output")
	half := filepath.Join(dir, ".out.tmp-"+dead.tag()+"-9")
	os.MkdirAll(half, 0o755)
	_, out, err := mergeYAML(t, dir, "merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\n", Options{})
	if err == nil || !strings.Contains(err.Error(), "exists and is not empty") {
		t.Fatalf("error %v; want the restored output refused unforced", err)
	}
	if data, _ := os.ReadFile(filepath.Join(out, "keep.txt")); string(data) != "old output" {
		t.Fatalf("old output not restored")
	}
	assertNoTemp(t, dir)
}

// TestFIFOInputsRefused checks that a FIFO in place of an input's
// config.json or tokenizer file fails the merge at once instead of
// blocking it for ever.
func TestFIFOInputsRefused(t *testing.T) {
	for _, name := range []string{"config.json", "tokenizer.json"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			a := filepath.Join(dir, "a")
			ckpt{layers: 1, hidden: 4, vocab: 8, seed: 1, config: true}.write(t, a)
			fifo := filepath.Join(a, name)
			os.Remove(fifo)
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, _, err := mergeYAML(t, dir, "merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\n", Options{})
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), fifo+" is not a regular file (a FIFO)") {
					t.Fatalf("error %v; want %s refused as a FIFO", err, fifo)
				}
			case <-time.After(time.Minute): // only a blocked open; generous for a busy machine
				if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
					w.Close()
				}
				t.Fatalf("merge blocked on the FIFO %s", fifo)
			}
			assertNoTemp(t, dir)
		})
	}
}

// TestCommit checks both ways of replacing an existing output: the atomic
// exchange and the fallback of two renames; both leave the new output in
// place and no temporary directory.
func TestCommit(t *testing.T) {
	noExchange := func(a, b string) error { return errNoExchange }
	for name, xchg := range map[string]func(a, b string) error{"exchange": exchange, "fallback": noExchange} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			for i, content := range []string{"first", "second"} {
				tmp, err := newTempDir(out)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(tmp.path, "f"), content)
				if err := tmp.commitWith(out, func(f string, a ...any) { t.Errorf(f, a...) }, xchg); err != nil {
					t.Fatalf("commit %d: %v", i, err)
				}
				if data, _ := os.ReadFile(filepath.Join(out, "f")); string(data) != content {
					t.Fatalf("commit %d: output holds %q", i, data)
				}
				assertNoTemp(t, dir)
			}
		})
	}
}
