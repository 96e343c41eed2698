package study

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOllamaModelsDir: evaluator.models_dir is read relative to the study
// file and handed to the backend ("-" as it is); one that is missing or not a directory
// is an error naming the file, the field and the value. evaluator.stream
// reaches the backend too.
func TestOllamaModelsDir(t *testing.T) {
	fam := family(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "s.yml")
	if err := os.MkdirAll(filepath.Join(dir, "ollama", "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plain"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Parse([]byte(base(fam)+"evaluator: {type: ollama, models_dir: ollama/models}\n"), file)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "ollama", "models")
	if s.ModelsDir != want || s.EvaluatorConfig(0).ModelsDir != want {
		t.Errorf("models dir %q (config %q), want %q", s.ModelsDir, s.EvaluatorConfig(0).ModelsDir, want)
	}
	// models_dir "-": candidates never go into the server's store.
	s, err = Parse([]byte(base(fam)+"evaluator: {type: ollama, models_dir: \"-\"}\n"), file)
	if err != nil {
		t.Fatal(err)
	}
	if s.ModelsDir != "-" || s.EvaluatorConfig(0).ModelsDir != "-" {
		t.Errorf("models_dir \"-\": %q (config %q), want -", s.ModelsDir, s.EvaluatorConfig(0).ModelsDir)
	}
	// evaluator.stream: candidates are streamed unless it is false
	for yml, noStream := range map[string]bool{"{type: ollama}": false, "{type: ollama, stream: true}": false, "{type: ollama, stream: false}": true} {
		s, err := Parse([]byte(base(fam)+"evaluator: "+yml+"\n"), file)
		if err != nil {
			t.Fatal(err)
		}
		if s.NoStream != noStream || s.EvaluatorConfig(0).NoStream != noStream {
			t.Errorf("evaluator %s: no stream %v (config %v), want %v", yml, s.NoStream, s.EvaluatorConfig(0).NoStream, noStream)
		}
	}
	for _, c := range []struct{ evaluator, want string }{
		{"{type: ollama, models_dir: nowhere}", `s.yml: evaluator.models_dir: value "nowhere": want the server's models directory (its OLLAMA_MODELS): no such file or directory`},
		{"{type: ollama, models_dir: plain}", `s.yml: evaluator.models_dir: value "plain": not a directory; want the server's models directory (its OLLAMA_MODELS)`},
		{"{type: builtin, models_dir: ollama/models}", `s.yml: evaluator.type: value "builtin": models_dir is a setting of the ollama evaluator; builtin takes only parallel`},
		{"{type: builtin, stream: false}", `s.yml: evaluator.type: value "builtin": stream is a setting of the ollama evaluator; builtin takes only parallel`},
		{"{type: ollama, stream: maybe}", `s.yml: evaluator.stream: value "maybe": want true or false`},
	} {
		_, err := Parse([]byte(base(fam)+"evaluator: "+c.evaluator+"\n"), file)
		if err == nil || strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "") != c.want {
			t.Errorf("evaluator %s: %v, want %s", c.evaluator, err, c.want)
		}
	}
}
