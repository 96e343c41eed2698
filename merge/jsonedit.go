package merge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// jsonObject is a JSON object kept as written: its bytes, and where each
// top-level member's value lies in them. Setting a member rewrites only
// that value's bytes, so every other value keeps its exact spelling
// (30.0 stays 30.0, 20-digit integers keep every digit), its nesting and
// the order of the keys; transformers' strict config loading needs that.
type jsonObject struct {
	data    []byte
	members []jsonMember
}

// jsonMember is one top-level member: its key and its value's span.
type jsonMember struct {
	key        string
	start, end int // data[start:end] is the value as written
}

// parseJSONObject indexes the top-level members of the JSON object in data.
// Anything but one object (with nothing after it but white space) is an
// error.
func parseJSONObject(data []byte) (*jsonObject, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	o := &jsonObject{data: data}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("offset %d: object key expected", dec.InputOffset())
		}
		after := int(dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		// the value starts after the colon and any white space; raw is
		// its exact bytes
		start := after + bytes.IndexByte(data[after:], ':') + 1
		for start < len(data) && isJSONSpace(data[start]) {
			start++
		}
		end := start + len(raw)
		if end > len(data) || !bytes.Equal(data[start:end], raw) {
			return nil, fmt.Errorf("offset %d: cannot locate the value of %q", start, key)
		}
		o.members = append(o.members, jsonMember{key: key, start: start, end: end})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the top-level object")
	}
	return o, nil
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// Raw returns the value of key as written (its last occurrence, as
// encoding/json reads duplicates), or nil when the object has no such key.
func (o *jsonObject) Raw(key string) json.RawMessage {
	for i := len(o.members) - 1; i >= 0; i-- {
		if m := o.members[i]; m.key == key {
			return json.RawMessage(o.data[m.start:m.end])
		}
	}
	return nil
}

// Has reports whether the object has the key.
func (o *jsonObject) Has(key string) bool { return o.Raw(key) != nil }

// Set gives key the JSON value v (marshalled by encoding/json): every
// occurrence of the key is rewritten in place; a missing key is appended
// as the last member, indented like the first one.
func (o *jsonObject) Set(key string, v any) error {
	val, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return o.SetRaw(key, val)
}

// SetRaw is Set with the value's JSON text given as written.
func (o *jsonObject) SetRaw(key string, val []byte) error {
	var out []byte
	at := 0
	found := false
	for _, m := range o.members {
		if m.key != key {
			continue
		}
		out = append(append(out, o.data[at:m.start]...), val...)
		at = m.end
		found = true
	}
	if found {
		return o.reindex(append(out, o.data[at:]...))
	}
	name, _ := json.Marshal(key)
	member := append(append(name, ": "...), val...)
	if len(o.members) == 0 {
		// {} or { } : the member goes after the opening brace
		open := bytes.IndexByte(o.data, '{') + 1
		out = append(append(append([]byte{}, o.data[:open]...), member...), o.data[open:]...)
		return o.reindex(out)
	}
	last := o.members[len(o.members)-1]
	indent := o.indent()
	out = append(append([]byte{}, o.data[:last.end]...), ',')
	out = append(append(out, indent...), member...)
	return o.reindex(append(out, o.data[last.end:]...))
}

// indent is the white space before the first key (e.g. "\n  "), or " ".
func (o *jsonObject) indent() []byte {
	open := bytes.IndexByte(o.data, '{') + 1
	i := open
	for i < len(o.data) && isJSONSpace(o.data[i]) {
		i++
	}
	if i == open {
		return []byte(" ")
	}
	return o.data[open:i]
}

// reindex replaces the object's bytes by data, an edit of them.
func (o *jsonObject) reindex(data []byte) error {
	n, err := parseJSONObject(data)
	if err != nil {
		return fmt.Errorf("edit of a JSON object: %w", err)
	}
	*o = *n
	return nil
}

// Bytes returns the document.
func (o *jsonObject) Bytes() []byte { return o.data }
