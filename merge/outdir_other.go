//go:build !linux

package merge

// exchange reports that atomic exchange is not available: commit moves the
// old output aside, and the next merge restores it if it was killed
// between the two renames.
func exchange(a, b string) error { return errNoExchange }
