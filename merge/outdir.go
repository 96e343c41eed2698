package merge

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A merge writes into a temporary sibling of its output directory,
//
//	PARENT/.OUT.tmp-HOST-PID-START-RAND
//
// named for its owner: a hash of the host name, the process ID and the
// process's start time (so that a reused PID is not mistaken for the
// owner). The owner also holds an flock on the directory while it writes.
// A temporary directory whose owner is gone (another host's are left
// alone) and whose lock is free is stale: the next merge into the same
// parent directory removes it, or, for a ".old" one (an output moved
// aside by a replace that was killed half-way) whose output directory is
// missing, moves it back.

// tmpMark separates an output name from the owner tag in a temporary name.
const tmpMark = ".tmp-"

// oldSuffix marks an output moved aside while being replaced.
const oldSuffix = ".old"

// tempDir is a merge's temporary output directory, locked by its owner.
type tempDir struct {
	path string
	lock *os.File
}

// owner identifies the process owning a temporary directory.
type owner struct {
	host  string // hash of the host name, 8 hex digits
	pid   int
	start uint64 // process start time in clock ticks since boot; 0 if unknown
}

func (o owner) tag() string {
	return fmt.Sprintf("%s-%d-%d", o.host, o.pid, o.start)
}

// hostHash is a short hash of the host name.
func hostHash() string {
	name, _ := os.Hostname()
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprintf("%08x", h.Sum32())
}

// self is the owner tag of this process.
func self() owner {
	pid := os.Getpid()
	start, _ := processStart(pid)
	return owner{host: hostHash(), pid: pid, start: start}
}

// processStart returns the start time of process pid (Linux: field 22 of
// /proc/PID/stat) and whether it is a zombie; ok is false where /proc is
// missing or the process does not exist.
func processStart(pid int) (start uint64, ok bool) {
	s, zombie, ok := procStat(pid)
	if !ok || zombie {
		return 0, ok
	}
	return s, true
}

// procStat reads the state and start time of pid from /proc.
func procStat(pid int) (start uint64, zombie, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false, false
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, false, false
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 {
		return 0, false, false
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, false, false
	}
	return start, f[0] == "Z" || f[0] == "X", true
}

// alive reports whether the owner process may still be running on this
// host.
func (o owner) alive() bool {
	err := syscall.Kill(o.pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return false
	}
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return true // unknown: keep its directory
	}
	start, zombie, ok := procStat(o.pid)
	if !ok {
		// No /proc (not Linux), or /proc hides it: it exists.
		return true
	}
	if zombie {
		return false
	}
	return o.start == 0 || start == o.start
}

// parseTemp splits a temporary directory's name into the output name, the
// owner and whether it is an output moved aside (".old"). ok is false for
// a name that is not a temporary directory of this format (including
// those of earlier versions, whose owner cannot be known).
func parseTemp(name string) (out string, o owner, old, ok bool) {
	if !strings.HasPrefix(name, ".") {
		return "", owner{}, false, false
	}
	i := strings.LastIndex(name, tmpMark)
	if i <= 1 {
		return "", owner{}, false, false
	}
	out = name[1:i]
	rest := name[i+len(tmpMark):]
	if r, cut := strings.CutSuffix(rest, oldSuffix); cut {
		rest, old = r, true
	}
	f := strings.Split(rest, "-")
	if len(f) != 4 || len(f[0]) != 8 {
		return "", owner{}, false, false
	}
	if _, err := strconv.ParseUint(f[0], 16, 32); err != nil {
		return "", owner{}, false, false
	}
	pid, err1 := strconv.Atoi(f[1])
	start, err2 := strconv.ParseUint(f[2], 10, 64)
	_, err3 := strconv.ParseUint(f[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || pid <= 0 {
		return "", owner{}, false, false
	}
	return out, owner{host: f[0], pid: pid, start: start}, old, true
}

// lockDir opens dir and takes an exclusive flock on it, without waiting
// when nonBlock is set; the lock lasts until the returned file is closed.
func lockDir(dir string, nonBlock bool) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_EX
	if nonBlock {
		how |= unix.LOCK_NB
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// cleanStale removes the stale temporary directories beside outDir (those
// of any output in the same parent directory), and moves a stale ".old"
// output back into place when its output directory is missing. Problems
// are reported through warn; they do not stop a merge.
func cleanStale(outDir string, warn func(format string, args ...any)) {
	parent := filepath.Dir(filepath.Clean(outDir))
	entries, err := os.ReadDir(parent)
	if err != nil {
		return // a missing parent is reported when the temporary directory is made
	}
	host := hostHash()
	var names []string
	for _, e := range entries {
		if e.IsDir() && strings.Contains(e.Name(), tmpMark) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		out, o, old, ok := parseTemp(name)
		if !ok || o.host != host || o.alive() {
			continue
		}
		path := filepath.Join(parent, name)
		if old {
			dst := filepath.Join(parent, out)
			if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
				if err := os.Rename(path, dst); err != nil {
					warn("restore %s, moved aside by an interrupted merge: %v", dst, err)
				} else {
					warn("restored %s from %s, left by an interrupted merge", dst, path)
				}
				continue
			}
			if err := os.RemoveAll(path); err != nil {
				warn("remove %s, left by an interrupted merge: %v", path, err)
			}
			continue
		}
		lock, err := lockDir(path, true)
		if err != nil {
			continue // locked (its owner lives elsewhere) or gone
		}
		err = os.RemoveAll(path)
		lock.Close()
		if err != nil {
			warn("remove %s, left by an interrupted merge: %v", path, err)
		}
	}
}

// newTempDir creates and locks the temporary sibling of outDir. It is
// made with mode 0755 less the umask, the mode the output keeps.
func newTempDir(outDir string) (*tempDir, error) {
	clean := filepath.Clean(outDir)
	parent, base := filepath.Dir(clean), filepath.Base(clean)
	prefix := filepath.Join(parent, "."+base+tmpMark+self().tag()+"-")
	for range 1000 {
		path := prefix + strconv.FormatUint(uint64(rand.Uint32()), 10)
		err := os.Mkdir(path, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create temporary output directory beside %s: %w", outDir, err)
		}
		lock, err := lockDir(path, false)
		if err != nil {
			os.Remove(path)
			return nil, fmt.Errorf("lock temporary output directory %s: %w", path, err)
		}
		return &tempDir{path: path, lock: lock}, nil
	}
	return nil, fmt.Errorf("create temporary output directory beside %s: too many name collisions", outDir)
}

// remove deletes the temporary directory (a failed merge).
func (t *tempDir) remove() {
	os.RemoveAll(t.path)
	t.lock.Close()
}

// commit moves the finished temporary directory to dir. An existing dir
// is swapped out atomically where the system can (renameat2
// RENAME_EXCHANGE on Linux), so that dir is never missing; elsewhere it is
// moved aside to a ".old" sibling first, which the next merge restores if
// this one is killed before the second rename. A failure to remove the
// old output afterwards is passed to warn.
func (t *tempDir) commit(dir string, warn func(format string, args ...any)) error {
	return t.commitWith(dir, warn, exchange)
}

// commitWith is commit with the given exchange function (tests pass one
// without support, to exercise the fallback).
func (t *tempDir) commitWith(dir string, warn func(format string, args ...any), exchange func(a, b string) error) error {
	defer t.lock.Close()
	if _, err := os.Lstat(dir); err == nil {
		err := exchange(t.path, dir)
		if err == nil {
			// The old output is now at t.path.
			if err := os.RemoveAll(t.path); err != nil {
				warn("remove the replaced output %s: %v", t.path, err)
			}
			return nil
		}
		if !errors.Is(err, errNoExchange) && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("swap %s into %s: %w", t.path, dir, err)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			old := t.path + oldSuffix
			if err := os.Rename(dir, old); err != nil {
				return fmt.Errorf("move old %s aside: %w", dir, err)
			}
			if err := os.Rename(t.path, dir); err != nil {
				if rerr := os.Rename(old, dir); rerr != nil {
					return fmt.Errorf("rename %s to %s: %w (and moving the old output back from %s: %v)", t.path, dir, err, old, rerr)
				}
				return fmt.Errorf("rename %s to %s: %w", t.path, dir, err)
			}
			if err := os.RemoveAll(old); err != nil {
				warn("remove the replaced output %s: %v", old, err)
			}
			return nil
		}
	}
	if err := os.Rename(t.path, dir); err != nil {
		return fmt.Errorf("rename %s to %s: %w", t.path, dir, err)
	}
	return nil
}

// errNoExchange says the system or file system cannot swap two paths.
var errNoExchange = errors.New("atomic exchange not supported")
