package hub

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseRef: whatever ParseRef accepts maps to a cache folder and a ref
// file that stay inside the cache.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"org/name", "org/name@main", "org/name@refs/pr/1", "gpt2", "./x", "a/b/c", "org/n@../../x", "org/n@" + commitA} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		folder := repoFolder(r.Repo)
		if strings.ContainsAny(folder, "/\\") || folder == ".." || strings.HasPrefix(folder, ".") {
			t.Fatalf("%q: cache folder %q", s, folder)
		}
		refs := filepath.Join("/cache", folder, "refs")
		p := filepath.Join(refs, filepath.FromSlash(r.Revision))
		if !strings.HasPrefix(p, refs+"/") {
			t.Fatalf("%q: ref file %s is outside %s", s, p, refs)
		}
		if r.String() != s && r.String()+"@main" != s {
			t.Fatalf("%q: String() = %q", s, r.String())
		}
	})
}
