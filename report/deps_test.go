package report

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/mergetune/mergetune"

// TestLayering checks the package graph around the report with `go list`:
// the report sits above search but reads only the database (it imports
// neither search nor search/study), nothing below the report imports it
// (only cmd does), and results, eval and search import no report.
func TestLayering(t *testing.T) {
	for pkg, banned := range map[string][]string{
		"report":  {"search", "search/study"},
		"results": {"search", "search/study", "report"},
		"eval":    {"search", "search/study", "report"},
		"search":  {"report"},
	} {
		out, err := exec.Command("go", "list", "-deps", module+"/"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := map[string]bool{}
		for _, d := range strings.Fields(string(out)) {
			deps[d] = true
		}
		for _, b := range banned {
			if deps[module+"/"+b] {
				t.Errorf("%s imports %s (directly or not)", pkg, b)
			}
		}
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if imp == module+"/report" && !strings.HasPrefix(f[0], module+"/cmd/") {
				t.Errorf("%s imports the report; only cmd may", f[0])
			}
		}
	}
}
