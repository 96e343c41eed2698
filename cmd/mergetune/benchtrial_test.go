package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mergetune/mergetune/eval/ollama/ollamatest"
)

// TestBenchTrialPico runs `bench trial` on pico-shaped checkpoints through
// a real `ollama serve`, blobs placed in its models directory: every way
// has its row, each new way its paired merge alone and its target (an
// uploaded or streamed way also its paired upload alone, a streamed way's
// upload marked as what was left after its merge), the load table has its
// rows, the report file is written, and the server is left with no model
// of the run's.
func TestBenchTrialPico(t *testing.T) {
	t.Setenv(execMainEnv, "1")
	srv := ollamatest.New(t, ollamatest.Options{})
	dir := t.TempDir()
	report := filepath.Join(dir, "trial.md")
	var out, log bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetErr(&log)
	root.SetArgs([]string{"bench", "trial", "--shape", "pico", "--models", "2", "--dir", dir, "--host", srv.Host(),
		"--models-dir", srv.Models, "--loads", "1", "--repeat", "2", "--out", report})
	if err := root.Execute(); err != nil {
		t.Fatalf("bench trial: %v\n%s\nollama serve's log:\n%s", err, log.String(), srv.Log())
	}
	text := out.String()
	rows := map[string][]string{}
	runs := map[string]int{}
	repeats := map[string][]string{}
	for _, line := range strings.Split(text, "\n") {
		cells := strings.Split(line, " | ")
		name := strings.TrimPrefix(cells[0], "| ")
		if len(cells) == 14 && (strings.HasPrefix(line, "| old") || strings.HasPrefix(line, "| new")) {
			rows[name] = cells
			runs[name]++
		}
		if len(cells) == 5 && strings.HasPrefix(line, "| new") {
			repeats[name] = cells
		}
	}
	num := regexp.MustCompile(`^[0-9.]+(e-[0-9]+)?( \((placed|after the merge)\))?$`)
	for _, way := range []string{"old bf16: safetensors → converter → upload", "new bf16: GGUF → upload",
		"new bf16: GGUF streamed while merging", "old q8_0: safetensors → converter → upload → quantize",
		"new q8_0: q8_0 GGUF → upload", "new q8_0: q8_0 GGUF streamed while merging",
		"new bf16: GGUF → blob store", "new q8_0: q8_0 GGUF → blob store"} {
		c, ok := rows[way]
		if !ok {
			t.Errorf("no row for %q in\n%s", way, text)
			continue
		}
		alone, err := strconv.ParseFloat(c[1], 64)
		if err != nil || alone <= 0 {
			t.Errorf("%s: merge alone %q", way, c[1])
		}
		for _, i := range []int{2, 6, 10} { // merge, upload/place, params → loaded
			if !num.MatchString(c[i]) {
				t.Errorf("%s: column %d is %q, want seconds", way, i, c[i])
			}
		}
		placed, old := strings.Contains(way, "blob store"), strings.HasPrefix(way, "old")
		// --repeat 2: the new ways run twice, the old ones once, and
		// each new way's repeated ratios are summarised.
		if want := map[bool]int{true: 1, false: 2}[old]; runs[way] != want {
			t.Errorf("%s: %d runs, want %d", way, runs[way], want)
		}
		if r, ok := repeats[way]; old == ok {
			t.Errorf("%s: repeat row %q", way, r)
		} else if ok {
			var ratios []float64
			for _, x := range strings.Split(r[2], ", ") {
				v, err := strconv.ParseFloat(x, 64)
				if err != nil || v <= 0 {
					t.Errorf("%s: ratio %q", way, x)
				}
				ratios = append(ratios, v)
			}
			med, err := strconv.ParseFloat(r[3], 64)
			if len(ratios) != 2 || err != nil || math.Abs(med-(ratios[0]+ratios[1])/2) > 0.006 {
				t.Errorf("%s: ratios %v, median %q", way, ratios, r[3])
			}
			limit := map[bool]float64{true: 1.5, false: 1}[placed]
			met := 0
			for _, v := range ratios {
				if v <= limit {
					met++
				}
			}
			// a ratio at the limit rounds either way
			if got := strings.TrimSuffix(r[4], " |"); got != fmt.Sprintf("%d of 2", met) && !slices.ContainsFunc(ratios, func(v float64) bool { return math.Abs(v-limit) < 0.006 }) {
				t.Errorf("%s: met %q for ratios %v, limit %v", way, got, ratios, limit)
			}
		}
		if strings.HasSuffix(c[6], "(placed)") != placed {
			t.Errorf("%s: upload/place %q", way, c[6])
		}
		if streamed := strings.Contains(way, "streamed"); strings.HasSuffix(c[6], "(after the merge)") != streamed {
			t.Errorf("%s: upload %q: a streamed way's upload is what is left after its merge, and only its", way, c[6])
		}
		switch {
		case old:
			if c[12] != "" || c[7] != "-" {
				t.Errorf("%s: an old way has no target or paired upload: %q, %q", way, c[12], c[7])
			}
		case placed:
			if !strings.HasPrefix(c[12], "≤ 1.5 × merge: ") || c[7] != "-" {
				t.Errorf("%s: target %q, paired upload %q", way, c[12], c[7])
			}
		default:
			if up, err := strconv.ParseFloat(c[7], 64); err != nil || up <= 0 || !strings.HasPrefix(c[12], "≤ merge + upload (") {
				t.Errorf("%s: paired upload alone %q, target %q", way, c[7], c[12])
			}
		}
	}
	if n := strings.Count(text, "| merged.gguf |") + strings.Count(text, "| merged-q8_0.gguf |"); n != 4 {
		t.Errorf("%d load rows, want 4 (2 GGUFs × 2 use_mmap settings):\n%s", n, text)
	}
	if data, err := os.ReadFile(report); err != nil || string(data) != text {
		t.Errorf("--out %s does not hold the report (%v)", report, err)
	}
	list, err := srv.Client().List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list.Models {
		t.Errorf("model %s left on the server", m.Name)
	}
}

// TestBenchTrialWays runs `bench trial --ways streamed --loads 0` on
// pico-shaped checkpoints through a real `ollama serve`: only the two
// streamed ways run (each repetition once), and there is no load table.
func TestBenchTrialWays(t *testing.T) {
	t.Setenv(execMainEnv, "1")
	srv := ollamatest.New(t, ollamatest.Options{})
	dir := t.TempDir()
	var out, log bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetErr(&log)
	root.SetArgs([]string{"bench", "trial", "--shape", "pico", "--models", "2", "--dir", dir, "--host", srv.Host(),
		"--models-dir", srv.Models, "--loads", "0", "--repeat", "2", "--ways", "streamed", "--prefault", "0.05"})
	if err := root.Execute(); err != nil {
		t.Fatalf("bench trial: %v\n%s\nollama serve's log:\n%s", err, log.String(), srv.Log())
	}
	text := out.String()
	runs := map[string]int{}
	for _, line := range strings.Split(text, "\n") {
		if cells := strings.Split(line, " | "); len(cells) == 14 && strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| way") {
			runs[strings.TrimPrefix(cells[0], "| ")]++
		}
	}
	want := map[string]int{"new bf16: GGUF streamed while merging": 2, "new q8_0: q8_0 GGUF streamed while merging": 2}
	if !maps.Equal(runs, want) {
		t.Errorf("rows %v, want %v:\n%s", runs, want, text)
	}
	if strings.Contains(text, "\nload alone (") {
		t.Errorf("--loads 0 printed a load table:\n%s", text)
	}
	if !strings.Contains(text, "0.05 GB of memory written and freed (--prefault)") {
		t.Errorf("the report does not say --prefault 0.05 was used:\n%s", text)
	}
}

// TestBenchTrialFlags checks that bad --ways, --loads and --repeat values
// are refused, naming the flag and the value, before any checkpoint is
// generated.
func TestBenchTrialFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ways", "new ("}, `--ways "new ("`},
		{[]string{"--ways", "blob store"}, `--ways "blob store" matches no way`},
		{[]string{"--ways", "nothing"}, `--ways "nothing" matches no way`},
		{[]string{"--loads", "-1"}, "--loads -1"},
		{[]string{"--repeat", "0"}, "--repeat 0"},
		{[]string{"--prefault", "-1"}, "--prefault -1"},
	} {
		dir := t.TempDir()
		root := newRoot()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs(append([]string{"bench", "trial", "--shape", "pico", "--dir", dir, "--host", "127.0.0.1:1"}, tc.args...))
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
		if ents, _ := os.ReadDir(dir); len(ents) > 0 {
			t.Errorf("%v: the refused run wrote %d entries into --dir", tc.args, len(ents))
		}
	}
}
