package hub

import (
	"fmt"
	"io"
	"sync"

	"github.com/schollz/progressbar/v3"
)

// TerminalProgress returns a Progress function that draws a byte progress
// bar per file on w (a terminal).
func TerminalProgress(w io.Writer) func(Progress) {
	var mu sync.Mutex
	bars := map[string]*progressbar.ProgressBar{}
	return func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		key := p.Repo + "/" + p.File
		bar, ok := bars[key]
		if !ok {
			bar = progressbar.NewOptions64(p.Total,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription("downloading "+key),
				progressbar.OptionShowBytes(true),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(200_000_000),
			)
			bars[key] = bar
		}
		_ = bar.Set64(p.Done)
		if p.Total >= 0 && p.Done >= p.Total {
			_ = bar.Finish()
			fmt.Fprintln(w)
			delete(bars, key)
		}
	}
}
