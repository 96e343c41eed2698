//go:build !linux

package ollama

import "os"

// dropCache does nothing where the kernel takes no such advice.
func dropCache(*os.File, int64, int64) {}
