package datasets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
)

// MaxParquetRows bounds the rows of a Parquet data file: the file's own
// row count is input, and a task of more items is not an evaluation set.
const MaxParquetRows = 10_000_000

// readParquet reads the rows of a Parquet file (the files Hugging Face
// datasets ship) as records with JSON-like values: strings, float64 for
// every number, bool, []any for lists, map[string]any for structs and
// maps, nil for nulls. Byte arrays must be UTF-8 text.
func readParquet(path string, b []byte) (rows []row, err error) {
	defer func() {
		// A corrupt file can make the decoder panic; it is input, so
		// the panic becomes an error naming the file.
		if r := recover(); r != nil {
			rows, err = nil, fmt.Errorf("%s: not a readable Parquet file: %v", path, r)
		}
	}()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: not a Parquet file: %w", path, err)
	}
	if n := f.NumRows(); n < 0 || n > MaxParquetRows {
		return nil, fmt.Errorf("%s: %d rows, at most %d", path, n, MaxParquetRows)
	}
	rd := parquet.NewReader(f, f.Schema())
	defer rd.Close()
	base := dataBase(path)
	for i := 0; ; i++ {
		m := map[string]any{}
		if err := rd.Read(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%s: row %d: %w", path, i, err)
		}
		rec := make(Record, len(m))
		for k, v := range m {
			nv, err := plainValue(v)
			if err != nil {
				return nil, fmt.Errorf("%s: row %d: field %q: %w", path, i, k, err)
			}
			rec[k] = nv
		}
		rows = append(rows, row{rec: rec, id: fmt.Sprintf("%s[%d]", base, i)})
	}
	return rows, nil
}

// plainValue converts a decoded Parquet value to the JSON-like values
// records hold.
func plainValue(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return nil, errors.New("invalid UTF-8")
		}
		return x, nil
	case []byte:
		if !utf8.Valid(x) {
			return nil, errors.New("binary data, not UTF-8 text")
		}
		return string(x), nil
	case bool, float64:
		return x, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		return plainValue(rv.Elem().Interface())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.String:
		return plainValue(rv.String())
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			e, err := plainValue(rv.Index(i).Interface())
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = e
		}
		return out, nil
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			k, err := plainValue(it.Key().Interface())
			if err != nil {
				return nil, fmt.Errorf("key: %w", err)
			}
			ks, ok := k.(string)
			if !ok {
				ks = scalarText(k)
			}
			e, err := plainValue(it.Value().Interface())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ks, err)
			}
			out[ks] = e
		}
		return out, nil
	}
	return fmt.Sprint(v), nil
}
