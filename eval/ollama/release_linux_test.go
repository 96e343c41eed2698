package ollama

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident returns how many of f's pages are in the page cache.
func resident(t *testing.T, f *os.File, size int) int {
	t.Helper()
	n, err := residentPages(f, size)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func residentPages(f *os.File, size int) (int, error) {
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return 0, err
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (size+page-1)/page)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		return 0, e
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n, nil
}

// TestUploadReleasesPages: a file's upload, complete or still being
// written, through the Backend's own transport (a file still being written
// goes with sendfile to a server elsewhere, in writes to one on this
// machine) or a caller's HTTP client, reaches the server byte
// for byte. A complete file's drops the pages it has sent while it goes on
// (fewer than two thirds of them are cached once the server has read
// three quarters) and leaves none in the page cache at its end, where the
// server is on this machine; a stream's, and a complete file's to a
// server elsewhere, leave the pages cached (releaser says why).
func TestUploadReleasesPages(t *testing.T) {
	dir := t.TempDir()
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type == unix.TMPFS_MAGIC {
		t.Skip("the temporary directory is on tmpfs, whose pages are memory and take no page cache advice")
	}
	const size = 6*releaseEvery + 12345 // several releases and a tail
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
	pages := (size + os.Getpagesize() - 1) / os.Getpagesize()
	type upload struct{ client, growing, remote bool }
	for _, tc := range []upload{{false, false, false}, {true, false, false}, {false, true, false}, {true, true, false}, {false, false, true}, {false, true, true}} {
		if _, err := io.Copy(io.Discard, io.NewSectionReader(f, 0, size)); err != nil {
			t.Fatal(err)
		}
		if n := resident(t, f, size); n < pages/2 {
			t.Fatalf("only %d of %d pages resident after a plain read; the check cannot tell", n, pages)
		}
		sink := newBlobSink(t, size*3/4)
		mid := make(chan int, 1)
		go func() {
			<-sink.got
			n, err := residentPages(f, size)
			if err != nil {
				n = pages
			}
			mid <- n
		}()
		b := sink.backend(t, tc.client)
		if tc.remote {
			b.local = false // as for a server elsewhere (TestBackendLocal)
		}
		var r io.Reader = f
		if tc.growing {
			g := newGrowing(f, size)
			g.grow(size, nil)
			r = g
		}
		if err := b.UploadBlob(context.Background(), "sha256:"+strings.Repeat("0", 64), r, size); err != nil {
			t.Fatal(err)
		}
		sink.mu.Lock()
		same := bytes.Equal(sink.body, want)
		sink.mu.Unlock()
		if !same {
			t.Errorf("%+v: the server got other bytes than the file's", tc)
		}
		keep := tc.growing || tc.remote
		if n := <-mid; n >= pages*2/3 && !keep {
			t.Errorf("%+v: %d of %d pages in the page cache with three quarters of the file sent", tc, n, pages)
		}
		n := resident(t, f, size)
		switch {
		case keep && n < pages*9/10:
			t.Errorf("%+v: %d of %d pages left in the page cache after the upload; a stream's, and a finished file's sent elsewhere, stay", tc, n, pages)
		case !keep && n > pages/100:
			t.Errorf("%+v: %d of %d pages still in the page cache after the upload", tc, n, pages)
		}
	}
}
