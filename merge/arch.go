package merge

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// layerName matches a decoder-layer tensor name: a prefix ending in
// "layers." (llama, mistral, qwen, gemma, …), "h." (gpt2, falcon) or
// "blocks.", the layer index, then the rest.
var layerName = regexp.MustCompile(`^(.*(?:^|\.)(?:layers|h|blocks)\.)(\d+)\.(.+)$`)

// splitLayer returns the prefix, the layer index and the suffix of a layer
// tensor's name, or ok=false for a tensor outside the layers.
func splitLayer(name string) (prefix string, layer int, suffix string, ok bool) {
	m := layerName.FindStringSubmatch(name)
	if m == nil {
		return "", 0, "", false
	}
	i, err := strconv.Atoi(m[2])
	if err != nil {
		return "", 0, "", false
	}
	return m[1], i, m[3], true
}

// layerTensorName builds the name of a layer tensor.
func layerTensorName(prefix string, layer int, suffix string) string {
	return prefix + strconv.Itoa(layer) + "." + suffix
}

// isEmbed reports whether a tensor is an embedding or output head, the
// tensors whose row count is the vocabulary size.
func isEmbed(name string) bool {
	return strings.Contains(name, "embed_tokens") || strings.Contains(name, "lm_head") ||
		strings.HasSuffix(name, "wte.weight")
}

// isPreWeight reports whether a non-layer tensor sits before the layers
// (embeddings), as opposed to after them (final norm, lm_head).
func isPreWeight(name string) bool {
	return strings.Contains(name, "embed") || strings.HasSuffix(name, "wte.weight") || strings.HasSuffix(name, "wpe.weight")
}

// hfConfig is a model's config.json, kept as written: the engine reads a
// few keys, and the output config is this document with only the keys
// mergetune sets rewritten (every other value keeps its exact bytes).
type hfConfig struct {
	path string
	doc  *jsonObject
}

// readHFConfig reads dir/config.json; it returns nil, nil when there is none.
func readHFConfig(dir string) (*hfConfig, error) {
	path := filepath.Join(dir, "config.json")
	data, err := readRegular(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read model config: %w", err)
	}
	doc, err := parseJSONObject(data)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &hfConfig{path: path, doc: doc}, nil
}

// layerKeys are the config.json keys that hold the layer count.
func layerKeys() []string { return []string{"num_hidden_layers", "n_layer", "num_layers"} }

// numLayers returns the layer count from config.json, or 0, false.
func (c *hfConfig) numLayers() (int, bool) {
	if c == nil {
		return 0, false
	}
	for _, k := range layerKeys() {
		var v float64
		if raw := c.doc.Raw(k); raw != nil && json.Unmarshal(raw, &v) == nil {
			return int(v), true
		}
	}
	return 0, false
}

// setNumLayers rewrites the layer count key that config.json uses.
func (c *hfConfig) setNumLayers(n int) error {
	for _, k := range layerKeys() {
		if c.doc.Has(k) {
			if err := c.doc.Set(k, n); err != nil {
				return fmt.Errorf("%s: %w", c.path, err)
			}
			return nil
		}
	}
	return nil
}

// tokenizerFiles are copied from the tokenizer source model (mergekit's list).
func tokenizerFiles() []string {
	return []string{
		"tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer.model",
		"added_tokens.json", "merges.txt", "vocab.json", "chat_template.jinja", "generation_config.json",
		"chat_template.json", "video_preprocessor_config.json",
	}
}
