package study

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestDefinition checks which edits of a study file change its
// definition: those that change what a trial's value means do, the
// budget, sampler, pruner and housekeeping do not.
func TestDefinition(t *testing.T) {
	fam := family(t)
	dir := t.TempDir()
	parse := func(text string) *Study {
		t.Helper()
		s, err := Parse([]byte(text), filepath.Join(dir, "s.yml"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	orig := base(fam) + "space:\n  density: {type: float, low: 0.2, high: 1}\n"
	def := parse(orig).Definition()
	if len(def) != len(DefinitionFields) {
		t.Fatalf("definition has %d fields, want %v", len(def), DefinitionFields)
	}
	_, hash := parse(orig).DefinitionJSON()
	tests := []struct {
		name, replace, with string
		changed             []string
	}{
		{"method", "method: ties", "method: breadcrumbs", []string{"method"}},
		{"space", "high: 1}", "high: 0.9}", []string{"space"}},
		{"limit", "limit: 5", "limit: 6", []string{"limit", "tasks"}},
		{"tasks", "tasks: [toy:swapcase@tune, toy:rot1@tune]", "tasks: [toy:swapcase@tune]", []string{"tasks"}},
		{"model", "- {model: " + fam + "/rot1, tasks: [rot1]}", "- {model: " + fam + "/succ, tasks: [rot1]}", []string{"models"}},
		{"fixed", "trials: 4", "trials: 4\nparameters: {normalize: false}", []string{"parameters"}},
		{"objective", "trials: 4", "trials: 4\nobjective: normalized", []string{"objective"}},
		{"evaluator", "trials: 4", "trials: 4\nevaluator: {type: ollama, quantize: q8_0}", []string{"evaluator"}},
		{"merge seed", "trials: 4", "trials: 4\nseed: 7", []string{"seed"}},
		{"dtype", "trials: 4", "trials: 4\ndtype: float16", []string{"dtype"}},
		{"trials", "trials: 4", "trials: 40", nil},
		{"housekeeping", "trials: 4", "trials: 4\nworkers: 3\nsampler: {type: random, seed: 9}\npruner: median\nkeep_best: 3\nheartbeat: 1s\nholdout: [toy:succ]\nname: other\nwork_dir: w", nil},
		{"comment", "trials: 4", "trials: 4 # more later", nil},
		{"ollama hosts", "trials: 4", "trials: 4\nevaluator: {type: builtin}", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(orig, tt.replace, tt.with, 1)
			if text == orig {
				t.Fatalf("%q not in the study", tt.replace)
			}
			s := parse(text)
			got := DefinitionChanges(def, s.Definition())
			if !reflect.DeepEqual(got, tt.changed) {
				t.Errorf("changed %v, want %v", got, tt.changed)
			}
			if _, h := s.DefinitionJSON(); (h == hash) != (len(tt.changed) == 0) {
				t.Errorf("hash %s vs %s with changes %v", h, hash, tt.changed)
			}
		})
	}
	// The JSON form round-trips.
	text, _ := parse(orig).DefinitionJSON()
	back, err := DecodeDefinition(text)
	if err != nil || len(DefinitionChanges(def, back)) != 0 {
		t.Errorf("decode: %v, changes %v", err, DefinitionChanges(def, back))
	}
	// Moving the whole tree (study file and models together) keeps the
	// definition: paths count relative to the study file.
	moved := t.TempDir()
	famCopy := filepath.Join(moved, "family")
	if err := os.CopyFS(famCopy, os.DirFS(fam)); err != nil {
		t.Fatal(err)
	}
	rel := func(root string) string {
		return strings.ReplaceAll(orig, fam, filepath.Join(root, "family"))
	}
	famLink := filepath.Join(dir, "family")
	if err := os.Symlink(fam, famLink); err != nil {
		t.Fatal(err)
	}
	a, err := Parse([]byte(rel(dir)), filepath.Join(dir, "s.yml"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(rel(moved)), filepath.Join(moved, "s.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if c := DefinitionChanges(a.Definition(), b.Definition()); len(c) != 0 {
		t.Errorf("moving the tree changed %v", c)
	}
}
