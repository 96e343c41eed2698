package search

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/eval/ollama/ollamatest"
)

// TestStudyThroughOllamaGGUF runs small studies through a real `ollama
// serve` on this machine: each trial's candidate is one GGUF file written
// by the merge (trial-N/model.gguf, no safetensors). With no models
// directory given, the study's baselines (run first, through the same
// evaluator) learn the server's store and every trial's candidate is
// placed there; with models_dir "-" each is uploaded while it is written.
// The trials complete with scores, and the kept best trial holds its GGUF.
func TestStudyThroughOllamaGGUF(t *testing.T) {
	t.Setenv("OLLAMA_MODELS", "") // the store is learned from the server
	srv := ollamatest.New(t, ollamatest.Options{ContextLength: 2048, NumParallel: 2})
	dir := t.TempDir()
	for _, tc := range []struct{ quantize, modelsDir, stages string }{
		{"", "", "merge,place,create,load,evaluate"},
		{"q8_0", "", "merge,place,create,load,evaluate"},
		{"", "-", "merge,upload after merge,create,load,evaluate"},
	} {
		t.Run(fmt.Sprintf("quantize=%s,models_dir=%s", tc.quantize, tc.modelsDir), func(t *testing.T) {
			sub := filepath.Join(dir, "q"+tc.quantize+tc.modelsDir)
			os.MkdirAll(sub, 0o755)
			s := writeStudy(t, sub, `method: task_arithmetic
space:
  lambda: {type: float, low: 0.5, high: 1.2}
trials: 2
workers: 1
keep_best: 1
evaluator: {type: ollama, hosts: [`+srv.Host()+`], quantize: "`+tc.quantize+`", models_dir: "`+tc.modelsDir+`"}
`)
			sum, err := Run(context.Background(), s, Options{})
			if err != nil {
				t.Fatalf("%v\n%s", err, srv.Log()[max(0, len(srv.Log())-3000):])
			}
			if st := sum.Status; st.Complete != 2 || st.Failed != 0 {
				t.Fatalf("%d complete, %d failed; want 2, 0", st.Complete, st.Failed)
			}
			// Each trial records the merge (which hashes the GGUF, or
			// writes it while the server receives and hashes it), the
			// import's stages and the evaluation, in order.
			for i := range 2 {
				var names []string
				for _, x := range sum.Status.Trials[i].Stages {
					names = append(names, x.Name)
				}
				if got := strings.Join(names, ","); got != tc.stages {
					t.Errorf("trial %d: stages %s, want %s", i, got, tc.stages)
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
