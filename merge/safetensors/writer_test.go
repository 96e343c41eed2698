package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// testValues returns n values exact in every supported dtype.
func testValues(seed, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((i*7+seed*13)%97-48) / 4
	}
	return v
}

// writeModel writes specs with testValues and returns the values by name.
func writeModel(t *testing.T, dir string, specs []Spec, maxShard int64) (map[string][]float32, []string) {
	t.Helper()
	w, err := Create(dir, specs, maxShard)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string][]float32{}
	// Write in reverse order to show order does not matter.
	for i := len(specs) - 1; i >= 0; i-- {
		s := specs[i]
		v := testValues(i, numel(s.Shape))
		vals[s.Name] = v
		if err := w.WriteFloat32(s.Name, 0, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return vals, w.Files()
}

func checkModel(t *testing.T, m *Model, specs []Spec, vals map[string][]float32) {
	t.Helper()
	if len(m.Names()) != len(specs) {
		t.Fatalf("model has %d tensors; want %d", len(m.Names()), len(specs))
	}
	for _, s := range specs {
		tn, ok := m.Tensor(s.Name)
		if !ok {
			t.Fatalf("tensor %s missing", s.Name)
		}
		if tn.DType != s.DType || !slices.Equal(tn.Shape, s.Shape) {
			t.Errorf("%s: %s %v; want %s %v", s.Name, tn.DType, tn.Shape, s.DType, s.Shape)
		}
		if got := tn.Float32s(); !slices.Equal(got, vals[s.Name]) {
			t.Errorf("%s: values differ", s.Name)
		}
	}
}

func TestRoundTripSingle(t *testing.T) {
	for _, d := range []DType{F32, F16, BF16} {
		t.Run(string(d), func(t *testing.T) {
			dir := t.TempDir()
			specs := []Spec{
				{Name: "model.embed.weight", DType: d, Shape: []int{5, 3}},
				{Name: "model.norm.weight", DType: d, Shape: []int{3}},
				{Name: "scalar", DType: d, Shape: []int{}},
				{Name: "empty", DType: d, Shape: []int{0, 4}},
				{Name: "odd", DType: d, Shape: []int{7}},
			}
			vals, files := writeModel(t, dir, specs, 0)
			if want := []string{filepath.Join(dir, "model.safetensors")}; !slices.Equal(files, want) {
				t.Errorf("Files = %v; want %v", files, want)
			}
			if _, err := os.Stat(filepath.Join(dir, IndexFile)); !os.IsNotExist(err) {
				t.Errorf("index written for a single shard: %v", err)
			}
			raw, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			if n := binary.LittleEndian.Uint64(raw); (8+n)%8 != 0 {
				t.Errorf("data section starts at %d, not a multiple of 8", 8+n)
			}
			m, err := OpenModel(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			checkModel(t, m, specs, vals)
			f := m.Files()[0]
			if f.Metadata()["format"] != "pt" {
				t.Errorf("metadata = %v", f.Metadata())
			}
			// Layout order equals spec order.
			want := []string{"model.embed.weight", "model.norm.weight", "scalar", "empty", "odd"}
			if got := m.Names(); !slices.Equal(got, want) {
				t.Errorf("Names = %v; want %v", got, want)
			}
		})
	}
}

func TestRoundTripSharded(t *testing.T) {
	dir := t.TempDir()
	// Sizes in bytes: 40, 40, 24, 60, 8 with maxShard 80 ->
	// shard 1: a,b (80); shard 2: c (24; c+d=84 > 80); shard 3: d,e (68).
	specs := []Spec{
		{Name: "a", DType: F32, Shape: []int{10}},
		{Name: "b", DType: BF16, Shape: []int{4, 5}},
		{Name: "c", DType: F16, Shape: []int{12}},
		{Name: "d", DType: F32, Shape: []int{3, 5}},
		{Name: "e", DType: BF16, Shape: []int{4}},
	}
	vals, files := writeModel(t, dir, specs, 80)
	wantFiles := []string{
		filepath.Join(dir, "model-00001-of-00003.safetensors"),
		filepath.Join(dir, "model-00002-of-00003.safetensors"),
		filepath.Join(dir, "model-00003-of-00003.safetensors"),
		filepath.Join(dir, IndexFile),
	}
	if !slices.Equal(files, wantFiles) {
		t.Fatalf("Files = %v; want %v", files, wantFiles)
	}
	raw, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	if idx.Metadata["total_size"] != 40+40+24+60+8 {
		t.Errorf("total_size = %d; want 172", idx.Metadata["total_size"])
	}
	wantMap := map[string]string{
		"a": "model-00001-of-00003.safetensors", "b": "model-00001-of-00003.safetensors",
		"c": "model-00002-of-00003.safetensors",
		"d": "model-00003-of-00003.safetensors", "e": "model-00003-of-00003.safetensors",
	}
	if fmt.Sprint(idx.WeightMap) != fmt.Sprint(wantMap) {
		t.Errorf("weight_map = %v; want %v", idx.WeightMap, wantMap)
	}
	if !strings.Contains(string(raw), "\n  \"weight_map\": {\n    \"a\": ") {
		t.Errorf("index not indented with sorted keys:\n%s", raw)
	}
	m, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	checkModel(t, m, specs, vals)
	// The Python safetensors reader requires contiguous data: offsets start
	// at 0, each tensor begins where the previous ends, and the last one
	// ends at the end of the file.
	for _, f := range m.Files() {
		st, err := os.Stat(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		ts := f.Tensors()
		dataStart := ts[0].begin
		if dataStart%8 != 0 {
			t.Errorf("%s: data starts at %d", f.Path, dataStart)
		}
		end := dataStart
		for _, tn := range ts {
			if tn.begin != end {
				t.Errorf("%s: tensor %s begins at %d; want %d", f.Path, tn.Name, tn.begin, end)
			}
			end = tn.begin + len(tn.Bytes())
		}
		if int64(end) != st.Size() {
			t.Errorf("%s: data ends at %d; file is %d bytes", f.Path, end, st.Size())
		}
	}
	if got := m.Names(); !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("Names = %v", got)
	}
	if len(m.Files()) != 3 {
		t.Errorf("opened %d files; want 3", len(m.Files()))
	}
}

func TestShardingRules(t *testing.T) {
	tests := []struct {
		name     string
		sizes    []int // F32 elements
		maxShard int64
		want     []int // shard index of each tensor
	}{
		{"no limit", []int{10, 10, 10}, 0, []int{0, 0, 0}},
		{"negative limit", []int{10, 10}, -1, []int{0, 0}},
		{"exact fit", []int{5, 5, 5}, 40, []int{0, 0, 1}},
		{"oversized tensor alone", []int{100, 1, 100}, 40, []int{0, 1, 2}},
		{"oversized first", []int{100, 1, 1}, 40, []int{0, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var specs []Spec
			for i, n := range tc.sizes {
				specs = append(specs, Spec{Name: fmt.Sprint("t", i), DType: F32, Shape: []int{n}})
			}
			w, err := Create(t.TempDir(), specs, tc.maxShard)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			for i, e := range w.entries {
				if e.shard != tc.want[i] {
					t.Errorf("tensor %d in shard %d; want %d", i, e.shard, tc.want[i])
				}
			}
		})
	}
}

func TestConcurrentChunkedWrite(t *testing.T) {
	for _, d := range []DType{F32, F16, BF16} {
		t.Run(string(d), func(t *testing.T) {
			dir := t.TempDir()
			specs := []Spec{
				{Name: "x", DType: d, Shape: []int{300, 1001}},
				{Name: "y", DType: d, Shape: []int{70001}},
			}
			w, err := Create(dir, specs, 0)
			if err != nil {
				t.Fatal(err)
			}
			vals := map[string][]float32{}
			var wg sync.WaitGroup
			errs := make(chan error, 1000)
			for si, s := range specs {
				v := testValues(si, numel(s.Shape))
				vals[s.Name] = v
				const chunk = 4099 // not a multiple of the conversion chunk
				for off := 0; off < len(v); off += chunk {
					end := min(off+chunk, len(v))
					wg.Go(func() {
						if err := w.WriteFloat32(s.Name, off, v[off:end]); err != nil {
							errs <- err
						}
					})
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			m, err := OpenModel(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			checkModel(t, m, specs, vals)
		})
	}
}

func TestWriteRaw(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, []Spec{{Name: "x", DType: BF16, Shape: []int{4}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 8)
	FromFloat32(BF16, []float32{1, 2, 3, 4}, raw)
	if err := w.WriteRaw("x", 4, raw[4:]); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRaw("x", 0, raw[:4]); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRaw("x", 6, raw[:4]); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("out-of-range WriteRaw error = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(filepath.Join(dir, SingleFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !slices.Equal(f.Tensors()[0].Bytes(), raw) {
		t.Errorf("bytes = %v; want %v", f.Tensors()[0].Bytes(), raw)
	}
}

func TestWriterErrors(t *testing.T) {
	specs := []Spec{
		{Name: "done", DType: F32, Shape: []int{2}},
		{Name: "partial", DType: F16, Shape: []int{4}},
		{Name: "never", DType: BF16, Shape: []int{3}},
	}
	t.Run("incomplete", func(t *testing.T) {
		w, err := Create(t.TempDir(), specs, 0)
		if err != nil {
			t.Fatal(err)
		}
		_ = w.WriteFloat32("done", 0, []float32{1, 2})
		_ = w.WriteFloat32("partial", 1, []float32{1, 2})
		err = w.Close()
		if err == nil || !strings.Contains(err.Error(), "tensor partial incomplete: 4 of 8 bytes written") {
			t.Fatalf("Close error = %v", err)
		}
	})
	t.Run("unwritten", func(t *testing.T) {
		w, err := Create(t.TempDir(), specs, 0)
		if err != nil {
			t.Fatal(err)
		}
		_ = w.WriteFloat32("done", 0, []float32{1, 2})
		_ = w.WriteFloat32("partial", 0, []float32{1, 2, 3, 4})
		err = w.Close()
		if err == nil || !strings.Contains(err.Error(), "tensor never incomplete: 0 of 6 bytes") {
			t.Fatalf("Close error = %v", err)
		}
	})
	t.Run("write errors", func(t *testing.T) {
		w, err := Create(t.TempDir(), specs, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort()
		if err := w.WriteFloat32("nope", 0, []float32{1}); err == nil || !strings.Contains(err.Error(), "nope") {
			t.Errorf("unknown tensor error = %v", err)
		}
		if err := w.WriteFloat32("done", 1, []float32{1, 2}); err == nil || !strings.Contains(err.Error(), "elements [1, 3) out of range of 2") {
			t.Errorf("range error = %v", err)
		}
		if err := w.WriteFloat32("done", -1, []float32{1}); err == nil {
			t.Error("negative offset accepted")
		}
	})
	t.Run("create errors", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "missing")
		cases := []struct {
			dir   string
			specs []Spec
			want  string
		}{
			{missing, specs, missing},
			{t.TempDir(), []Spec{{Name: "a", DType: F32}, {Name: "a", DType: F32}}, "duplicate tensor a"},
			{t.TempDir(), []Spec{{Name: "a", DType: "I8"}}, "unsupported dtype I8 for tensor a"},
			{t.TempDir(), []Spec{{Name: "", DType: F32}}, "empty name"},
			{t.TempDir(), []Spec{{Name: "a", DType: F32, Shape: []int{-1}}}, "negative dimension"},
		}
		for _, c := range cases {
			w, err := Create(c.dir, c.specs, 0)
			if err == nil {
				w.Abort()
				t.Errorf("Create(%v) succeeded", c.specs)
			} else if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Create error %q does not contain %q", err, c.want)
			}
		}
	})
	t.Run("closed", func(t *testing.T) {
		w, err := Create(t.TempDir(), []Spec{{Name: "a", DType: F32, Shape: []int{1}}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		_ = w.WriteFloat32("a", 0, []float32{1})
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFloat32("a", 0, []float32{1}); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("write after close error = %v", err)
		}
	})
}

func TestModelOpenErrors(t *testing.T) {
	tensorFile := func(t *testing.T, path string, names ...string) {
		t.Helper()
		var h strings.Builder
		h.WriteString("{")
		for i, n := range names {
			if i > 0 {
				h.WriteString(",")
			}
			fmt.Fprintf(&h, `%q:{"dtype":"F32","shape":[1],"data_offsets":[%d,%d]}`, n, 4*i, 4*i+4)
		}
		h.WriteString("}")
		writeRaw(t, path, h.String(), make([]byte, 4*len(names)))
	}
	index := func(t *testing.T, dir string, wm map[string]string) string {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": wm})
		p := filepath.Join(dir, IndexFile)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) []string // returns wanted substrings
	}{
		{"missing dir", func(t *testing.T, dir string) []string {
			return []string{"model directory " + filepath.Join(dir, "gone") + " does not exist"}
		}},
		{"no safetensors", func(t *testing.T, dir string) []string {
			_ = os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o644)
			return []string{"model directory " + dir + " holds no safetensors files"}
		}},
		{"absolute shard", func(t *testing.T, dir string) []string {
			p := index(t, dir, map[string]string{"a": "/etc/passwd"})
			return []string{p, `"/etc/passwd"`, "escapes the model directory"}
		}},
		{"dotdot shard", func(t *testing.T, dir string) []string {
			p := index(t, dir, map[string]string{"a": "x/../../w.safetensors"})
			return []string{p, `"x/../../w.safetensors"`, "escapes the model directory"}
		}},
		{"missing shard", func(t *testing.T, dir string) []string {
			tensorFile(t, filepath.Join(dir, "s1.safetensors"), "a")
			p := index(t, dir, map[string]string{"a": "s1.safetensors", "b": "s2.safetensors"})
			return []string{p, filepath.Join(dir, "s2.safetensors") + " does not exist"}
		}},
		{"tensor not in shard", func(t *testing.T, dir string) []string {
			tensorFile(t, filepath.Join(dir, "s1.safetensors"), "a")
			tensorFile(t, filepath.Join(dir, "s2.safetensors"), "b")
			p := index(t, dir, map[string]string{"a": "s1.safetensors", "b": "s1.safetensors"})
			return []string{p, "tensor b is not in its shard " + filepath.Join(dir, "s1.safetensors")}
		}},
		{"bad index JSON", func(t *testing.T, dir string) []string {
			p := filepath.Join(dir, IndexFile)
			_ = os.WriteFile(p, []byte("{"), 0o644)
			return []string{p, "invalid JSON"}
		}},
		{"corrupt shard", func(t *testing.T, dir string) []string {
			writeRaw(t, filepath.Join(dir, "s1.safetensors"), `{"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}`, []byte{0})
			p := index(t, dir, map[string]string{"a": "s1.safetensors"})
			return []string{p, "unsupported dtype I8 for tensor a in " + filepath.Join(dir, "s1.safetensors")}
		}},
		{"duplicate across files", func(t *testing.T, dir string) []string {
			tensorFile(t, filepath.Join(dir, "p1.safetensors"), "a", "b")
			tensorFile(t, filepath.Join(dir, "p2.safetensors"), "c", "a")
			return []string{"tensor a is in both " + filepath.Join(dir, "p1.safetensors") + " and " + filepath.Join(dir, "p2.safetensors")}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			want := tc.setup(t, dir)
			target := dir
			if tc.name == "missing dir" {
				target = filepath.Join(dir, "gone")
			}
			m, err := OpenModel(target)
			if err == nil {
				m.Close()
				t.Fatal("no error")
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestModelLayouts(t *testing.T) {
	writeF := func(t *testing.T, path string, names ...string) {
		t.Helper()
		var specs []Spec
		for _, n := range names {
			specs = append(specs, Spec{Name: n, DType: F32, Shape: []int{2}})
		}
		dir := t.TempDir()
		writeModel(t, dir, specs, 0)
		if err := os.Rename(filepath.Join(dir, SingleFile), path); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("plain files", func(t *testing.T) {
		dir := t.TempDir()
		writeF(t, filepath.Join(dir, "b.safetensors"), "z", "y")
		writeF(t, filepath.Join(dir, "a.safetensors"), "x")
		m, err := OpenModel(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if got := m.Names(); !slices.Equal(got, []string{"x", "z", "y"}) {
			t.Errorf("Names = %v", got)
		}
	})
	t.Run("model.safetensors preferred", func(t *testing.T) {
		dir := t.TempDir()
		writeF(t, filepath.Join(dir, SingleFile), "m")
		writeF(t, filepath.Join(dir, "other.safetensors"), "o")
		m, err := OpenModel(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if got := m.Names(); !slices.Equal(got, []string{"m"}) {
			t.Errorf("Names = %v", got)
		}
		if _, ok := m.Tensor("o"); ok {
			t.Error("tensor from other file visible")
		}
	})
	t.Run("symlinked shard outside dir (hub cache layout)", func(t *testing.T) {
		dir, blobs := t.TempDir(), t.TempDir()
		writeF(t, filepath.Join(blobs, "blob"), "a")
		if err := os.Symlink(filepath.Join(blobs, "blob"), filepath.Join(dir, "s.safetensors")); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"weight_map": map[string]string{"a": "s.safetensors"}})
		if err := os.WriteFile(filepath.Join(dir, IndexFile), b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := OpenModel(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if _, ok := m.Tensor("a"); !ok {
			t.Error("tensor a missing")
		}
	})
	t.Run("index with shared shard and subdir", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeF(t, filepath.Join(dir, "sub", "s.safetensors"), "a", "b", "extra")
		b, _ := json.Marshal(map[string]any{"weight_map": map[string]string{"a": "sub/s.safetensors", "b": "./sub/s.safetensors"}})
		if err := os.WriteFile(filepath.Join(dir, IndexFile), b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := OpenModel(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if got := m.Names(); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("Names = %v", got)
		}
	})
}
