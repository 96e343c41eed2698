package synth

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// llamaConfig is the config.json of a LlamaForCausalLM, fields in the order
// transformers writes them.
type llamaConfig struct {
	Architectures         []string `json:"architectures"`
	AttentionBias         bool     `json:"attention_bias"`
	BOSTokenID            int      `json:"bos_token_id"`
	EOSTokenID            int      `json:"eos_token_id"`
	HeadDim               int      `json:"head_dim"`
	HiddenAct             string   `json:"hidden_act"`
	HiddenSize            int      `json:"hidden_size"`
	InitializerRange      float64  `json:"initializer_range"`
	IntermediateSize      int      `json:"intermediate_size"`
	MaxPositionEmbeddings int      `json:"max_position_embeddings"`
	ModelType             string   `json:"model_type"`
	NumAttentionHeads     int      `json:"num_attention_heads"`
	NumHiddenLayers       int      `json:"num_hidden_layers"`
	NumKeyValueHeads      int      `json:"num_key_value_heads"`
	RMSNormEps            float64  `json:"rms_norm_eps"`
	RopeTheta             float64  `json:"rope_theta"`
	TieWordEmbeddings     bool     `json:"tie_word_embeddings"`
	TorchDType            string   `json:"torch_dtype"`
	UseCache              bool     `json:"use_cache"`
	VocabSize             int      `json:"vocab_size"`
}

// writeJSON writes v, indented, to dir/name.
func writeJSON(dir, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// writeConfig writes config.json.
func writeConfig(dir string, opt Options) error {
	s := opt.Shape
	return writeJSON(dir, "config.json", llamaConfig{
		Architectures:         []string{"LlamaForCausalLM"},
		BOSTokenID:            1,
		EOSTokenID:            2,
		HeadDim:               s.HeadDim(),
		HiddenAct:             "silu",
		HiddenSize:            s.Hidden,
		InitializerRange:      InitStd,
		IntermediateSize:      s.Intermediate,
		MaxPositionEmbeddings: 2048,
		ModelType:             "llama",
		NumAttentionHeads:     s.Heads,
		NumHiddenLayers:       s.Layers,
		NumKeyValueHeads:      s.KVHeads,
		RMSNormEps:            1e-5,
		RopeTheta:             10000,
		TieWordEmbeddings:     s.TiedEmbeddings,
		TorchDType:            opt.DType.TorchName(),
		UseCache:              true,
		VocabSize:             s.Vocab,
	})
}

// llama's special tokens, ids 0, 1 and 2.
const (
	unkToken = "<unk>"
	bosToken = "<s>"
	eosToken = "</s>"
)

// byteLevelAlphabet returns GPT-2's byte-to-unicode mapping: the printable
// character standing for each byte in a byte-level BPE vocabulary.
func byteLevelAlphabet() [256]rune {
	var out [256]rune
	next := rune(256)
	for b := range 256 {
		switch {
		case b >= '!' && b <= '~', b >= 0xA1 && b <= 0xAC, b >= 0xAE && b <= 0xFF:
			out[b] = rune(b)
		default:
			out[b] = next
			next++
		}
	}
	return out
}

type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type byteLevel struct {
	Type           string `json:"type"`
	AddPrefixSpace bool   `json:"add_prefix_space"`
	TrimOffsets    bool   `json:"trim_offsets"`
	UseRegex       bool   `json:"use_regex"`
}

type bpeModel struct {
	Type                    string         `json:"type"`
	Dropout                 *float64       `json:"dropout"`
	UnkToken                string         `json:"unk_token"`
	ContinuingSubwordPrefix *string        `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string        `json:"end_of_word_suffix"`
	FuseUnk                 bool           `json:"fuse_unk"`
	ByteFallback            bool           `json:"byte_fallback"`
	IgnoreMerges            bool           `json:"ignore_merges"`
	Vocab                   map[string]int `json:"vocab"`
	Merges                  [][2]string    `json:"merges"`
}

type tokenizerJSON struct {
	Version       string       `json:"version"`
	Truncation    any          `json:"truncation"`
	Padding       any          `json:"padding"`
	AddedTokens   []addedToken `json:"added_tokens"`
	Normalizer    any          `json:"normalizer"`
	PreTokenizer  byteLevel    `json:"pre_tokenizer"`
	PostProcessor byteLevel    `json:"post_processor"`
	Decoder       byteLevel    `json:"decoder"`
	Model         bpeModel     `json:"model"`
}

// writeTokenizer writes a minimal valid byte-level BPE tokenizer
// (tokenizer.json, tokenizer_config.json) whose ids all fit a vocabulary of
// vocab tokens: the three llama special tokens, then as many of the 256
// byte tokens as fit, then no merges.
func writeTokenizer(dir string, vocab int) error {
	bl := byteLevel{Type: "ByteLevel", TrimOffsets: true, UseRegex: true}
	tok := tokenizerJSON{
		Version:       "1.0",
		PreTokenizer:  bl,
		PostProcessor: bl,
		Decoder:       bl,
		Model: bpeModel{
			Type:     "BPE",
			UnkToken: unkToken,
			Vocab:    map[string]int{},
			Merges:   [][2]string{},
		},
	}
	specials := []string{unkToken, bosToken, eosToken}
	for id, s := range specials {
		if id >= vocab {
			break
		}
		tok.AddedTokens = append(tok.AddedTokens, addedToken{ID: id, Content: s, Special: true})
		tok.Model.Vocab[s] = id
	}
	for b, r := range byteLevelAlphabet() {
		id := len(specials) + b
		if id >= vocab {
			break
		}
		tok.Model.Vocab[string(r)] = id
	}
	if err := writeJSON(dir, "tokenizer.json", tok); err != nil {
		return err
	}
	return writeJSON(dir, "tokenizer_config.json", map[string]any{
		"add_bos_token":                true,
		"add_eos_token":                false,
		"bos_token":                    bosToken,
		"clean_up_tokenization_spaces": false,
		"eos_token":                    eosToken,
		"model_max_length":             2048,
		"pad_token":                    nil,
		"tokenizer_class":              "PreTrainedTokenizerFast",
		"unk_token":                    unkToken,
	})
}
