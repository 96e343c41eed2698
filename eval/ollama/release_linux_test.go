package ollama

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident returns how many of f's pages are in the page cache.
func resident(t *testing.T, f *os.File, size int) int {
	t.Helper()
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (size+page-1)/page)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// TestReleasingRead: an upload's body, read, gives the file's bytes and
// leaves none of its pages in the page cache.
func TestReleasingRead(t *testing.T) {
	dir := t.TempDir()
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type == unix.TMPFS_MAGIC {
		t.Skip("the temporary directory is on tmpfs, whose pages are memory and take no page cache advice")
	}
	const size = 3*releaseEvery + 12345 // several releases and a tail
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(rand.Uint32())
	}
	path := filepath.Join(dir, "blob.gguf")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil { // clean pages: DONTNEED drops them
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, f); err != nil {
		t.Fatal(err)
	}
	pages := (size + os.Getpagesize() - 1) / os.Getpagesize()
	if n := resident(t, f, size); n < pages/2 {
		t.Fatalf("only %d of %d pages resident after a plain read; the check cannot tell", n, pages)
	}
	got, err := io.ReadAll(&fileBody{f: f, size: size, rel: releaser{f: f}, pr: &progress{total: size, report: func(int64, int64) {}}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the releasing reader gave other bytes than the file's")
	}
	if n := resident(t, f, size); n > pages/100 {
		t.Errorf("%d of %d pages still in the page cache after the upload's read", n, pages)
	}
}
