package search

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/mergetune/mergetune/eval"
	"github.com/mergetune/mergetune/merge"
	"github.com/mergetune/mergetune/merge/config"
)

// ggufBackend is a backend that takes GGUF candidates of type typ; it
// opens nothing.
type ggufBackend struct{ typ string }

func (ggufBackend) Open(context.Context, string) (eval.Model, error) { return nil, eval.ErrUnsupported }
func (b ggufBackend) CandidateFormat() (string, string)              { return "gguf", b.typ }

// plainBackend takes safetensors directories.
type plainBackend struct{}

func (plainBackend) Open(context.Context, string) (eval.Model, error) {
	return nil, eval.ErrUnsupported
}

// TestMergeCandidate checks that a candidate is merged in the form its
// backend takes: one GGUF file (of the backend's type) in the trial
// directory, or a safetensors directory; and that a kept candidate is
// found again in either form.
func TestMergeCandidate(t *testing.T) {
	fam, err := filepath.Abs("../datasets/toy/family")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf("merge_method: linear\nmodels:\n  - model: %[1]s/upper\n    parameters: {weight: 0.5}\n  - model: %[1]s/reverse\n    parameters: {weight: 0.5}\n", fam)), "c.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		be   eval.Backend
		gguf bool
		q8   bool
	}{
		{"safetensors", plainBackend{}, false, false},
		{"gguf", ggufBackend{}, true, false},
		{"gguf q8_0", ggufBackend{typ: "q8_0"}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "trial-00001")
			for range 2 { // the second time over the first (a retried trial)
				p, digest, st, err := mergeCandidate(context.Background(), cfg, dir, tt.be, merge.Options{Force: true})
				if st != nil {
					st.Cancel()
				}
				if err != nil {
					t.Fatal(err)
				}
				if want := filepath.Join(dir, "model.gguf"); tt.gguf != (p == want) {
					t.Fatalf("path %s (gguf %v)", p, tt.gguf)
				}
				if tt.gguf {
					b, err := os.ReadFile(p)
					if err != nil {
						t.Fatal(err)
					}
					if sum := sha256.Sum256(b); digest != "sha256:"+hex.EncodeToString(sum[:]) {
						t.Errorf("digest %q, not the file's", digest)
					}
				} else if digest != "" {
					t.Errorf("safetensors candidate with digest %q", digest)
				}
				if keptCandidate(dir) != p {
					t.Errorf("keptCandidate(%s) = %s, want %s", dir, keptCandidate(dir), p)
				}
			}
			if !tt.gguf {
				if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
					t.Error(err)
				}
				return
			}
			b, err := os.ReadFile(filepath.Join(dir, "model.gguf"))
			// the GGUF holds the bf16 weights of a family model, or in
			// q8_0 about half as many bytes
			st, serr := os.Stat(filepath.Join(fam, "upper", "model.safetensors"))
			if serr != nil {
				t.Fatal(serr)
			}
			w := int(st.Size())
			if err != nil || string(b[:4]) != "GGUF" || len(b) < w*4/10 || tt.q8 != (len(b) < w*8/10) {
				t.Errorf("GGUF of %d bytes (%v) from %d bytes of safetensors, q8_0 %v", len(b), err, w, tt.q8)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("trial directory holds %d entries, want the GGUF alone", len(entries))
			}
		})
	}
}
