package search

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/eval/ollama/ollamatest"
)

// TestStudyThroughOllamaGGUF runs a small study through a real `ollama
// serve`: each trial's candidate is one GGUF file written by the merge
// (trial-N/model.gguf, no safetensors) and uploaded while it is written,
// the trials complete with scores, and the kept best trial holds its GGUF.
func TestStudyThroughOllamaGGUF(t *testing.T) {
	srv := ollamatest.New(t, ollamatest.Options{ContextLength: 2048, NumParallel: 2})
	dir := t.TempDir()
	for _, q := range []string{"", "q8_0"} {
		t.Run("quantize="+q, func(t *testing.T) {
			sub := filepath.Join(dir, "q"+q)
			os.MkdirAll(sub, 0o755)
			s := writeStudy(t, sub, `method: task_arithmetic
space:
  lambda: {type: float, low: 0.5, high: 1.2}
trials: 1
keep_best: 1
evaluator: {type: ollama, hosts: [`+srv.Host()+`], quantize: "`+q+`"}
`)
			sum, err := Run(context.Background(), s, Options{})
			if err != nil {
				t.Fatalf("%v\n%s", err, srv.Log()[max(0, len(srv.Log())-3000):])
			}
			if st := sum.Status; st.Complete != 1 || st.Failed != 0 {
				t.Fatalf("%d complete, %d failed; want 1, 0", st.Complete, st.Failed)
			}
			// The trial records the merge (which writes the GGUF while the
			// server receives and hashes it), the import's stages and the
			// evaluation, in order.
			var names []string
			for _, x := range sum.Status.Trials[0].Stages {
				names = append(names, x.Name)
			}
			if got, want := strings.Join(names, ","), "merge,upload after merge,create,load,evaluate"; got != want {
				t.Errorf("stages %s, want %s (the candidate uploaded while the merge wrote it)", got, want)
			}
			kept, err := filepath.Glob(filepath.Join(s.WorkDir, "trial-*"))
			if err != nil || len(kept) != 1 {
				t.Fatalf("kept trials %v (%v), want 1", kept, err)
			}
			entries, err := os.ReadDir(kept[0])
			if err != nil || len(entries) != 1 || entries[0].Name() != "model.gguf" {
				t.Errorf("kept trial %s holds %v (%v), want model.gguf alone", kept[0], entries, err)
			}
		})
	}
}
