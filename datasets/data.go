package datasets

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Record is one row of a data file: field name → value as decoded (JSON:
// string, float64, bool, []any, map[string]any or nil; CSV/TSV: string).
type Record map[string]any

// row is a record with its position in the data file.
type row struct {
	rec  Record
	line int // 1-based line where the record starts
	id   string
	// holdout: the record falls in the holdout part of a split task.
	holdout bool
}

// Formats lists the data file formats Load reads.
func Formats() []string { return []string{"jsonl", "json", "csv", "tsv", "parquet"} }

// formatOf infers a data format from a file name's extension.
func formatOf(path string) (string, bool) {
	if strings.HasPrefix(path, HFPrefix) {
		return "parquet", true
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".ndjson":
		return "jsonl", true
	case ".json":
		return "json", true
	case ".csv":
		return "csv", true
	case ".tsv":
		return "tsv", true
	case ".parquet":
		return "parquet", true
	}
	return "", false
}

// readDataFile reads a data file from disk or, for a path that starts
// with BuiltinDataPrefix, from the embedded copies of the public files.
func readDataFile(path string) ([]byte, error) {
	if name, ok := strings.CutPrefix(path, BuiltinDataPrefix); ok {
		b, err := readBuiltin(name)
		if err != nil {
			return nil, fmt.Errorf("data file %s: %w", path, err)
		}
		return b, nil
	}
	b, err := readRegular(path)
	if err != nil {
		return nil, fmt.Errorf("data file: %w", err)
	}
	return b, nil
}

// readRegular reads a regular file; anything else (a FIFO that would block
// for ever, a device that never ends) is an error naming it.
func readRegular(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, fi.Mode().Type())
	}
	return os.ReadFile(path)
}

// readOptions are the task fields that shape how a data file is read.
type readOptions struct {
	// records is the key path ("examples", "data.rows") of the list of
	// records in a JSON file whose top level is an object.
	records string
	// noHeader: the first row of a CSV/TSV file is a record, not the
	// field names.
	noHeader bool
	// columns names the fields of a CSV/TSV file's columns (replacing
	// the header row's names when there is one).
	columns []string
}

// readRecords reads every record of a data file in the given format.
// Errors name the file and the line.
func readRecords(path, format string, o readOptions) ([]row, error) {
	if ref, ok := strings.CutPrefix(path, HFPrefix); ok {
		if format != "parquet" {
			return nil, fmt.Errorf("%s: format %s: a dataset in the Hugging Face cache is read from its Parquet files (format parquet)", path, format)
		}
		return readHF(ref)
	}
	b, err := readDataFile(path)
	if err != nil {
		return nil, err
	}
	return parseRecords(path, format, b, o)
}

// parseRecords decodes the records of the data file path, whose bytes are
// b.
func parseRecords(path, format string, b []byte, o readOptions) ([]row, error) {
	if format == "parquet" {
		rows, err := readParquet(path, b)
		if err == nil && len(rows) == 0 {
			err = fmt.Errorf("%s: no records", path)
		}
		return rows, err
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(b) {
		line := 1 + bytes.Count(b[:firstInvalid(b)], []byte("\n"))
		return nil, fmt.Errorf("%s:%d: invalid UTF-8", path, line)
	}
	var (
		rows []row
		err  error
	)
	switch format {
	case "jsonl":
		rows, err = readJSONL(path, b)
	case "json":
		rows, err = readJSON(path, b, o.records)
	case "csv":
		rows, err = readCSV(path, b, ',', o)
	case "tsv":
		rows, err = readCSV(path, b, '\t', o)
	default:
		return nil, fmt.Errorf("%s: unknown format %q (want %s)", path, format, strings.Join(Formats(), ", "))
	}
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no records", path)
	}
	return rows, nil
}

// dataBase returns the file name that item IDs start with: the base name
// of path, without BuiltinDataPrefix.
func dataBase(path string) string {
	return filepath.Base(strings.TrimPrefix(path, BuiltinDataPrefix))
}

// firstInvalid returns the offset of the first byte of b that is not part
// of valid UTF-8.
func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

func readJSONL(path string, b []byte) ([]row, error) {
	var rows []row
	base := dataBase(path)
	for i, ln := range bytes.Split(b, []byte("\n")) {
		ln = bytes.TrimSpace(ln)
		if len(ln) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(ln, &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: not a JSON object: %w", path, i+1, err)
		}
		if rec == nil {
			return nil, fmt.Errorf("%s:%d: not a JSON object: null", path, i+1)
		}
		rows = append(rows, row{rec: rec, line: i + 1, id: fmt.Sprintf("%s:%d", base, i+1)})
	}
	return rows, nil
}

func readJSON(path string, b []byte, records string) ([]row, error) {
	var top any
	if err := json.Unmarshal(b, &top); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
			return nil, fmt.Errorf("%s:%d: not valid JSON: %w", path, line, err)
		}
		return nil, fmt.Errorf("%s: not valid JSON: %w", path, err)
	}
	list, err := jsonList(path, top, records)
	if err != nil {
		return nil, err
	}
	base := dataBase(path)
	rows := make([]row, 0, len(list))
	for i, v := range list {
		rec, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: record %d: want a JSON object, got %s", path, i, jsonKind(v))
		}
		rows = append(rows, row{rec: rec, id: fmt.Sprintf("%s[%d]", base, i)})
	}
	return rows, nil
}

// jsonList finds the list of records in a decoded JSON document: the
// document itself, or the value at the key path records (keys separated
// by dots) of an object.
func jsonList(path string, top any, records string) ([]any, error) {
	v := top
	walked := ""
	if records != "" {
		for _, k := range strings.Split(records, ".") {
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: records %q: %s is %s, not an object with key %q", path, records, cmp.Or(walked, "the document"), jsonKind(v), k)
			}
			next, ok := obj[k]
			if !ok {
				return nil, fmt.Errorf("%s: records %q: %s has no key %q (its keys: %s)", path, records, cmp.Or(walked, "the document"), k, strings.Join(sortedKeys(obj), ", "))
			}
			v = next
			walked = join(walked, k)
		}
	}
	list, ok := v.([]any)
	if ok {
		return list, nil
	}
	if obj, isObj := v.(map[string]any); isObj && records == "" {
		var lists []string
		for _, k := range sortedKeys(obj) {
			if _, l := obj[k].([]any); l {
				lists = append(lists, k)
			}
		}
		hint := ""
		if len(lists) > 0 {
			hint = fmt.Sprintf("; set the task field records to the key of the list (%s)", strings.Join(lists, ", "))
		}
		return nil, fmt.Errorf("%s: not a JSON list of objects but an object with keys %s%s", path, strings.Join(sortedKeys(obj), ", "), hint)
	}
	if records != "" {
		return nil, fmt.Errorf("%s: records %q: %s, want a list of objects", path, records, jsonKind(v))
	}
	return nil, fmt.Errorf("%s: not a JSON list of objects: %s", path, jsonKind(v))
}

// jsonKind names the JSON type of a decoded value, for messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// readCSV reads a delimited file: the first row names the fields, unless
// o.noHeader; o.columns, when given, names them instead.
func readCSV(path string, b []byte, comma rune, o readOptions) ([]row, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.Comma = comma
	if comma == '\t' {
		r.LazyQuotes = true
	}
	names := o.columns
	if !o.noHeader {
		header, err := r.Read()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: header: %w", path, err)
		}
		if names == nil {
			names = header
		} else if len(header) != len(names) {
			return nil, fmt.Errorf("%s:1: header has %d columns (%s), but columns names %d", path, len(header), strings.Join(header, ", "), len(names))
		}
	}
	seen := map[string]bool{}
	for _, h := range names {
		if h == "" || seen[h] {
			if o.columns != nil {
				return nil, fmt.Errorf("%s: columns: empty or duplicate column name %q", path, h)
			}
			return nil, fmt.Errorf("%s:1: header: empty or duplicate column name %q", path, h)
		}
		seen[h] = true
	}
	if len(names) > 0 {
		r.FieldsPerRecord = len(names)
	}
	base := dataBase(path)
	var rows []row
	for {
		fields, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// csv.ParseError carries the line.
			if errors.Is(err, csv.ErrFieldCount) && o.columns != nil {
				return nil, fmt.Errorf("%s: %w (columns names %d: %s)", path, err, len(names), strings.Join(names, ", "))
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		rec := make(Record, len(names))
		for i, h := range names {
			rec[h] = fields[i]
		}
		rows = append(rows, row{rec: rec, line: line, id: fmt.Sprintf("%s:%d", base, line)})
	}
	return rows, nil
}
