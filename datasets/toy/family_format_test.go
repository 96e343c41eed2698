package toy

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// wantConfig is the config.json every model of the family carries.
var wantConfig = map[string]any{
	"architectures":           []any{"LlamaForCausalLM"},
	"model_type":              "llama",
	"hidden_size":             128.0,
	"intermediate_size":       288.0,
	"num_hidden_layers":       2.0,
	"num_attention_heads":     4.0,
	"num_key_value_heads":     4.0,
	"vocab_size":              256.0,
	"max_position_embeddings": 32.0,
	"rms_norm_eps":            1e-5,
	"rope_theta":              10000.0,
	"tie_word_embeddings":     false,
	"hidden_act":              "silu",
	"torch_dtype":             "bfloat16",
	"bos_token_id":            nil,
	"eos_token_id":            nil,
}

// wantTensors lists the family's tensor names and shapes.
func wantTensors() map[string][]int {
	m := map[string][]int{
		"model.embed_tokens.weight": {256, 128},
		"model.norm.weight":         {128},
		"lm_head.weight":            {256, 128},
	}
	for l := range 2 {
		p := fmt.Sprintf("model.layers.%d.", l)
		m[p+"input_layernorm.weight"] = []int{128}
		m[p+"post_attention_layernorm.weight"] = []int{128}
		for _, n := range []string{"q", "k", "v", "o"} {
			m[p+"self_attn."+n+"_proj.weight"] = []int{128, 128}
		}
		m[p+"mlp.gate_proj.weight"] = []int{288, 128}
		m[p+"mlp.up_proj.weight"] = []int{288, 128}
		m[p+"mlp.down_proj.weight"] = []int{128, 288}
	}
	return m
}

func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestFamilyFormat checks that the base, every fine-tune and every seed
// model under family/ are complete Hugging Face checkpoints in the
// documented format.
func TestFamilyFormat(t *testing.T) {
	seeds, err := filepath.Glob(filepath.Join("family", "seeds", "*-seed*"))
	if err != nil || len(seeds) == 0 {
		t.Fatalf("no seed models under family/seeds (%v)", err)
	}
	models := append([]string{"base"}, Names()...)
	for _, s := range seeds {
		models = append(models, filepath.Join("seeds", filepath.Base(s)))
	}
	for _, m := range models {
		t.Run(m, func(t *testing.T) {
			dir := filepath.Join("family", m)
			var cfg map[string]any
			readJSONFile(t, filepath.Join(dir, "config.json"), &cfg)
			if !reflect.DeepEqual(cfg, wantConfig) {
				t.Errorf("config.json = %v", cfg)
			}
			var tc map[string]any
			readJSONFile(t, filepath.Join(dir, "tokenizer_config.json"), &tc)
			if tc["add_bos_token"] != false || tc["add_eos_token"] != false || tc["model_max_length"] != 32.0 {
				t.Errorf("tokenizer_config.json = %v", tc)
			}
			checkTokenizer(t, filepath.Join(dir, "tokenizer.json"))
			checkSafetensors(t, filepath.Join(dir, "model.safetensors"))
		})
	}
}

func checkTokenizer(t *testing.T, path string) {
	t.Helper()
	var tok struct {
		Model struct {
			Type   string         `json:"type"`
			Vocab  map[string]int `json:"vocab"`
			Merges []any          `json:"merges"`
		} `json:"model"`
		PreTokenizer struct {
			Type string `json:"type"`
		} `json:"pre_tokenizer"`
		Decoder struct {
			Type string `json:"type"`
		} `json:"decoder"`
		AddedTokens []any `json:"added_tokens"`
	}
	readJSONFile(t, path, &tok)
	if tok.Model.Type != "BPE" || tok.Model.Merges == nil || len(tok.Model.Merges) != 0 ||
		tok.PreTokenizer.Type != "ByteLevel" || tok.Decoder.Type != "ByteLevel" || len(tok.AddedTokens) != 0 {
		t.Errorf("tokenizer.json: unexpected model, merges, pre-tokenizer, decoder or added tokens")
	}
	// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves,
	// the others to U+0100 upwards in byte order.
	next := rune(256)
	for b := range 256 {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xa1 && b <= 0xac || b >= 0xae && b <= 0xff) {
			r = next
			next++
		}
		if id, ok := tok.Model.Vocab[string(r)]; !ok || id != b {
			t.Fatalf("tokenizer.json: byte %d: symbol %q has id %d (present %v)", b, r, id, ok)
		}
	}
	if len(tok.Model.Vocab) != 256 {
		t.Errorf("tokenizer.json: %d tokens", len(tok.Model.Vocab))
	}
}

func checkSafetensors(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 8 {
		t.Fatalf("%s: too short", path)
	}
	n := binary.LittleEndian.Uint64(b)
	if n%8 != 0 || 8+n > uint64(len(b)) {
		t.Fatalf("%s: header length %d", path, n)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	want := wantTensors()
	params, end := 0, 0
	for name, raw := range header {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			Dtype   string `json:"dtype"`
			Shape   []int  `json:"shape"`
			Offsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		numel := 1
		for _, d := range e.Shape {
			numel *= d
		}
		if e.Dtype != "BF16" || !reflect.DeepEqual(e.Shape, want[name]) || e.Offsets[1]-e.Offsets[0] != 2*numel ||
			8+n+uint64(e.Offsets[1]) > uint64(len(b)) {
			t.Fatalf("%s: %s %s %v %v", path, name, e.Dtype, e.Shape, e.Offsets)
		}
		data := b[8+n+uint64(e.Offsets[0]) : 8+n+uint64(e.Offsets[1])]
		for i := 0; i < len(data); i += 2 {
			f := math.Float32frombits(uint32(binary.LittleEndian.Uint16(data[i:])) << 16)
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				t.Fatalf("%s: %s holds %v", path, name, f)
			}
		}
		params += numel
		end = max(end, e.Offsets[1])
		delete(want, name)
	}
	if len(want) != 0 {
		t.Errorf("%s: missing tensors %v", path, want)
	}
	if params >= 1_000_000 || uint64(len(b)) != 8+n+uint64(end) {
		t.Errorf("%s: %d parameters, %d bytes", path, params, len(b))
	}
}
