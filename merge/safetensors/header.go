package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
)

// header is a parsed and validated safetensors header.
type header struct {
	metadata map[string]string
	entries  []headerTensor // in data-offset order
}

// headerTensor is one validated tensor entry of a header; begin and end
// are offsets in the data section.
type headerTensor struct {
	name       string
	dtype      DType
	shape      []int
	begin, end int64
}

// jsonSpace is the white space JSON allows around values; the safetensors
// format pads a header with spaces.
const jsonSpace = " \t\r\n"

// parseHeader parses the JSON header h of the file at path, whose data
// section is dataSize bytes, and validates it as the safetensors format
// requires: a JSON object whose keys (tensor names, and __metadata__)
// appear once, each tensor's data_offsets within the data section and
// matching its shape and dtype, and the tensors' data contiguous, without
// overlaps or gaps, covering the whole data section.
func parseHeader(path string, h []byte, dataSize int64) (*header, error) {
	dec := json.NewDecoder(bytes.NewReader(h))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("read %s: header is not valid JSON: %w", path, jsonErr(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("read %s: header is not a JSON object but %s", path, describeToken(tok))
	}
	out := &header{metadata: map[string]string{}}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("read %s: header is not valid JSON: %w", path, jsonErr(err))
		}
		name, _ := tok.(string) // object keys are strings
		var msg json.RawMessage
		if err := dec.Decode(&msg); err != nil {
			return nil, fmt.Errorf("read %s: header is not valid JSON: %w", path, jsonErr(err))
		}
		if seen[name] {
			if name == "__metadata__" {
				return nil, fmt.Errorf("read %s: __metadata__ appears twice in the header", path)
			}
			return nil, fmt.Errorf("read %s: tensor %q appears twice in the header", path, name)
		}
		seen[name] = true
		if name == "__metadata__" {
			if bytes.Equal(bytes.TrimSpace(msg), []byte("null")) {
				continue
			}
			if err := json.Unmarshal(msg, &out.metadata); err != nil {
				return nil, fmt.Errorf("read %s: __metadata__ is not a map of strings: %w", path, err)
			}
			continue
		}
		e, err := parseEntry(path, name, msg, dataSize)
		if err != nil {
			return nil, err
		}
		out.entries = append(out.entries, e)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("read %s: header is not valid JSON: %w", path, jsonErr(err))
	}
	if rest := bytes.Trim(h[dec.InputOffset():], jsonSpace); len(rest) > 0 {
		return nil, fmt.Errorf("read %s: header has %d bytes of data after its JSON object", path, len(rest))
	}
	if err := checkLayout(path, out.entries, dataSize); err != nil {
		return nil, err
	}
	return out, nil
}

// jsonErr turns the decoder's io.ErrUnexpectedEOF into a readable error.
func jsonErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("unexpected end of the header")
	}
	return err
}

// describeToken names the kind of a JSON value from its first token.
func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case json.Number, float64:
		return fmt.Sprintf("the number %v", v)
	case string:
		return "a string"
	case json.Delim:
		if v == '[' {
			return "an array"
		}
	}
	return fmt.Sprintf("%v", tok)
}

// parseEntry parses and checks one tensor entry.
func parseEntry(path, name string, msg json.RawMessage, dataSize int64) (headerTensor, error) {
	var e headerEntry
	if err := json.Unmarshal(msg, &e); err != nil {
		return headerTensor{}, fmt.Errorf("read %s: tensor %s: invalid header entry: %w", path, name, err)
	}
	dt := DType(e.DType)
	if e.DType == "" {
		return headerTensor{}, fmt.Errorf("read %s: tensor %s: header entry has no dtype", path, name)
	}
	if !dt.Valid() {
		return headerTensor{}, fmt.Errorf("unsupported dtype %s for tensor %s in %s", e.DType, name, path)
	}
	if len(e.DataOffsets) != 2 {
		return headerTensor{}, fmt.Errorf("read %s: tensor %s: data_offsets %v must have 2 entries", path, name, e.DataOffsets)
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	switch {
	case begin < 0:
		return headerTensor{}, fmt.Errorf("read %s: tensor %s: invalid data_offsets [%d, %d]: the begin offset %d is negative", path, name, begin, end, begin)
	case begin > end:
		return headerTensor{}, fmt.Errorf("read %s: tensor %s: invalid data_offsets [%d, %d]: the begin offset %d is after the end offset %d", path, name, begin, end, begin, end)
	case end > dataSize:
		return headerTensor{}, fmt.Errorf("read %s: tensor %s: data_offsets [%d, %d] out of range of the %d-byte data section", path, name, begin, end, dataSize)
	}
	n := int64(1)
	for _, d := range e.Shape {
		if d < 0 {
			return headerTensor{}, fmt.Errorf("read %s: tensor %s: negative dimension in shape %v", path, name, e.Shape)
		}
		if d != 0 && n > dataSize/int64(d) {
			// Larger than the data section: certainly a size mismatch.
			n = -1
			break
		}
		n *= int64(d)
	}
	if n < 0 || n*int64(dt.Size()) != end-begin {
		return headerTensor{}, fmt.Errorf("read %s: tensor %s: data_offsets [%d, %d] span %d bytes, but shape %v of %s needs %s bytes",
			path, name, begin, end, end-begin, e.Shape, dt, sizeString(n, dt))
	}
	shape := e.Shape
	if shape == nil {
		shape = []int{}
	}
	return headerTensor{name: name, dtype: dt, shape: shape, begin: begin, end: end}, nil
}

// checkLayout sorts entries by data offset and checks that they tile the
// data section: each tensor starts where the previous one ends, the first
// at 0, and the last ends at dataSize, as the safetensors format requires.
func checkLayout(path string, entries []headerTensor, dataSize int64) error {
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if a.begin != b.begin {
			return a.begin < b.begin
		}
		if a.end != b.end {
			return a.end < b.end
		}
		return a.name < b.name
	})
	var pos int64
	var prev *headerTensor
	for i := range entries {
		t := &entries[i]
		switch {
		case t.begin < pos:
			return fmt.Errorf("read %s: tensors %s and %s overlap: data_offsets [%d, %d] and [%d, %d]",
				path, prev.name, t.name, prev.begin, prev.end, t.begin, t.end)
		case t.begin > pos:
			return fmt.Errorf("read %s: bytes [%d, %d) of the data section belong to no tensor (a gap before tensor %s at data_offsets [%d, %d]); safetensors data must be contiguous",
				path, pos, t.begin, t.name, t.begin, t.end)
		}
		pos = t.end
		prev = t
	}
	if pos != dataSize {
		return fmt.Errorf("read %s: the tensors cover %d bytes of the %d-byte data section: bytes [%d, %d) belong to no tensor",
			path, pos, dataSize, pos, dataSize)
	}
	return nil
}
