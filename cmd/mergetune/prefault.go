package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// prefault maps n bytes of anonymous memory, writes into each of its
// pages and unmaps it again: the memory a stage run right after it
// writes into (its output's page cache, a server's copy) is then memory
// just freed. A virtual machine that reports free memory to its host
// (virtio-balloon free page reporting) hands back pages that stay free for
// a moment, and writing into such a page costs a fault in the host:
// 1.2 GB written with dd took 0.24-0.47 s right after 2.4 GB were freed
// and 2.6-3.7 s eight seconds later, here. Without it a bench charges
// that cost to whichever stage first needs more memory than the stage
// before it freed.
func prefault(n int64) error {
	if n <= 0 {
		return nil
	}
	b, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("prefault %d bytes: %w", n, err)
	}
	for i := 0; i < len(b); i += os.Getpagesize() {
		b[i] = 1
	}
	if err := unix.Munmap(b); err != nil {
		return fmt.Errorf("prefault %d bytes: %w", n, err)
	}
	return nil
}
