package merge

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/merge/synth"
)

// TestConfigWarningsAllReported checks that every warning of the config
// reaches the caller, not only the first (they once shared one
// de-duplication key, their format string).
func TestConfigWarningsAllReported(t *testing.T) {
	dir := t.TempDir()
	m := filepath.Join(dir, "m")
	if err := synth.WriteBase(context.Background(), m, synth.Options{Shape: synth.Pico(), Seed: 1}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`merge_method: passthrough
slices:
  - sources: [{model: `+m+`, layer_range: [0, 1]}]
    residual_weight: 0.5
  - sources: [{model: `+m+`, layer_range: [1, 2]}]
    residual_weight: 0.25
`), filepath.Join(dir, "w.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 2 {
		t.Fatalf("config warnings %q, want 2", cfg.Warnings)
	}
	var got []string
	_, err = Run(context.Background(), cfg, filepath.Join(dir, "out"), Options{Warn: func(s string) { got = append(got, s) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range cfg.Warnings {
		n := 0
		for _, g := range got {
			if strings.Contains(g, w) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("warning %q reported %d times, want once (got %q)", w, n, got)
		}
	}
}
