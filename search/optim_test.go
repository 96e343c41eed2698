package search

import (
	"context"
	"strings"
	"testing"
)

// TestUnknownSamplerOrPrunerRefused: a study whose sampler or pruner no
// table entry has (the parser refuses such a file; here it is set on the
// parsed study) fails to load with the study file, the field, the value
// and the known names, instead of running another sampler.
func TestUnknownSamplerOrPrunerRefused(t *testing.T) {
	for _, c := range []struct{ field, value, known string }{
		{"sampler.type", "bayes", "tpe"},
		{"pruner.type", "hyperband", "median"},
	} {
		t.Run(c.field, func(t *testing.T) {
			s := writeStudy(t, t.TempDir(), "method: task_arithmetic\ntrials: 2\n")
			if c.field == "sampler.type" {
				s.Sampler = c.value
			} else {
				s.Pruner = c.value
			}
			ctx := context.Background()
			st, err := OpenStore(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.ensureStudy(s); err != nil {
				t.Fatal(err)
			}
			_, err = st.loadStudy(ctx, s)
			if err == nil {
				t.Fatalf("%s %s: loaded", c.field, c.value)
			}
			for _, want := range []string{s.File, c.field, `"` + c.value + `"`, "known:", c.known} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}
