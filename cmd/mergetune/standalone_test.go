package main

// The checks that the repository stands alone: a clone with nothing beside
// it builds and passes its tests (.ci/clone-check runs them in such a
// clone). They walk the whole module from its root, two levels up.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// escapes reports whether p, a slash path relative to the module
// directory rel (slash-separated, "." for the root), leaves the module.
func escapes(rel, p string) bool {
	c := path.Clean(path.Join(rel, p))
	return c == ".." || strings.HasPrefix(c, "../")
}

// names reports whether the slash path p names something: a component
// other than "." and "..".
func names(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." && c != ".." {
			return true
		}
	}
	return false
}

// literalPaths returns the paths a Go file spells out: every string literal
// that looks like a path, and every filepath.Join or path.Join whose
// arguments are all string literals, joined; each with its position.
func literalPaths(fset *token.FileSet, f *ast.File) map[token.Pos]string {
	out := map[token.Pos]string{}
	inJoin := map[*ast.BasicLit]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Join" {
			return true
		}
		if pkg, ok := sel.X.(*ast.Ident); !ok || (pkg.Name != "filepath" && pkg.Name != "path") {
			return true
		}
		var parts []string
		var lits []*ast.BasicLit
		for _, a := range call.Args {
			lit, ok := a.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			parts, lits = append(parts, s), append(lits, lit)
		}
		if len(parts) > 0 {
			out[call.Pos()] = path.Join(parts...)
			for _, l := range lits {
				inJoin[l] = true
			}
		}
		return true
	})
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING || inJoin[lit] {
			return true
		}
		s, err := strconv.Unquote(lit.Value)
		if err == nil && (strings.HasPrefix(s, "..") || strings.HasPrefix(s, "/")) && strings.Count(s, "/") > 0 && !strings.ContainsAny(s, " \n\t") {
			out[lit.Pos()] = s
		}
		return true
	})
	return out
}

// sharedDir is the directory beside the checkout that once held the
// oracle and the public data files (spelled so that this file does not
// match its own checks).
const sharedDir = "shared"

// TestNoPathsOutsideModule checks that no Go file (test or not) reads
// anything beside the checkout, such as the reference material once kept in
// the shared directory beside it: every relative path spelled out in the source, resolved from
// the file's package directory (the working directory of its tests), must
// stay inside the module, and no absolute path may lead to a shared/
// directory.
func TestNoPathsOutsideModule(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// Directories the go command ignores hold no package.
			if p != root && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		checked++
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		for pos, lp := range literalPaths(fset, f) {
			if !names(lp) {
				continue // "..", "../": a prefix, not a place
			}
			bad := false
			if path.IsAbs(lp) {
				bad = strings.Contains(lp+"/", "/"+sharedDir+"/")
			} else {
				bad = escapes(filepath.ToSlash(rel), lp)
			}
			if bad {
				t.Errorf("%s: the path %q lies outside the module: a clone with nothing beside it lacks it (move what it needs into testdata/)", fset.Position(pos), lp)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d Go files under %s", checked, root)
	}
}

// TestNoSharedInScripts checks the scripts, configurations and documents
// of the repository for the old paths into the shared directory beside
// the checkout: the CI scripts, the
// examples and the README must not need anything beside the checkout.
func TestNoSharedInScripts(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	needle := "../" + sharedDir
	checked := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" || d.Name() == "testdata" || (d.Name() == "family" && filepath.Base(filepath.Dir(p)) == "toy") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(p) {
		case ".go", ".yml", ".yaml", ".md", ".sh", ".json", "":
		default:
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() > 1<<20 {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		checked++
		for i, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, needle) {
				rel, _ := filepath.Rel(root, p)
				t.Errorf("%s:%d: refers to %s, beside the checkout: %s", rel, i+1, needle, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files under %s", checked, root)
	}
}
