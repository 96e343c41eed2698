package merge

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestParamValuesRefused: values that used to merge silently (a NaN
// lambda or weight made every tensor NaN with exit 0; a NaN scale was
// ignored; a negative DELLA epsilon and select_topk -1 passed) are refused
// before any model is opened, naming the file, line, key path and value,
// and nothing is written.
func TestParamValuesRefused(t *testing.T) {
	cases := []struct {
		name, cfg, want string
	}{
		{"lambda NaN", "merge_method: ties\nbase_model: a\nmodels: [{model: b, parameters: {weight: 1}}]\nparameters: {lambda: .nan}\n",
			"merge.yml:4: parameters.lambda: .nan is not a finite number"},
		{"weight NaN", "merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: .nan}\n",
			"merge.yml:4: models[0].parameters.weight: .nan is not a finite number"},
		{"scale NaN", "merge_method: passthrough\nslices: [{sources: [{model: a, layer_range: [0, 2], parameters: {scale: .nan}}]}]\n",
			"merge.yml:2: slices[0].sources[0].parameters.scale: .nan is not a finite number"},
		{"negative epsilon", "merge_method: della\nbase_model: a\nmodels: [{model: b, parameters: {weight: 1, density: 0.5, epsilon: -0.9}}]\n",
			"merge.yml:3: models[0].parameters.epsilon: epsilon = -0.9 is outside [0, 0.5) (merge_method della)"},
		{"select_topk -1", "merge_method: sce\nbase_model: a\nmodels: [{model: b}]\nparameters:\n  select_topk: -1\n",
			"merge.yml:5: parameters.select_topk: select_topk = -1 is outside [0, 1] (merge_method sce)"},
		{"select_topk in a gradient", "merge_method: sce\nbase_model: a\nmodels: [{model: b}]\nparameters:\n  select_topk: [0.5, 1.5]\n",
			"merge.yml:5: parameters.select_topk[1]: select_topk = 1.5 is outside [0, 1] (merge_method sce)"},
		{"density in a conditional", "merge_method: ties\nbase_model: a\nmodels: [{model: b, parameters: {weight: 1, density: [{filter: mlp, value: 0}, {value: 0.5}]}}]\n",
			"merge.yml:3: models[0].parameters.density[0].value: density = 0 is outside (0, 1] (merge_method ties)"},
		{"max_iter 1e9", "merge_method: karcher\nmodels: [{model: a}, {model: b}]\nparameters: {max_iter: 1e9}\n",
			"merge.yml:3: parameters.max_iter: max_iter = 1e+09 is outside [0, 10000] (whole numbers) (merge_method karcher)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, n := range []string{"a", "b"} {
				ckpt{layers: 2, hidden: 4, vocab: 8, seed: i + 1}.write(t, filepath.Join(dir, n))
			}
			_, out, err := mergeYAML(t, dir, c.cfg, Options{})
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, c.want)) {
				t.Fatalf("error\n got: %v\nwant: …%s", err, c.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output written: %v", err)
			}
			assertNoTemp(t, dir)
		})
	}
}

// TestNonFiniteOutputRefused: a merge whose output holds NaN/Inf values
// (here finite weights whose products overflow float32) used to exit 0
// with one warning; it is now an error naming the tensor and the count,
// and leaves no output and no temporary directory, unless
// AllowNonFinite is set.
func TestNonFiniteOutputRefused(t *testing.T) {
	dir := t.TempDir()
	ckpt{layers: 1, hidden: 4, vocab: 8, seed: 1}.write(t, filepath.Join(dir, "a"))
	cfg := "merge_method: linear\nmodels: [{model: a, parameters: {weight: 1e300}}]\nparameters: {normalize: false}\n"
	_, out, err := mergeYAML(t, dir, cfg, Options{Workers: 1})
	var nf *NonFiniteError
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v, want a *NonFiniteError", err)
	}
	if nf.Tensor == "" || nf.Count <= 0 || nf.Count > nf.Total ||
		!strings.Contains(err.Error(), "tensor "+nf.Tensor+": ") || !strings.Contains(err.Error(), " merged values are not finite") ||
		!strings.Contains(err.Error(), "--allow-nonfinite") || !strings.HasPrefix(err.Error(), filepath.Join(dir, "merge.yml")) {
		t.Errorf("err = %v (%+v)", err, nf)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output written: %v", err)
	}
	assertNoTemp(t, dir)

	var warns []string
	res, out, err := mergeYAML(t, dir, cfg, Options{Workers: 1, AllowNonFinite: true, Warn: func(m string) { warns = append(warns, m) }})
	if err != nil {
		t.Fatalf("with AllowNonFinite: %v", err)
	}
	if len(warns) != res.Tensors || !strings.Contains(warns[0], "are not finite (NaN or ±Inf), written as they are") {
		t.Errorf("%d tensors, warnings %q (want one per tensor)", res.Tensors, warns)
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err != nil {
		t.Errorf("no output: %v", err)
	}
}

// TestKarcherMergeCancelled: a cancelled context stops a karcher merge
// inside its iterations (SIGINT used to be ignored until every one of
// max_iter iterations had run) and leaves no output and no temporary
// directory.
func TestKarcherMergeCancelled(t *testing.T) {
	dir := t.TempDir()
	for i, n := range []string{"a", "b"} {
		ckpt{layers: 1, hidden: 512, vocab: 8, seed: i + 1}.write(t, filepath.Join(dir, n))
	}
	path := filepath.Join(dir, "merge.yml")
	writeFile(t, path, "merge_method: karcher\nmodels: [{model: a}, {model: b}]\nparameters: {max_iter: 10000, tol: 0}\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := RunFile(ctx, path, filepath.Join(dir, "out"), Options{Workers: 2})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	cancel()
	// Run to the end, the merge succeeds: context.Canceled shows that it
	// stopped at the cancel. The minute only catches a hang; no tighter
	// time limit, since a busy machine slows every step.
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("karcher merge still running a minute after the cancel")
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Errorf("output written: %v", err)
	}
	assertNoTemp(t, dir)
}
