package study

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestTransferParse: objective.transfer's sizes (integers, k, k/D),
// subsets and seed are read, sorted and defaulted; every bad value is
// refused with the file, the field and the value.
func TestTransferParse(t *testing.T) {
	fam := family(t)
	for _, tc := range []struct {
		name, transfer, extra string
		sizes                 []int
		subsets               int
		seed                  uint64
		err                   string
	}{
		{name: "k and k/2", transfer: "{sizes: [k, k/2], subsets: 4, seed: 7}", sizes: []int{1, 2}, subsets: 4, seed: 7},
		{name: "integers, default subsets", transfer: "{sizes: [2, 1]}", sizes: []int{1, 2}, subsets: DefaultTransferSubsets},
		{name: "rule kept for search", transfer: "{sizes: [k], rule: sqrt}", sizes: []int{2}, subsets: DefaultTransferSubsets},
		{name: "no sizes", transfer: "{subsets: 2}", err: `s.yml: objective.transfer.sizes: required: the numbers of models to merge, e.g. [k/2, k]`},
		{name: "size 0", transfer: "{sizes: [0]}", err: `s.yml: objective.transfer.sizes[0]: value "0": is 0: want 1 to the study's 2 models`},
		{name: "too many models", transfer: "{sizes: [1, 3]}", err: `s.yml: objective.transfer.sizes[1]: value "3": is 3: want 1 to the study's 2 models`},
		{name: "k/0", transfer: "{sizes: [k/0]}", err: `s.yml: objective.transfer.sizes[0]: value "k/0": want an integer, k (the study's models) or k/D`},
		{name: "k/4 rounds to 0", transfer: "{sizes: [k/4]}", err: `s.yml: objective.transfer.sizes[0]: value "k/4": is 0: want 1 to the study's 2 models`},
		{name: "a word", transfer: "{sizes: [half]}", err: `s.yml: objective.transfer.sizes[0]: value "half": want an integer, k (the study's models) or k/D`},
		{name: "twice", transfer: "{sizes: [2, k]}", err: `s.yml: objective.transfer.sizes[1]: value "k": size 2 is listed twice`},
		{name: "no subsets", transfer: "{sizes: [k], subsets: 0}", err: `s.yml: objective.transfer.subsets: value "0": want 1 to 100 subsets per size`},
		{name: "unknown field", transfer: "{sizes: [k], draws: 3}", err: `s.yml: objective.transfer.draws: unknown field; known: sizes, subsets, seed, rule`},
		{name: "not a mapping", transfer: "[k]", err: `s.yml: objective.transfer: want {sizes, subsets, seed, rule}`},
		{name: "with a pruner", transfer: "{sizes: [k]}", extra: "pruner: median\n", err: `s.yml: pruner.type: value "median": objective.transfer scores each trial on several merges: pruner must be none`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			text := base(fam) + "objective: {type: normalized, transfer: " + tc.transfer + "}\n" + tc.extra
			s, err := Parse([]byte(text), filepath.Join(dir, "s.yml"))
			if tc.err != "" {
				if err == nil {
					t.Fatalf("no error; want %s", tc.err)
				}
				if got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""); got != tc.err {
					t.Errorf("error\n got %s\nwant %s", got, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tr := s.Transfer
			if tr == nil || !reflect.DeepEqual(tr.Sizes, tc.sizes) || tr.Subsets != tc.subsets || tr.Seed != tc.seed {
				t.Errorf("transfer %+v, want sizes %v, subsets %d, seed %d", tr, tc.sizes, tc.subsets, tc.seed)
			}
		})
	}
	// A tune task no model is tagged with cannot be given to a subset.
	text := strings.Replace(base(fam), "{model: "+fam+"/rot1, tasks: [rot1]}", "{model: "+fam+"/rot1, tasks: [rot1]}\n  - {model: "+fam+"/succ}", 1) +
		"objective: {type: mean, transfer: {sizes: [k]}}\n"
	_, err := Parse([]byte(text), "s.yml")
	if err == nil || err.Error() != `s.yml: models[2].tasks: objective.transfer scores a subset on its models' tune tasks: this model has none` {
		t.Errorf("a model without tune tasks: %v", err)
	}
	// The transfer objective is part of the definition; a study without
	// it keeps its definition.
	plain, err := Parse([]byte(base(fam)+"objective: normalized\n"), "s.yml")
	if err != nil {
		t.Fatal(err)
	}
	with, err := Parse([]byte(base(fam)+"objective: {type: normalized, transfer: {sizes: [k]}}\n"), "s.yml")
	if err != nil {
		t.Fatal(err)
	}
	if d := DefinitionChanges(plain.Definition(), with.Definition()); !reflect.DeepEqual(d, []string{"objective"}) {
		t.Errorf("definition changes %v, want [objective]", d)
	}
	if strings.Contains(plain.Definition()["objective"], "transfer") {
		t.Errorf("a study without transfer: objective %s", plain.Definition()["objective"])
	}
}
