package study

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary documents to the study parser, which must
// return a study or an *Error, never panic or hang. The seeds are the
// example studies (resolved beside them, so their relative model paths
// hold), the ollama example pointed at the toy family, and documents that
// once troubled YAML readers (an alias bomb, deep nesting).
func FuzzParse(f *testing.F) {
	dir := filepath.Join("..", "..", "examples", "studies")
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no example studies in %s: %v", dir, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		toy := strings.ReplaceAll(string(data), "/models/", "../../datasets/toy/family/")
		f.Add([]byte(toy))
	}
	f.Add([]byte(aliasBomb))
	f.Add([]byte(strings.Repeat("[", 5000) + strings.Repeat("]", 5000)))
	f.Add([]byte("method: &m [ties, *m]\n"))
	f.Add([]byte("space: {lambda: {type: float, low: .nan, high: .inf}}\nmethod: ties\n"))
	path := filepath.Join(dir, "fuzz.yml")
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data, path)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			return
		}
		if s.Name == "" || len(s.Models) == 0 || len(s.Methods) == 0 || s.Trials < 1 || len(s.Tune) == 0 {
			t.Fatalf("a study without name, models, methods, trials or tasks passed: %+v", s)
		}
		def := s.Definition()
		if len(def) != len(DefinitionFields) {
			t.Fatalf("definition has %d fields, want %d", len(def), len(DefinitionFields))
		}
	})
}

// aliasBomb expands to 10^9 nodes if aliases are followed blindly.
const aliasBomb = `a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]
method: *i
space: *i
name: bomb
`
