package chat

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mergetune/mergetune/eval"
)

// FuzzTemplate parses and renders arbitrary chat templates: a model's
// tokenizer_config.json is outside data, so a broken template must give
// an error, never a panic or a hang.
func FuzzTemplate(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "chatml", "tokenizer_config.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b), "hi")
	f.Add("{% for message in messages %}{{ message['content'] }}{% endfor %}", "x")
	f.Add("{{ raise_exception('no') }}", "")
	f.Add("{% set ns = namespace(a=1) %}{{ ns.a }}{{ messages | tojson }}", "q")
	f.Add("{{ (", "")
	f.Add("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "")
	f.Add("{% for i in range(1000000000) %}{% endfor %}", "")
	f.Add("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "")
	f.Add("{% block a %}{{ self.a() }}{% endblock %}", "")
	f.Add("{% set ns = namespace(a=1) %}{% set ns.a = ns %}{{ ns }}", "")
	f.Add("{{ 'a' * 3000000000 }}{{ 'a' | center(300000000) }}", "")
	f.Fuzz(func(t *testing.T, src, content string) {
		tpl, err := Parse("fuzz", src)
		if err != nil {
			return
		}
		_, _ = tpl.Render([]eval.Message{{Role: "user", Content: content}})
	})
}
