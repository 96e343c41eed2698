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
// serve` on this machine, its models directory not given: each trial's
// candidate is one GGUF file written by the merge (trial-N/model.gguf, no
// safetensors); the first is uploaded while it is written, and the second
// placed into the store the server reported for the first; the trials
// complete with scores, and the kept best trial holds its GGUF.
func TestStudyThroughOllamaGGUF(t *testing.T) {
	t.Setenv("OLLAMA_MODELS", "") // the store is learned from the server
	srv := ollamatest.New(t, ollamatest.Options{ContextLength: 2048, NumParallel: 2})
	dir := t.TempDir()
	for _, q := range []string{"", "q8_0"} {
		t.Run("quantize="+q, func(t *testing.T) {
			sub := filepath.Join(dir, "q"+q)
			os.MkdirAll(sub, 0o755)
			s := writeStudy(t, sub, `method: task_arithmetic
space:
  lambda: {type: float, low: 0.5, high: 1.2}
trials: 2
workers: 1
keep_best: 1
evaluator: {type: ollama, hosts: [`+srv.Host()+`], quantize: "`+q+`"}
`)
			sum, err := Run(context.Background(), s, Options{})
			if err != nil {
				t.Fatalf("%v\n%s", err, srv.Log()[max(0, len(srv.Log())-3000):])
			}
			if st := sum.Status; st.Complete != 2 || st.Failed != 0 {
				t.Fatalf("%d complete, %d failed; want 2, 0", st.Complete, st.Failed)
			}
			// Each trial records the merge (the first's writes the GGUF
			// while the server receives and hashes it; the second's
			// hashes it), the import's stages and the evaluation, in
			// order.
			for i, want := range []string{"merge,upload after merge,create,load,evaluate", "merge,place,create,load,evaluate"} {
				var names []string
				for _, x := range sum.Status.Trials[i].Stages {
					names = append(names, x.Name)
				}
				if got := strings.Join(names, ","); got != want {
					t.Errorf("trial %d: stages %s, want %s", i, got, want)
				}
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
