package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// HFPrefix starts a data file reference to a dataset in the local Hugging
// Face cache: "hf:OWNER/NAME/CONFIG/SPLIT", e.g. "hf:openai/gsm8k/main/test"
// or "hf:allenai/ai2_arc/ARC-Easy/test". mergetune never downloads: the
// dataset must have been fetched before (datasets.load_dataset, or
// huggingface-cli download --repo-type dataset OWNER/NAME).
const HFPrefix = "hf:"

// hfCacheDir returns the Hugging Face hub cache directory, as
// huggingface_hub finds it: HF_HUB_CACHE, else HF_HOME/hub, else
// XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
func hfCacheDir() (string, error) {
	if d := os.Getenv("HF_HUB_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("HF_HOME"); d != "" {
		return filepath.Join(d, "hub"), nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "huggingface", "hub"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the Hugging Face cache: %w (set HF_HUB_CACHE)", err)
	}
	return filepath.Join(home, ".cache", "huggingface", "hub"), nil
}

// parseHFRef splits "OWNER/NAME/CONFIG/SPLIT".
func parseHFRef(ref string) (repo, config, split string, err error) {
	parts := strings.Split(ref, "/")
	if len(parts) != 4 || slices.Contains(parts, "") || slices.Contains(parts, "..") || slices.Contains(parts, ".") {
		return "", "", "", fmt.Errorf("%s%s: want %sOWNER/NAME/CONFIG/SPLIT (e.g. %sopenai/gsm8k/main/test; CONFIG default for a dataset without configurations)", HFPrefix, ref, HFPrefix, HFPrefix)
	}
	return parts[0] + "/" + parts[1], parts[2], parts[3], nil
}

// hfFiles finds the Parquet files of a split of a cached dataset, in name
// order: CONFIG/SPLIT-*.parquet (the files a dataset repository holds),
// CONFIG/SPLIT/*.parquet (the refs/convert/parquet layout), and for the
// configuration "default" also data/SPLIT-*.parquet and SPLIT-*.parquet.
func hfFiles(ref string) ([]string, error) {
	repo, config, split, err := parseHFRef(ref)
	if err != nil {
		return nil, err
	}
	cache, err := hfCacheDir()
	if err != nil {
		return nil, err
	}
	repoDir := filepath.Join(cache, "datasets--"+strings.ReplaceAll(repo, "/", "--"))
	snaps, err := os.ReadDir(filepath.Join(repoDir, "snapshots"))
	if err != nil {
		return nil, fmt.Errorf("%s%s: dataset %s is not in the Hugging Face cache %s (mergetune never downloads: fetch it first, e.g. huggingface-cli download --repo-type dataset %s)", HFPrefix, ref, repo, cache, repo)
	}
	snap := ""
	if b, err := os.ReadFile(filepath.Join(repoDir, "refs", "main")); err == nil {
		snap = strings.TrimSpace(string(b))
	}
	var names []string
	for _, s := range snaps {
		if s.IsDir() {
			names = append(names, s.Name())
		}
	}
	switch {
	case snap != "" && slices.Contains(names, snap):
	case len(names) == 1:
		snap = names[0]
	default:
		return nil, fmt.Errorf("%s%s: %s has %d snapshots and no refs/main naming one of them", HFPrefix, ref, repoDir, len(names))
	}
	root := filepath.Join(repoDir, "snapshots", snap)
	patterns := []string{
		filepath.Join(config, split+"-*.parquet"),
		filepath.Join(config, split, "*.parquet"),
	}
	if config == "default" {
		patterns = append(patterns, filepath.Join("data", split+"-*.parquet"), split+"-*.parquet", filepath.Join("data", split, "*.parquet"))
	}
	for _, p := range patterns {
		m, err := filepath.Glob(filepath.Join(root, p))
		if err != nil {
			return nil, fmt.Errorf("%s%s: %w", HFPrefix, ref, err)
		}
		if len(m) > 0 {
			slices.Sort(m)
			return m, nil
		}
	}
	return nil, fmt.Errorf("%s%s: no Parquet files of split %s of configuration %s in %s (looked for %s)", HFPrefix, ref, split, config, root, strings.Join(patterns, ", "))
}

// readHF reads the records of a split of a cached dataset, every shard in
// order; the records are named REF[INDEX] over the whole split.
func readHF(ref string) ([]row, error) {
	files, err := hfFiles(ref)
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, f := range files {
		b, err := readRegular(f)
		if err != nil {
			return nil, fmt.Errorf("%s%s: %w", HFPrefix, ref, err)
		}
		rs, err := readParquet(f, b)
		if err != nil {
			return nil, fmt.Errorf("%s%s: %w", HFPrefix, ref, err)
		}
		if len(rows)+len(rs) > MaxParquetRows {
			return nil, fmt.Errorf("%s%s: more than %d rows", HFPrefix, ref, MaxParquetRows)
		}
		for _, r := range rs {
			r.id = fmt.Sprintf("%s%s[%d]", HFPrefix, ref, len(rows))
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s%s: no records", HFPrefix, ref)
	}
	return rows, nil
}
