package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mergetune/mergetune/merge/config/yamllimit"
	"github.com/mergetune/mergetune/merge/hub"
)

// Allowed keys at each level of the YAML document, comma-separated.
const (
	topKeys    = "merge_method, base_model, models, slices, modules, parameters, dtype, out_dtype, tokenizer_source, tokenizer, chat_template, name"
	modelKeys  = "model, parameters"
	sliceKeys  = "sources, base_model, parameters, residual_weight"
	sourceKeys = "model, layer_range, parameters"
	condKeys   = "filter, value"
	anyKey     = "" // no restriction (parameter names)
)

// allowedDTypes lists the accepted dtype values, for error messages.
const allowedDTypes = `float32, float16, bfloat16 (optionally prefixed with "torch.")`

// parser holds the state of one Parse call.
type parser struct {
	name string // file name used in messages
	cfg  *Config
}

// Parse parses and validates a merge configuration. file names the source
// in errors and warnings ("" gives "<config>" in messages and an empty
// Config.File). Every error is an *Error.
func Parse(data []byte, file string) (*Config, error) {
	p := &parser{
		name: displayName(file),
		cfg:  &Config{File: file, Raw: bytes.Clone(data)},
	}
	if err := p.parse(data); err != nil {
		return nil, err
	}
	return p.cfg, nil
}

// errf returns an *Error located at node n (which may be nil) and path.
func (p *parser) errf(n *yaml.Node, path, format string, args ...any) error {
	e := &Error{File: p.name, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line = n.Line
	}
	return e
}

// warnf records a warning located at node n and path.
func (p *parser) warnf(n *yaml.Node, path, format string, args ...any) {
	w := &Error{File: p.name, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		w.Line = n.Line
	}
	p.cfg.Warnings = append(p.cfg.Warnings, w.Error())
}

// parse decodes the YAML document and walks it into p.cfg.
func (p *parser) parse(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return p.errf(nil, "", "empty merge config")
		}
		return &Error{File: p.name, Msg: "invalid YAML: " + err.Error(), Err: err}
	}
	// Refuse alias bombs before anything walks or describes the document.
	if err := yamllimit.Check(&doc); err != nil {
		return &Error{File: p.name, Msg: "refused: " + err.Error(), Err: err}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return p.errf(&extra, "", "more than one YAML document; a merge config is a single document")
	} else if !errors.Is(err, io.EOF) {
		return &Error{File: p.name, Msg: "invalid YAML: " + err.Error(), Err: err}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return p.errf(nil, "", "empty merge config")
		}
		root = root.Content[0]
	}
	root = deref(root)
	if isNull(root) {
		return p.errf(root, "", "empty merge config")
	}
	if root.Kind != yaml.MappingNode {
		return p.errf(root, "", "expected a mapping of top-level keys (merge_method, models or slices, ...), got %s", describe(root))
	}
	return p.top(root)
}

// top walks the top-level mapping.
func (p *parser) top(root *yaml.Node) error {
	c := p.cfg
	var methodNode, modelsNode, slicesNode, tokNode, blockNode *yaml.Node
	err := p.mapping(root, "", topKeys, func(key string, kn, v *yaml.Node) error {
		var err error
		switch key {
		case "merge_method":
			methodNode = kn
			if isNull(v) {
				return p.errf(v, key, "must not be empty")
			}
			c.MergeMethod, err = p.scalar(v, key)
			if err == nil && strings.TrimSpace(c.MergeMethod) == "" {
				return p.errf(v, key, "must not be empty")
			}
		case "base_model":
			if !isNull(v) {
				c.BaseModel, err = p.modelRef(v, key)
			}
		case "models":
			if !isNull(v) {
				modelsNode = kn
				c.Models, err = p.models(v)
			}
		case "slices":
			if !isNull(v) {
				slicesNode = kn
				c.Slices, err = p.slices(v)
			}
		case "modules":
			if !isNull(v) {
				return p.errf(v, key, "multi-module configs are not supported yet (got modules %s); use models or slices", describe(v))
			}
		case "parameters":
			c.Parameters, err = p.params(v, key)
		case "dtype":
			c.DType, err = p.dtype(v, key)
		case "out_dtype":
			c.OutDType, err = p.dtype(v, key)
		case "tokenizer_source":
			if !isNull(v) {
				tokNode = v
				c.TokenizerSource, err = p.scalar(v, key)
			}
		case "tokenizer":
			if !isNull(v) {
				blockNode = kn
				c.Tokenizer, err = p.tokenizerBlock(v)
			}
		case "chat_template":
			if !isNull(v) {
				return p.errf(v, key, "not supported yet (got %s)", describe(v))
			}
		case "name":
			// Accepted and ignored.
		}
		return err
	})
	if err != nil {
		return err
	}
	if c.MergeMethod == "" {
		return p.errf(methodNode, "merge_method", "missing; a merge config must name its merge method")
	}
	switch {
	case modelsNode != nil && slicesNode != nil:
		return p.errf(slicesNode, "slices", "only one of models or slices may be set (models is set on line %d)", modelsNode.Line)
	case modelsNode == nil && slicesNode == nil:
		return p.errf(nil, "", "one of models or slices is required")
	}
	switch {
	case tokNode != nil && blockNode != nil:
		return p.errf(blockNode, "tokenizer", "only one of tokenizer_source and tokenizer may be set (tokenizer_source is set on line %d)", tokNode.Line)
	case tokNode != nil:
		return p.checkTokenizer(tokNode, "tokenizer_source", c.TokenizerSource)
	case blockNode != nil:
		return p.checkTokenizer(blockNode, "tokenizer.source", c.Tokenizer.Source)
	}
	return nil
}

// models walks the `models:` list.
func (p *parser) models(n *yaml.Node) ([]Model, error) {
	const path = "models"
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, path, "expected a list of {model, parameters} entries, got %s", describe(n))
	}
	if len(n.Content) == 0 {
		return nil, p.errf(n, path, "must not be empty")
	}
	out := make([]Model, len(n.Content))
	for i, item := range n.Content {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		item = deref(item)
		if item.Kind == yaml.ScalarNode && !isNull(item) {
			return nil, p.errf(item, ipath, "expected a mapping, got the string %q; write it as \"- model: %s\"", item.Value, item.Value)
		}
		if item.Kind != yaml.MappingNode {
			return nil, p.errf(item, ipath, "expected a mapping like \"- model: org/name\", got %s", describe(item))
		}
		var m Model
		seen := false
		err := p.mapping(item, ipath, modelKeys, func(key string, _, v *yaml.Node) error {
			var err error
			switch key {
			case "model":
				seen = true
				m.Model, err = p.modelRef(v, ipath+".model")
			case "parameters":
				m.Parameters, err = p.params(v, ipath+".parameters")
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if !seen {
			return nil, p.errf(item, ipath, "missing model")
		}
		out[i] = m
	}
	return out, nil
}

// slices walks the `slices:` list.
func (p *parser) slices(n *yaml.Node) ([]Slice, error) {
	const path = "slices"
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, path, "expected a list of {sources, base_model?, parameters?} entries, got %s", describe(n))
	}
	if len(n.Content) == 0 {
		return nil, p.errf(n, path, "must not be empty")
	}
	out := make([]Slice, len(n.Content))
	for i, item := range n.Content {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		item = deref(item)
		if item.Kind != yaml.MappingNode {
			return nil, p.errf(item, ipath, "expected a mapping like \"- sources: [...]\", got %s", describe(item))
		}
		var sl Slice
		var sourcesNode *yaml.Node
		err := p.mapping(item, ipath, sliceKeys, func(key string, kn, v *yaml.Node) error {
			var err error
			switch key {
			case "sources":
				sourcesNode = kn
				sl.Sources, err = p.sources(v, ipath+".sources")
			case "base_model":
				if !isNull(v) {
					sl.BaseModel, err = p.modelRef(v, ipath+".base_model")
				}
			case "parameters":
				sl.Parameters, err = p.params(v, ipath+".parameters")
			case "residual_weight":
				if !isNull(v) {
					if _, nerr := p.number(v, ipath+".residual_weight"); nerr != nil {
						return nerr
					}
				}
				p.warnf(kn, ipath+".residual_weight", "ignored (mergekit parses residual_weight but never uses it)")
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if sourcesNode == nil {
			return nil, p.errf(item, ipath, "missing sources")
		}
		first := sl.Sources[0]
		for j, s := range sl.Sources[1:] {
			if s.LayerRange[1]-s.LayerRange[0] != first.LayerRange[1]-first.LayerRange[0] {
				return nil, p.errf(sourcesNode, ipath+".sources", "all sources of a slice must span the same number of layers: sources[0] (%s) spans %d, sources[%d] (%s) spans %d",
					first.Model, first.LayerRange[1]-first.LayerRange[0], j+1, s.Model, s.LayerRange[1]-s.LayerRange[0])
			}
		}
		out[i] = sl
	}
	return out, nil
}

// sources walks a slice's `sources:` list.
func (p *parser) sources(n *yaml.Node, path string) ([]Source, error) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, path, "expected a list of {model, layer_range, parameters?} entries, got %s", describe(n))
	}
	if len(n.Content) == 0 {
		return nil, p.errf(n, path, "must not be empty")
	}
	out := make([]Source, len(n.Content))
	for i, item := range n.Content {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		item = deref(item)
		if item.Kind != yaml.MappingNode {
			return nil, p.errf(item, ipath, "expected a mapping like {model: org/name, layer_range: [0, 32]}, got %s", describe(item))
		}
		var s Source
		var hasModel, hasRange bool
		err := p.mapping(item, ipath, sourceKeys, func(key string, _, v *yaml.Node) error {
			var err error
			switch key {
			case "model":
				hasModel = true
				s.Model, err = p.modelRef(v, ipath+".model")
			case "layer_range":
				hasRange = true
				s.LayerRange, err = p.layerRange(v, ipath+".layer_range")
			case "parameters":
				s.Parameters, err = p.params(v, ipath+".parameters")
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if !hasModel {
			return nil, p.errf(item, ipath, "missing model")
		}
		if !hasRange {
			return nil, p.errf(item, ipath, "missing layer_range (a source in slices needs layer_range: [start, end))")
		}
		out[i] = s
	}
	return out, nil
}

// layerRange parses a [start, end) pair.
func (p *parser) layerRange(n *yaml.Node, path string) ([2]int, error) {
	n = deref(n)
	bad := func() ([2]int, error) {
		return [2]int{}, p.errf(n, path, "must be a list of two integers [start, end), got %s", describe(n))
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) != 2 {
		return bad()
	}
	var r [2]int
	for i, e := range n.Content {
		e = deref(e)
		if e.Kind != yaml.ScalarNode || e.Tag != "!!int" {
			return bad()
		}
		if err := e.Decode(&r[i]); err != nil {
			return bad()
		}
	}
	if r[0] < 0 || r[0] >= r[1] {
		return r, p.errf(n, path, "[%d, %d] is invalid: need 0 <= start < end (the range is half-open)", r[0], r[1])
	}
	return r, nil
}

// modelRef parses a model reference.
func (p *parser) modelRef(n *yaml.Node, path string) (string, error) {
	n = deref(n)
	if n.Kind == yaml.MappingNode {
		return "", p.errf(n, path, "model references in mapping form (path/revision/lora/override_architecture) are not supported yet (got %s); use a plain path or Hugging Face id", describe(n))
	}
	if isNull(n) {
		return "", p.errf(n, path, "missing model reference")
	}
	ref, err := p.scalar(n, path)
	if err != nil {
		return "", err
	}
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", p.errf(n, path, "model reference must not be empty")
	}
	return ref, p.checkRef(n, path, ref)
}

// checkRef checks a model reference (checkModelRef) at node n.
func (p *parser) checkRef(n *yaml.Node, path, ref string) error {
	if err := checkModelRef(ref); err != nil {
		return p.errf(n, path, "%s", err)
	}
	return nil
}

// checkModelRef checks the LoRA form ("model+lora", CheckLoRARef) and
// that a part with a revision ("@") is a Hugging Face id,
// org/name@revision.
func checkModelRef(ref string) error {
	if err := CheckLoRARef(ref); err != nil {
		return err
	}
	model, lora := SplitLoRA(ref)
	for _, part := range []string{model, lora} {
		if strings.Contains(part, "@") {
			if _, err := hub.ParseRef(part); err != nil {
				return fmt.Errorf("%v; a revision is given to a Hugging Face id, as org/name@revision", err)
			}
		}
	}
	return nil
}

// dtype parses and normalises a dtype value.
func (p *parser) dtype(n *yaml.Node, path string) (string, error) {
	n = deref(n)
	if isNull(n) {
		return "", nil
	}
	s, err := p.scalar(n, path)
	if err != nil {
		return "", err
	}
	d, err := normalizeDType(s)
	if err != nil {
		return "", p.errf(n, path, "%s", err)
	}
	return d, nil
}

// normalizeDType returns the dtype s names without its "torch." prefix,
// or an error for a dtype mergetune does not write.
func normalizeDType(s string) (string, error) {
	switch d := strings.TrimPrefix(s, "torch."); d {
	case "float32", "float16", "bfloat16":
		return d, nil
	case "int64":
		return "", fmt.Errorf("%q is not supported (allowed: %s)", s, allowedDTypes)
	}
	return "", fmt.Errorf("unknown dtype %q (allowed: %s)", s, allowedDTypes)
}

// params parses a parameters mapping. A null value gives nil Params.
func (p *parser) params(n *yaml.Node, path string) (Params, error) {
	n = deref(n)
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, path, "expected a mapping of parameter names to values, got %s", describe(n))
	}
	out := Params{}
	err := p.mapping(n, path, anyKey, func(key string, _, v *yaml.Node) error {
		s, err := p.setting(v, path+"."+key)
		if err != nil {
			return err
		}
		out[key] = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// setting parses one ParameterSetting.
func (p *parser) setting(n *yaml.Node, path string) (Setting, error) {
	n = deref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		v, err := p.scalarValue(n, path)
		if err != nil {
			return Setting{}, err
		}
		return Setting{kind: kindScalar, val: v, line: n.Line}, nil
	case yaml.MappingNode:
		c, err := p.conditional(n, path)
		if err != nil {
			return Setting{}, err
		}
		return Setting{kind: kindConds, conds: []conditional{c}, line: n.Line, bare: true}, nil
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return Setting{}, p.errf(n, path, "empty list; a parameter list needs at least one value")
		}
		var nScalar, nMap int
		for _, e := range n.Content {
			switch deref(e).Kind {
			case yaml.ScalarNode:
				nScalar++
			case yaml.MappingNode:
				nMap++
			default:
				return Setting{}, p.errf(e, path, "a parameter list may hold numbers, strings or {filter, value} conditionals, not %s", describe(deref(e)))
			}
		}
		if nScalar > 0 && nMap > 0 {
			return Setting{}, p.errf(n, path, "list mixes plain values and {filter, value} conditionals: %s", describe(n))
		}
		if nMap > 0 {
			conds := make([]conditional, len(n.Content))
			for i, e := range n.Content {
				c, err := p.conditional(deref(e), fmt.Sprintf("%s[%d]", path, i))
				if err != nil {
					return Setting{}, err
				}
				conds[i] = c
			}
			return Setting{kind: kindConds, conds: conds, line: n.Line}, nil
		}
		list := make([]Value, len(n.Content))
		kind := kindGradient
		for i, e := range n.Content {
			v, err := p.scalarValue(deref(e), fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return Setting{}, err
			}
			if v.IsStr {
				kind = kindStep
			}
			list[i] = v
		}
		return Setting{kind: kind, list: list, line: n.Line}, nil
	}
	return Setting{}, p.errf(n, path, "unexpected %s", describe(n))
}

// conditional parses a {filter?, value} mapping.
func (p *parser) conditional(n *yaml.Node, path string) (conditional, error) {
	var c conditional
	var valueNode *yaml.Node
	err := p.mapping(n, path, condKeys, func(key string, _, v *yaml.Node) error {
		v = deref(v)
		switch key {
		case "filter":
			if isNull(v) {
				return nil
			}
			if v.Kind != yaml.ScalarNode {
				return p.errf(v, path+".filter", "must be a string (a substring of the tensor name), got %s", describe(v))
			}
			c.filter = v.Value
		case "value":
			valueNode = v
		}
		return nil
	})
	if err != nil {
		return c, err
	}
	if valueNode == nil {
		return c, p.errf(n, path, "conditional without value: %s", describe(n))
	}
	vpath := path + ".value"
	switch valueNode.Kind {
	case yaml.ScalarNode:
	case yaml.SequenceNode:
		for _, e := range valueNode.Content {
			if deref(e).Kind != yaml.ScalarNode {
				return c, p.errf(e, vpath, "a conditional's value must be a scalar or a list of scalars, got %s", describe(valueNode))
			}
		}
	default:
		return c, p.errf(valueNode, vpath, "a conditional's value must be a scalar or a list of scalars, got %s", describe(valueNode))
	}
	s, err := p.setting(valueNode, vpath)
	if err != nil {
		return c, err
	}
	c.value = s
	return c, nil
}

// scalarValue converts a scalar node to a Value: numbers and booleans (→
// 1/0) become numbers, strings stay strings, null is an error.
func (p *parser) scalarValue(n *yaml.Node, path string) (Value, error) {
	if n.Kind != yaml.ScalarNode {
		return Value{}, p.errf(n, path, "expected a number, boolean or string, got %s", describe(n))
	}
	var x any
	if err := n.Decode(&x); err != nil {
		return Value{}, p.errf(n, path, "invalid value %q: %v", n.Value, err)
	}
	v, err := valueOf(x, n.Value)
	if err != nil {
		return Value{}, p.errf(n, path, "%s", err)
	}
	return v, nil
}

// number parses a numeric scalar.
func (p *parser) number(n *yaml.Node, path string) (float64, error) {
	v, err := p.scalarValue(deref(n), path)
	if err == nil && v.IsStr {
		err = p.errf(n, path, "expected a number, got %q", v.Str)
	}
	return v.Num, err
}

// scalar returns the text of a non-null scalar node.
func (p *parser) scalar(n *yaml.Node, path string) (string, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return "", p.errf(n, path, "expected a string, got %s", describe(n))
	}
	return n.Value, nil
}

// mapping iterates the key/value pairs of mapping node n in order, rejecting
// non-string keys, duplicate keys and, unless allowed is anyKey, keys not in
// the comma-separated allowed list. fn receives the key, its node and the (dereferenced) value node.
func (p *parser) mapping(n *yaml.Node, path string, allowed string, fn func(key string, kn, v *yaml.Node) error) error {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return p.errf(n, path, "expected a mapping, got %s", describe(n))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, v := n.Content[i], deref(n.Content[i+1])
		key := kn.Value
		kpath := joinPath(path, key)
		if kn.Kind != yaml.ScalarNode || key == "" {
			return p.errf(kn, path, "invalid key %s", describe(kn))
		}
		if allowed != anyKey && !contains(allowed, key) {
			return p.errf(kn, kpath, "unknown key %q (allowed keys: %s)", key, allowed)
		}
		if line, dup := seen[key]; dup {
			return p.errf(kn, kpath, "duplicate key %q (first set on line %d)", key, line)
		}
		seen[key] = kn.Line
		if err := fn(key, kn, v); err != nil {
			return err
		}
	}
	return nil
}

// joinPath appends key to a dotted key path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// contains reports whether the comma-separated list holds s.
func contains(list, s string) bool {
	for _, x := range strings.Split(list, ",") {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

// deref follows YAML aliases to the node they refer to.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 64; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is a YAML null (or missing).
func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describeLimit is the length in runes of describe's renderings.
const describeLimit = 120

// describe renders node n compactly for error messages: at most
// describeLimit runes, then "…". It stops at the limit, so its cost does
// not depend on the size of n (nor on what its aliases expand to).
func describe(n *yaml.Node) string {
	d := describer{left: 4 * describeLimit}
	d.node(n)
	return truncate(d.b.String())
}

// describer writes a node's rendering until left bytes are spent.
type describer struct {
	b    strings.Builder
	left int
}

// write appends s, reporting false once the budget is spent.
func (d *describer) write(s string) bool {
	if d.left <= 0 {
		return false
	}
	if len(s) > d.left {
		s = s[:d.left]
	}
	d.b.WriteString(s)
	d.left -= len(s)
	return d.left > 0
}

// node renders n, reporting false once the budget is spent.
func (d *describer) node(n *yaml.Node) bool {
	n = deref(n)
	if n == nil {
		return d.write("nothing")
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return d.write("null")
		case "!!str":
			v := n.Value
			if len(v) > d.left {
				v = v[:d.left] // Quote escapes; the cut keeps it bounded
			}
			return d.write(strconv.Quote(v))
		}
		v := n.Value
		if len(v) > d.left {
			v = v[:d.left]
		}
		return d.write(v)
	case yaml.SequenceNode:
		if !d.write("[") {
			return false
		}
		for i, e := range n.Content {
			if i > 0 && !d.write(", ") {
				return false
			}
			if !d.node(e) {
				return false
			}
		}
		return d.write("]")
	case yaml.MappingNode:
		if !d.write("{") {
			return false
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 && !d.write(", ") {
				return false
			}
			k := n.Content[i].Value
			if len(k) > d.left {
				k = k[:d.left]
			}
			if !d.write(k+": ") || !d.node(n.Content[i+1]) {
				return false
			}
		}
		return d.write("}")
	}
	return d.write("a YAML document")
}

// truncate shortens long renderings for error messages.
func truncate(s string) string {
	if r := []rune(s); len(r) > describeLimit {
		return string(r[:describeLimit]) + "…"
	}
	return s
}
