package merge

import (
	"fmt"
	"os"
	"testing"
)

// testDirEnv names the temporary directory TestMain made, for the
// processes the test binary starts: a fuzz run's workers are the same
// binary, run TestMain too, and are stopped without returning from it,
// so each would leave a directory of its own behind.
const testDirEnv = "MERGETUNE_MERGE_TEST_DIR"

// TestMain keeps the package's tests off the real Hugging Face hub and out
// of the user's caches: model ids resolve in an empty hub cache, offline,
// and .bin twins go to a temporary cache directory, removed at the end by
// the process that made it.
func TestMain(m *testing.M) {
	dir, mine := os.Getenv(testDirEnv), false
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "mergetune-merge-test-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		mine = true
	}
	for k, v := range map[string]string{
		"HF_HUB_CACHE": dir + "/hub", "HF_HOME": dir + "/hf", "HF_HUB_OFFLINE": "1",
		"HF_ENDPOINT": "http://127.0.0.1:1", "HF_TOKEN": "", "XDG_CACHE_HOME": dir + "/cache",
		testDirEnv: dir,
	} {
		os.Setenv(k, v)
	}
	code := m.Run()
	if mine {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}
