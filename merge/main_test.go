package merge

import (
	"fmt"
	"os"
	"testing"
)

// TestMain keeps the package's tests off the real Hugging Face hub and out
// of the user's caches: model ids resolve in an empty hub cache, offline,
// and .bin twins go to a temporary cache directory.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mergetune-merge-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for k, v := range map[string]string{
		"HF_HUB_CACHE": dir + "/hub", "HF_HOME": dir + "/hf", "HF_HUB_OFFLINE": "1",
		"HF_ENDPOINT": "http://127.0.0.1:1", "HF_TOKEN": "", "XDG_CACHE_HOME": dir + "/cache",
	} {
		os.Setenv(k, v)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
