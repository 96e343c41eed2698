package merge

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// hfConfigJSON is a config.json in transformers' layout whose values
// json.Unmarshal into map[string]any and back would change: floats
// written with a fractional part, a 20-digit integer, nested objects
// whose keys are not sorted, escapes.
const hfConfigJSON = `{
  "architectures": [
    "LlamaForCausalLM"
  ],
  "model_type": "llama",
  "hidden_size": 4,
  "num_hidden_layers": 2,
  "vocab_size": 8,
  "final_logit_softcapping": 30.0,
  "rope_theta": 10000.0,
  "attention_dropout": 0.0,
  "rms_norm_eps": 1e-06,
  "initializer_range": 0.020000000000000000,
  "big_id": 12345678901234567890,
  "negative": -0.0,
  "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8192, "beta": {"z": 1.0, "a": [1.50, 2e3]}},
  "name": "caf\u00e9 \"quoted\" <tag>",
  "torch_dtype": "float32",
  "tie_word_embeddings": false,
  "null_value": null
}
`

// TestConfigJSONRoundTrip: the output config.json is the base's byte for
// byte except the keys mergetune sets (torch_dtype from out_dtype/dtype,
// the layer count of a franken-merge), whatever the layout.
func TestConfigJSONRoundTrip(t *testing.T) {
	set := func(doc, key, val string) string {
		t.Helper()
		old := `"` + key + `": `
		i := strings.Index(doc, old)
		if i < 0 {
			t.Fatalf("no %s in the test document", key)
		}
		j := i + len(old)
		k := j + strings.IndexAny(doc[j:], ",\n}")
		return doc[:j] + val + doc[k:]
	}
	compact := `{"model_type":"llama","num_hidden_layers":2,"rope_theta":10000.0,"big":99999999999999999999,"nested":{"b":1.0,"a":0.0}}`
	cases := []struct {
		name, config, yaml, want string
	}{
		{"out_dtype", hfConfigJSON, `
merge_method: linear
models: [{model: a, parameters: {weight: 0.5}}, {model: b, parameters: {weight: 0.5}}]
out_dtype: bfloat16`, set(hfConfigJSON, "torch_dtype", `"bfloat16"`)},
		{"nothing set", hfConfigJSON, `
merge_method: linear
models: [{model: a, parameters: {weight: 0.5}}, {model: b, parameters: {weight: 0.5}}]`, hfConfigJSON},
		{"franken layers", hfConfigJSON, `
merge_method: passthrough
slices:
  - sources: [{model: a, layer_range: [0, 2]}]
  - sources: [{model: b, layer_range: [1, 2]}]
dtype: float32`, set(hfConfigJSON, "num_hidden_layers", "3")},
		{"compact, torch_dtype added", compact, `
merge_method: passthrough
slices:
  - sources: [{model: a, layer_range: [0, 1]}]
dtype: float16`, `{"model_type":"llama","num_hidden_layers":1,"rope_theta":10000.0,"big":99999999999999999999,"nested":{"b":1.0,"a":0.0}, "torch_dtype": "float16"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, n := range []string{"a", "b"} {
				m := ckpt{layers: 2, hidden: 4, vocab: 8, seed: i + 1}
				m.write(t, filepath.Join(dir, n))
				writeFile(t, filepath.Join(dir, n, "config.json"), c.config)
			}
			_, out, err := mergeYAML(t, dir, c.yaml, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(out, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Fatalf("config.json:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}

func TestJSONObjectSet(t *testing.T) {
	cases := []struct {
		doc, key string
		val      any
		want     string
	}{
		{`{}`, "k", 1, `{"k": 1}`},
		{" { \n } \n", "k", "v", " {\"k\": \"v\" \n } \n"},
		{`{"a":1.0}`, "a", 2, `{"a":2}`},
		{`{"a":1.0,"b":[1.0]}`, "c", true, `{"a":1.0,"b":[1.0], "c": true}`},
		{"{\n\t\"a\": 1.0\n}", "b", "x", "{\n\t\"a\": 1.0,\n\t\"b\": \"x\"\n}"},
		{`{"a" : 1.0, "a": {"x": 2.0}}`, "a", 3, `{"a" : 3, "a": 3}`},
		{`{"a\u0062": 5.0}`, "ab", 6, `{"a\u0062": 6}`},
	}
	for _, c := range cases {
		o, err := parseJSONObject([]byte(c.doc))
		if err != nil {
			t.Fatalf("%q: %v", c.doc, err)
		}
		if err := o.Set(c.key, c.val); err != nil {
			t.Fatalf("%q: set %s: %v", c.doc, c.key, err)
		}
		if got := string(o.Bytes()); got != c.want {
			t.Errorf("%q set %s = %v: got %q, want %q", c.doc, c.key, c.val, got, c.want)
		}
	}
	for _, bad := range []string{``, `[]`, `{"a":1}{}`, `{"a":}`, `{"a":1,}`, `"x"`, `{"a":1} x`} {
		if _, err := parseJSONObject([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzJSONObjectSet: setting a key of any JSON object leaves a document
// that parses, holds the new value under the key and every other
// top-level member's value byte for byte.
func FuzzJSONObjectSet(f *testing.F) {
	f.Add([]byte(hfConfigJSON), "torch_dtype", "bfloat16")
	f.Add([]byte(hfConfigJSON), "new_key", "x")
	f.Add([]byte(`{}`), "a", "")
	f.Add([]byte(` {"a" : [1.0, {"b": 2}] , "a":3} `), "a", "z")
	f.Add([]byte("{\"\\u00e9\":1e400}"), "é", "q")
	f.Fuzz(func(t *testing.T, data []byte, key, val string) {
		o, err := parseJSONObject(data)
		if err != nil || !utf8.ValidString(key) {
			return // keys mergetune sets are ASCII; encoding/json rewrites invalid UTF-8
		}
		before := map[string]string{}
		for _, m := range o.members {
			before[m.key] = string(o.Raw(m.key))
		}
		if err := o.Set(key, val); err != nil {
			t.Fatalf("set %q in %q: %v", key, data, err)
		}
		n, err := parseJSONObject(o.Bytes())
		if err != nil {
			t.Fatalf("%q after setting %q: %v", o.Bytes(), key, err)
		}
		var got, want string
		enc, _ := json.Marshal(val)
		_ = json.Unmarshal(enc, &want) // val as encoding/json spells it (invalid UTF-8 replaced)
		if err := json.Unmarshal(n.Raw(key), &got); err != nil || got != want {
			t.Fatalf("%q: %q = %q (%v), want %q", o.Bytes(), key, n.Raw(key), err, val)
		}
		for k, v := range before {
			if k != key && string(n.Raw(k)) != v {
				t.Fatalf("%q: member %q = %q, was %q", o.Bytes(), k, n.Raw(k), v)
			}
		}
		if !bytes.HasPrefix(bytes.TrimLeft(o.Bytes(), " \t\r\n"), []byte("{")) {
			t.Fatalf("%q does not start with an object", o.Bytes())
		}
	})
}
