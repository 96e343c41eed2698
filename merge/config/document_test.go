package config

import (
	"reflect"
	"strings"
	"testing"
)

// noLines clears the YAML line numbers Parse records, which a Config
// built from values does not have.
func noLines(p Params) Params {
	if p == nil {
		return nil
	}
	out := Params{}
	for k, s := range p {
		s.line = 0
		out[k] = s
	}
	return out
}

// TestDocumentConfigMatchesParse checks that building a Config from a
// Document gives what parsing the Document's YAML gives.
func TestDocumentConfigMatchesParse(t *testing.T) {
	docs := map[string]Document{
		"ties": {MergeMethod: "ties", BaseModel: "base", DType: "bfloat16",
			Parameters: map[string]any{"lambda": 0.7, "normalize": true},
			Models: []DocumentModel{
				{Model: "a", Parameters: map[string]any{"weight": 1.0, "density": []float64{0.2, 0.5, 0.9}}},
				{Model: "b", Parameters: map[string]any{"weight": 1, "density": []any{0.3, 1}}},
			}},
		"linear, no base": {MergeMethod: "linear", Models: []DocumentModel{{Model: "a"}, {Model: " b ", Parameters: map[string]any{"weight": 0.5}}}},
		"step and string": {MergeMethod: "passthrough", DType: "torch.float16", Models: []DocumentModel{{Model: "org/name@main",
			Parameters: map[string]any{"scale": []any{"x", 1.0}, "note": "text", "flag": false}}}},
		"lora": {MergeMethod: "linear", Models: []DocumentModel{{Model: "org/m+org/lora", Parameters: map[string]any{"weight": 1}}}},
	}
	for name, d := range docs {
		t.Run(name, func(t *testing.T) {
			built, err := d.Config("x.yml", "header line\nsecond")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(built.Raw), "# header line\n# second\nmerge_method: ") {
				t.Errorf("Raw does not start with the header and the method:\n%s", built.Raw)
			}
			parsed, err := Parse(built.Raw, "x.yml")
			if err != nil {
				t.Fatalf("the built YAML does not parse: %v\n%s", err, built.Raw)
			}
			parsed.Parameters = noLines(parsed.Parameters)
			for i := range parsed.Models {
				parsed.Models[i].Parameters = noLines(parsed.Models[i].Parameters)
			}
			if !reflect.DeepEqual(built, parsed) {
				t.Errorf("built  %+v\nparsed %+v", built, parsed)
			}
			back, err := ReadDocument(built.Raw, "x.yml")
			if err != nil {
				t.Fatal(err)
			}
			if back.MergeMethod != d.MergeMethod || len(back.Models) != len(d.Models) || back.DType != d.DType {
				t.Errorf("ReadDocument gave %+v, want %+v", back, d)
			}
		})
	}
}

// TestDocumentConfigRefuses checks that what Parse refuses in the same
// text, Config refuses too, naming the field.
func TestDocumentConfigRefuses(t *testing.T) {
	cases := []struct {
		name string
		doc  Document
		want string
	}{
		{"no method", Document{Models: []DocumentModel{{Model: "a"}}}, "merge_method: must not be empty"},
		{"no models", Document{MergeMethod: "linear"}, "models: must not be empty"},
		{"empty model", Document{MergeMethod: "linear", Models: []DocumentModel{{Model: " "}}}, "models[0].model: model reference must not be empty"},
		{"bad revision", Document{MergeMethod: "linear", Models: []DocumentModel{{Model: "./dir@v1"}}}, "models[0].model:"},
		{"bad dtype", Document{MergeMethod: "linear", DType: "int8", Models: []DocumentModel{{Model: "a"}}}, `dtype: unknown dtype "int8"`},
		{"int64 dtype", Document{MergeMethod: "linear", DType: "int64", Models: []DocumentModel{{Model: "a"}}}, `dtype: "int64" is not supported`},
		{"empty list", Document{MergeMethod: "linear", Models: []DocumentModel{{Model: "a", Parameters: map[string]any{"weight": []float64{}}}}}, "models[0].parameters.weight: empty list"},
		{"map value", Document{MergeMethod: "linear", Parameters: map[string]any{"x": map[string]any{"value": 1}}, Models: []DocumentModel{{Model: "a"}}}, "parameters.x: unsupported value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.doc.Config("x.yml", "")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "x.yml: ") {
				t.Errorf("error %v, want one starting x.yml: and containing %q", err, c.want)
			}
		})
	}
}
