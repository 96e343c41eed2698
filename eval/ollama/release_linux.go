package ollama

import (
	"os"

	"golang.org/x/sys/unix"
)

// dropCache advises the kernel that n bytes of f from off (n 0: to the
// end) are not needed again (POSIX_FADV_DONTNEED: clean pages leave the page cache). It is
// advice: an error changes nothing the caller relies on.
func dropCache(f *os.File, off, n int64) {
	_ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED)
}
