package datasets

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
}

// Formats lists the data file formats Load reads.
func Formats() []string { return []string{"jsonl", "json", "csv", "tsv"} }

// formatOf infers a data format from a file name's extension.
func formatOf(path string) (string, bool) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".ndjson":
		return "jsonl", true
	case ".json":
		return "json", true
	case ".csv":
		return "csv", true
	case ".tsv":
		return "tsv", true
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

// readRecords reads every record of a data file in the given format.
// Errors name the file and the line.
func readRecords(path, format string) ([]row, error) {
	b, err := readDataFile(path)
	if err != nil {
		return nil, err
	}
	return parseRecords(path, format, b)
}

// parseRecords decodes the records of the data file path, whose bytes are
// b.
func parseRecords(path, format string, b []byte) ([]row, error) {
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
		rows, err = readJSON(path, b)
	case "csv":
		rows, err = readCSV(path, b, ',')
	case "tsv":
		rows, err = readCSV(path, b, '\t')
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

func readJSON(path string, b []byte) ([]row, error) {
	var recs []Record
	if err := json.Unmarshal(b, &recs); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
			return nil, fmt.Errorf("%s:%d: not a JSON list of objects: %w", path, line, err)
		}
		return nil, fmt.Errorf("%s: not a JSON list of objects: %w", path, err)
	}
	base := dataBase(path)
	rows := make([]row, 0, len(recs))
	for i, rec := range recs {
		if rec == nil {
			return nil, fmt.Errorf("%s: record %d: null", path, i)
		}
		rows = append(rows, row{rec: rec, id: fmt.Sprintf("%s[%d]", base, i)})
	}
	return rows, nil
}

// readCSV reads a delimited file whose first row names the fields.
func readCSV(path string, b []byte, comma rune) ([]row, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.Comma = comma
	if comma == '\t' {
		r.LazyQuotes = true
	}
	header, err := r.Read()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	seen := map[string]bool{}
	for _, h := range header {
		if h == "" || seen[h] {
			return nil, fmt.Errorf("%s:1: header: empty or duplicate column name %q", path, h)
		}
		seen[h] = true
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
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		rec := make(Record, len(header))
		for i, h := range header {
			rec[h] = fields[i]
		}
		rows = append(rows, row{rec: rec, line: line, id: fmt.Sprintf("%s:%d", base, line)})
	}
	return rows, nil
}
