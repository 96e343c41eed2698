package datasets

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

var updateParquet = flag.Bool("update-parquet", false, "rewrite testdata/hf_arc.parquet")

// hfARCRow has the schema of Hugging Face's allenai/ai2_arc Parquet files:
// strings, and a struct of two string lists (three-level LIST, as pyarrow
// writes them).
type hfARCRow struct {
	ID       string `parquet:"id"`
	Question string `parquet:"question"`
	Choices  struct {
		Text  []string `parquet:"text,list"`
		Label []string `parquet:"label,list"`
	} `parquet:"choices"`
	AnswerKey string  `parquet:"answerKey"`
	Grade     int64   `parquet:"grade"`
	Note      *string `parquet:"note,optional"`
}

func hfARCRows() []hfARCRow {
	mk := func(id, q string, text, label []string, key string, grade int64) hfARCRow {
		r := hfARCRow{ID: id, Question: q, AnswerKey: key, Grade: grade}
		r.Choices.Text, r.Choices.Label = text, label
		return r
	}
	note := "three choices"
	rows := []hfARCRow{
		mk("Mercury_1", "Which is a source of light?", []string{"the Sun", "the Moon", "a rock", "a tree"}, []string{"A", "B", "C", "D"}, "A", 4),
		mk("Mercury_2", "What do plants need to make food?", []string{"sand", "sunlight", "metal"}, []string{"A", "B", "C"}, "B", 5),
		mk("Mercury_3", "Which state of matter has a fixed shape?", []string{"gas", "liquid", "solid", "plasma"}, []string{"1", "2", "3", "4"}, "3", 3),
	}
	rows[1].Note = &note
	return rows
}

// TestParquetFixture keeps testdata/hf_arc.parquet what hfARCRows writes
// (go test -run TestParquetFixture -update-parquet rewrites it).
func TestParquetFixture(t *testing.T) {
	var buf bytes.Buffer
	if err := parquet.Write(&buf, hfARCRows()); err != nil {
		t.Fatal(err)
	}
	path := td("hf_arc.parquet")
	if *updateParquet {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := readRecords(path, "parquet", readOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].id != "hf_arc.parquet[0]" {
		t.Fatalf("rows %+v", rows)
	}
	r := rows[1].rec
	ch, ok := r["choices"].(map[string]any)
	if !ok || !slices.Equal(ch["text"].([]any), []any{"sand", "sunlight", "metal"}) || r["grade"] != 5.0 || r["note"] != "three choices" || rows[0].rec["note"] != nil {
		t.Errorf("record %#v", r)
	}
}

// TestParquetTask evaluates a task over a Hugging Face-shaped Parquet file:
// nested struct and list fields reach the templates, numbers are float64
// as in JSON.
func TestParquetTask(t *testing.T) {
	task, err := Load(td("hf_arc.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(task.Items) != 3 {
		t.Fatalf("%d items", len(task.Items))
	}
	it := task.Items[1]
	want := "Question: What do plants need to make food?\nA. sand\nB. sunlight\nC. metal\nAnswer:"
	if it.Prompt != want || it.Target != "sunlight" || it.ID != "hf_arc.parquet[1]" {
		t.Errorf("item %+v\nprompt %q", it, it.Prompt)
	}
	if task.Items[2].Target != "solid" {
		t.Errorf("third target %q", task.Items[2].Target)
	}
}

// TestParquetCorrupt: a file that is not Parquet, or a truncated one, is
// an error naming the file, never a panic.
func TestParquetCorrupt(t *testing.T) {
	good, err := os.ReadFile(td("hf_arc.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"text":      []byte("question,answer\n"),
		"truncated": good[:len(good)/2],
		"empty":     nil,
		"magic":     append(append([]byte("PAR1"), bytes.Repeat([]byte{0xff}, 64)...), []byte("PAR1")...),
	} {
		p := filepath.Join(t.TempDir(), "x.parquet")
		os.WriteFile(p, b, 0o644)
		_, err := readRecords(p, "parquet", readOptions{})
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzParquet reads arbitrary bytes as a Parquet data file: an error or
// records, never a panic.
func FuzzParquet(f *testing.F) {
	good, err := os.ReadFile(td("hf_arc.parquet"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-9])
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := parseRecords("x.parquet", "parquet", b, readOptions{})
		if err == nil && len(rows) == 0 {
			t.Fatal("no error and no records")
		}
	})
}
