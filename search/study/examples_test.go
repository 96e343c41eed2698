package study

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/mergetune/mergetune/datasets"
	"github.com/mergetune/mergetune/merge/config"
)

// TestEveryExampleLoads loads every YAML file under examples/ as what it
// is (a study, a task or task-set file, or a mergekit configuration):
// every file an example names must ship with it. A study's model paths
// that point outside the repository (/models/...) are replaced by the toy
// family's directories, since real checkpoints are not shipped; the rest
// of the study, its task files included, is loaded as written.
func TestEveryExampleLoads(t *testing.T) {
	root := filepath.Join("..", "..", "examples")
	fam := family(t)
	kinds := map[string]int{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(path) != ".yml" && filepath.Ext(path) != ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var top map[string]any
		if err := yaml.Unmarshal(data, &top); err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		switch {
		case top["merge_method"] != nil:
			kinds["merge"]++
			if _, err := config.Load(path); err != nil {
				t.Errorf("merge configuration %s: %v", path, err)
			}
		case top["base_model"] != nil:
			kinds["study"]++
			s, err := Parse(localModels(data, fam), path)
			if err != nil {
				t.Errorf("study %s: %v", path, err)
				return nil
			}
			if len(s.Tune) == 0 {
				t.Errorf("study %s: no tune task", path)
			}
			if filepath.Base(filepath.Dir(path)) == "papers" {
				kinds["paper"]++
				checkPaperSource(t, path, string(data))
			}
		case top["data"] != nil || top["tasks"] != nil:
			kinds["task"]++
			ts, err := datasets.LoadAll(path)
			if err != nil {
				t.Errorf("task file %s: %v", path, err)
				return nil
			}
			for _, tk := range ts {
				if len(tk.Items) == 0 {
					t.Errorf("task file %s: task %s has no items", path, tk.Name)
				}
			}
		default:
			t.Errorf("%s: neither a study, a task file nor a merge configuration", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if kinds["study"] < 2 || kinds["task"] < 3 || kinds["merge"] < 1 || kinds["paper"] < 5 {
		t.Errorf("examples found: %v", kinds)
	}
}

// paperSourceRE finds a source line naming an arXiv paper, as each study
// under examples/papers/ opens with ("# Source: ..., arXiv 2312.06795").
var paperSourceRE = regexp.MustCompile(`(?m)^# Source: .*(\n# .*)*arXiv \d{4}\.\d{4,5}`)

// checkPaperSource checks that a paper's study names its source (a
// "# Source:" comment with the paper's arXiv id) and says what the paper's
// numbers are, or that none are quoted.
func checkPaperSource(t *testing.T, path, text string) {
	t.Helper()
	if !paperSourceRE.MatchString(text) {
		t.Errorf("paper study %s: no \"# Source: ... arXiv NNNN.NNNNN\" comment", path)
	}
	if !strings.Contains(text, "Paper's numbers") {
		t.Errorf("paper study %s: no \"Paper's numbers\" comment (the paper's numbers for comparison, or that none are verified)", path)
	}
}

// localModels replaces the model paths of a study that do not exist (real
// checkpoints such as /models/Qwen2.5-1.5B) by the toy family's base and
// fine-tunes.
func localModels(data []byte, fam string) []byte {
	re := regexp.MustCompile(`(?m)^(\s*(?:-\s*)?(base_model|model):\s*)(/\S+)`)
	tunes := []string{"swapcase", "rot1", "succ", "rotleft"}
	n := 0
	return re.ReplaceAllFunc(data, func(m []byte) []byte {
		g := re.FindSubmatch(m)
		if _, err := os.Stat(string(g[3])); err == nil {
			return m
		}
		dir := filepath.Join(fam, "base")
		if string(g[2]) == "model" {
			dir = filepath.Join(fam, tunes[n%len(tunes)])
			n++
		}
		return []byte(string(g[1]) + strings.ReplaceAll(dir, `\`, `/`))
	})
}

// TestReadmeStudyReference parses the README's study file reference as
// written, with its model paths pointed at the toy family and its task
// file tasks/my-task.yml (a tune task named my-task) created beside it:
// the reference must be a valid study (every tune task tagged on a model,
// as objective: normalized requires).
func TestReadmeStudyReference(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	i := strings.Index(text, "### Study file reference")
	if i < 0 {
		t.Fatal("README has no study file reference")
	}
	text = text[i:]
	start := strings.Index(text, "```yaml\n")
	end := strings.Index(text[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no yaml block in the study file reference")
	}
	block := text[start+8 : start+8+end]
	block = strings.ReplaceAll(block, "../family/", family(t)+"/")
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tasks"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tasks", "q.jsonl"), []byte("{\"q\": \"a\", \"a\": \"b\"}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tasks", "my-task.yml"), []byte("name: my-task\ndata: q.jsonl\nprompt: \"{{.q}}\"\ntarget: a\nsplit: tune\n"), 0o644)
	s, err := Parse([]byte(block), filepath.Join(dir, "s.yml"))
	if err != nil {
		t.Fatalf("the README's study reference: %v", err)
	}
	if s.Objective != ObjectiveNormalized || len(s.Tune) != 3 {
		t.Errorf("objective %s, %d tune tasks", s.Objective, len(s.Tune))
	}
}
