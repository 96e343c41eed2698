package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	commitA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	commitB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	commitC = "cccccccccccccccccccccccccccccccccccccccc"
)

func TestParseRef(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Ref
		bad  bool
	}{
		{in: "mistralai/Mistral-7B-v0.1", want: Ref{"mistralai/Mistral-7B-v0.1", "main"}},
		{in: "org/name@v1.0", want: Ref{"org/name", "v1.0"}},
		{in: "org/name@refs/pr/1", want: Ref{"org/name", "refs/pr/1"}},
		{in: "org/name@" + commitA, want: Ref{"org/name", commitA}},
		{in: "gpt2", want: Ref{"gpt2", "main"}},
		{in: "./model", bad: true},
		{in: "/data/model", bad: true},
		{in: "a/b/c", bad: true},
		{in: "org/na--me", bad: true},
		{in: "org/..", bad: true},
		{in: "org/", bad: true},
		{in: "org/name@", bad: true},
		{in: "org/name@../x", bad: true},
		{in: "org/name@.hidden", bad: true},
		{in: "", bad: true},
	} {
		got, err := ParseRef(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("ParseRef(%q) = %v, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseRef(%q) = %v, %v, want %v", c.in, got, err, c.want)
		}
	}
}

func write(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeCache writes a cache laid out as huggingface_hub does: blobs,
// snapshot symlinks and refs.
func fakeCache(t *testing.T) string {
	t.Helper()
	cache := t.TempDir()
	repo := filepath.Join(cache, "models--org--m")
	blob := func(name, content string) string {
		p := filepath.Join(repo, "blobs", name)
		write(t, p, []byte(content))
		return p
	}
	snap := func(commit, file, blobPath string) {
		p := filepath.Join(repo, "snapshots", commit, file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(filepath.Dir(p), blobPath)
		if err := os.Symlink(rel, p); err != nil {
			t.Fatal(err)
		}
	}
	snap(commitA, "model.safetensors", blob("e1", "weights A"))
	snap(commitA, "config.json", blob("e2", "{}"))
	snap(commitB, "model.safetensors.index.json", blob("e3", `{"weight_map": {"x": "model-1.safetensors", "y": "model-2.safetensors"}}`))
	snap(commitB, "model-1.safetensors", blob("e4", "shard 1"))
	snap(commitB, "model-2.safetensors", blob("e5", "shard 2"))
	snap(commitC, "pytorch_model.bin", blob("e6", "bin"))
	// commitC's second snapshot file links to a blob that is gone.
	snap(commitC, "config.json", filepath.Join(repo, "blobs", "gone"))
	write(t, filepath.Join(repo, "refs", "main"), []byte(commitA))
	write(t, filepath.Join(repo, "refs", "v1"), []byte(commitB+"\n"))
	write(t, filepath.Join(repo, "refs", "refs", "pr", "1"), []byte(commitC))
	write(t, filepath.Join(repo, "refs", "broken"), []byte("not a commit"))
	// A snapshot whose index names a shard that is missing.
	snap(commitA[:39]+"d", "model.safetensors.index.json", blob("e7", `{"weight_map": {"x": "model-1.safetensors", "y": "model-2.safetensors"}}`))
	snap(commitA[:39]+"d", "model-1.safetensors", blob("e8", "shard 1"))
	write(t, filepath.Join(repo, "refs", "partial"), []byte(commitA[:39]+"d"))
	return cache
}

func TestResolveFromCache(t *testing.T) {
	cache := fakeCache(t)
	c := &Client{Cache: cache, Offline: true, Endpoint: "http://127.0.0.1:1"}
	snap := func(commit string) string { return filepath.Join(cache, "models--org--m", "snapshots", commit) }
	for _, tc := range []struct {
		ref     string
		want    string
		errWant []string
	}{
		{ref: "org/m", want: snap(commitA)},
		{ref: "org/m@main", want: snap(commitA)},
		{ref: "org/m@v1", want: snap(commitB)},
		{ref: "org/m@refs/pr/1", want: snap(commitC)},
		{ref: "org/m@" + commitB, want: snap(commitB)},
		{ref: "org/m@" + commitC, want: snap(commitC)},
		{ref: "org/m@v2", errWant: []string{"model org/m@v2 is not in the Hugging Face cache " + cache, "HF_HUB_OFFLINE", "huggingface-cli download org/m --revision v2", "HF_ENDPOINT"}},
		{ref: "org/m@broken", errWant: []string{"org/m@broken is not in the Hugging Face cache"}},
		{ref: "org/m@" + strings.Repeat("e", 40), errWant: []string{"not in the Hugging Face cache"}},
		{ref: "org/m@partial", errWant: []string{"its snapshot lacks model-2.safetensors", "huggingface-cli download org/m --revision partial"}},
		{ref: "other/model", errWant: []string{"model other/model is not in the Hugging Face cache", "huggingface-cli download other/model`"}},
	} {
		got, err := c.Resolve(context.Background(), tc.ref)
		if tc.errWant == nil {
			if err != nil || got != tc.want {
				t.Errorf("Resolve(%s) = %q, %v; want %q", tc.ref, got, err, tc.want)
			}
			continue
		}
		var nc *NotCachedError
		if !errors.As(err, &nc) {
			t.Errorf("Resolve(%s) = %q, %v; want a NotCachedError", tc.ref, got, err)
			continue
		}
		for _, w := range tc.errWant {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Resolve(%s): error %q lacks %q", tc.ref, err, w)
			}
		}
	}
}

func TestFromEnv(t *testing.T) {
	home := t.TempDir()
	for _, v := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HF_ENDPOINT", "HF_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE"} {
		t.Setenv(v, "")
	}
	t.Setenv("HOME", home)
	c := FromEnv()
	if want := filepath.Join(home, ".cache", "huggingface", "hub"); c.Cache != want || c.Endpoint != DefaultEndpoint || c.Offline || c.Token != "" {
		t.Errorf("defaults: %+v, want cache %s", c, want)
	}
	t.Setenv("HF_HOME", filepath.Join(home, "hf"))
	write(t, filepath.Join(home, "hf", "token"), []byte("tok-file\n"))
	t.Setenv("HF_ENDPOINT", "http://mirror.example/")
	t.Setenv("HF_HUB_OFFLINE", "1")
	c = FromEnv()
	if c.Cache != filepath.Join(home, "hf", "hub") || c.Endpoint != "http://mirror.example" || !c.Offline || c.Token != "tok-file" {
		t.Errorf("HF_HOME etc.: %+v", c)
	}
	t.Setenv("HF_HUB_CACHE", filepath.Join(home, "c"))
	t.Setenv("HF_TOKEN", "tok-env")
	t.Setenv("HF_HUB_OFFLINE", "false")
	c = FromEnv()
	if c.Cache != filepath.Join(home, "c") || c.Token != "tok-env" || c.Offline {
		t.Errorf("HF_HUB_CACHE etc.: %+v", c)
	}
}

func TestSelectWeights(t *testing.T) {
	for _, c := range []struct {
		files  []string
		index  string
		single []string
		ok     bool
	}{
		{[]string{"config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors", "consolidated.safetensors", "pytorch_model.bin.index.json"}, stIndex, nil, true},
		{[]string{"model.safetensors", "pytorch_model.bin", "other.safetensors"}, "", []string{"model.safetensors"}, true},
		{[]string{"b.safetensors", "a.safetensors", "sub/c.safetensors", "pytorch_model.bin"}, "", []string{"a.safetensors", "b.safetensors"}, true},
		{[]string{"pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin", "pytorch_model.bin"}, binIndex, nil, true},
		{[]string{"pytorch_model.bin", "config.json"}, "", []string{"pytorch_model.bin"}, true},
		{[]string{"adapter_config.json", "adapter_model.safetensors"}, "", []string{"adapter_model.safetensors"}, true},
		{[]string{"adapter_config.json", "adapter_model.bin"}, "", []string{"adapter_model.bin"}, true},
		{[]string{"README.md", "tf_model.h5"}, "", nil, false},
	} {
		index, single, ok := selectWeights(c.files)
		if index != c.index || !slices.Equal(single, c.single) || ok != c.ok {
			t.Errorf("selectWeights(%v) = %q, %v, %v; want %q, %v, %v", c.files, index, single, ok, c.index, c.single, c.ok)
		}
	}
}

// repoFiles is a sharded model with a .bin twin the download must skip.
func repoFiles() map[string][]byte {
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	return map[string][]byte{
		"config.json":                      []byte(`{"model_type": "llama"}`),
		"tokenizer.json":                   []byte(`{"version": "1.0"}`),
		"README.md":                        []byte("# not needed"),
		"model.safetensors.index.json":     []byte(`{"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}`),
		"model-00001-of-00002.safetensors": big,
		"model-00002-of-00002.safetensors": []byte("second shard"),
		"pytorch_model.bin":                []byte("never fetched"),
	}
}

func testClient(t *testing.T, f *fakeHub) *Client {
	return &Client{Cache: t.TempDir(), Endpoint: f.hub.URL, Token: "secret", Extra: []string{"config.json", "tokenizer.json", "tokenizer.model"}}
}

func checkSnapshot(t *testing.T, dir string, files map[string][]byte, want []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
		if e.Type()&os.ModeSymlink == 0 {
			t.Errorf("%s is not a symlink into blobs", e.Name())
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || !bytes.Equal(b, files[e.Name()]) {
			t.Errorf("%s: %d bytes, %v; want the %d served", e.Name(), len(b), err, len(files[e.Name()]))
		}
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("snapshot holds %v, want %v", got, want)
	}
}

func TestDownload(t *testing.T) {
	files := repoFiles()
	f := newFakeHub(t, "org/m", commitA, files)
	c := testClient(t, f)
	var progress []Progress
	c.Progress = func(p Progress) { progress = append(progress, p) }
	dir, err := c.Resolve(context.Background(), "org/m")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(c.Cache, "models--org--m", "snapshots", commitA); dir != want {
		t.Fatalf("dir %s, want %s", dir, want)
	}
	checkSnapshot(t, dir, files, []string{"config.json", "tokenizer.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"})
	if b, err := os.ReadFile(filepath.Join(c.Cache, "models--org--m", "refs", "main")); err != nil || string(b) != commitA {
		t.Errorf("refs/main = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(c.Cache, "models--org--m", "blobs", sha256Hex(files["model-00001-of-00002.safetensors"]))); err != nil {
		t.Errorf("LFS blob not named by its SHA-256: %v", err)
	}
	for _, r := range f.log() {
		if wantAuth := r.Server == "hub"; (r.Auth == "Bearer secret") != wantAuth {
			t.Errorf("%s %s %s: Authorization %q", r.Server, r.Method, r.Path, r.Auth)
		}
		if strings.Contains(r.Path, "pytorch_model") || strings.Contains(r.Path, "README") {
			t.Errorf("requested %s, which the merge does not need", r.Path)
		}
	}
	if len(progress) == 0 || progress[len(progress)-1].Done != progress[len(progress)-1].Total {
		t.Errorf("progress %v", progress)
	}
	// The cached snapshot is then used without any request, online or not.
	n := len(f.log())
	for _, offline := range []bool{false, true} {
		c.Offline = offline
		if again, err := c.Resolve(context.Background(), "org/m@main"); err != nil || again != dir {
			t.Errorf("second Resolve (offline %v) = %q, %v", offline, again, err)
		}
	}
	if len(f.log()) != n {
		t.Errorf("a cached model made %d requests", len(f.log())-n)
	}
}

func TestDownloadRevisionAndBinOnly(t *testing.T) {
	files := map[string][]byte{"config.json": []byte("{}"), "pytorch_model.bin": []byte("torch zip")}
	f := newFakeHub(t, "org/m", commitA, files)
	f.revs["v1"] = commitB
	c := testClient(t, f)
	dir, err := c.Resolve(context.Background(), "org/m@v1")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != commitB {
		t.Errorf("dir %s, want the snapshot %s", dir, commitB)
	}
	checkSnapshot(t, dir, files, []string{"config.json", "pytorch_model.bin"})
	if b, _ := os.ReadFile(filepath.Join(c.Cache, "models--org--m", "refs", "v1")); string(b) != commitB {
		t.Errorf("refs/v1 = %q", b)
	}
	// A commit revision writes no ref.
	if _, err := c.Resolve(context.Background(), "org/m@"+commitA); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.Cache, "models--org--m", "refs", commitA)); err == nil {
		t.Error("a ref was written for a commit revision")
	}
}

func TestDownloadResumesBrokenTransfer(t *testing.T) {
	files := repoFiles()
	big := files["model-00001-of-00002.safetensors"]
	f := newFakeHub(t, "org/m", commitA, files)
	f.cutAfter = 300_000
	c := testClient(t, f)
	dir, err := c.Resolve(context.Background(), "org/m")
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, dir, files, []string{"config.json", "tokenizer.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"})
	var ranges []string
	for _, r := range f.log() {
		if r.Server == "storage" && strings.HasSuffix(r.Path, sha256Hex(big)) {
			ranges = append(ranges, r.Range)
		}
	}
	if want := []string{"", "bytes=300000-"}; !slices.Equal(ranges, want) {
		t.Errorf("GETs of the big shard had ranges %q, want %q", ranges, want)
	}
	if m, _ := filepath.Glob(filepath.Join(c.Cache, "models--org--m", "blobs", "*.incomplete")); len(m) != 0 {
		t.Errorf("left %v", m)
	}
}

func TestDownloadResumesEarlierRun(t *testing.T) {
	files := repoFiles()
	big := files["model-00001-of-00002.safetensors"]
	f := newFakeHub(t, "org/m", commitA, files)
	c := testClient(t, f)
	// A killed earlier run left the first 123456 bytes.
	inc := filepath.Join(c.Cache, "models--org--m", "blobs", sha256Hex(big)+".incomplete")
	write(t, inc, big[:123456])
	dir, err := c.Resolve(context.Background(), "org/m")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "model-00001-of-00002.safetensors")); err != nil || !bytes.Equal(b, big) {
		t.Fatalf("shard differs from the served bytes (%d bytes, %v)", len(b), err)
	}
	for _, r := range f.log() {
		if r.Server == "storage" && strings.HasSuffix(r.Path, sha256Hex(big)) && r.Range != "bytes=123456-" {
			t.Errorf("GET with Range %q, want bytes=123456-", r.Range)
		}
	}
	// A corrupt part (not a prefix of the file) is caught by the hash.
	c2 := testClient(t, f)
	inc = filepath.Join(c2.Cache, "models--org--m", "blobs", sha256Hex(big)+".incomplete")
	write(t, inc, bytes.Repeat([]byte{'x'}, 1000))
	_, err = c2.Resolve(context.Background(), "org/m")
	if err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("corrupt part: %v, want a SHA-256 mismatch", err)
	}
}

func TestDownloadFailures(t *testing.T) {
	f := newFakeHub(t, "org/m", commitA, repoFiles())
	c := testClient(t, f)
	c.Offline = true
	_, err := c.Resolve(context.Background(), "org/m")
	if err == nil || !strings.Contains(err.Error(), "not in the Hugging Face cache") || !strings.Contains(err.Error(), "huggingface-cli download org/m`") {
		t.Errorf("offline: %v", err)
	}
	if n := len(f.log()); n != 0 {
		t.Errorf("offline made %d requests", n)
	}
	c.Offline = false
	for _, tc := range []struct{ ref, want string }{
		{"org/other", "404"},
		{"org/m@nobranch", "404"},
	} {
		_, err := c.Resolve(context.Background(), tc.ref)
		var nc *NotCachedError
		if !errors.As(err, &nc) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "huggingface-cli download") {
			t.Errorf("%s: %v", tc.ref, err)
		}
	}
	f.hub.Close()
	_, err = c.Resolve(context.Background(), "org/m")
	if err == nil || !strings.Contains(err.Error(), "not in the Hugging Face cache") || !strings.Contains(err.Error(), "HF_ENDPOINT") {
		t.Errorf("unreachable hub: %v", err)
	}
}

func TestNotCachedErrorText(t *testing.T) {
	e := &NotCachedError{Ref: Ref{"mistralai/Mistral-7B-v0.1", "main"}, Cache: "/c", Reason: fmt.Errorf("HF_HUB_OFFLINE is set")}
	want := "model mistralai/Mistral-7B-v0.1 is not in the Hugging Face cache /c and was not downloaded: HF_HUB_OFFLINE is set; fetch it with `huggingface-cli download mistralai/Mistral-7B-v0.1` (HF_HUB_CACHE or HF_HOME choose the cache), or set HF_ENDPOINT to a reachable hub mirror"
	if e.Error() != want {
		t.Errorf("got  %s\nwant %s", e.Error(), want)
	}
}
