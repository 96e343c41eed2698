package merge

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/mergetune/mergetune/merge/hub"
	"github.com/mergetune/mergetune/merge/safetensors"
	"github.com/mergetune/mergetune/merge/torchbin"
)

// locator finds and opens the input models of one merge: directories on
// disk, Hugging Face ids (from the hub cache, downloaded when missing) and
// PyTorch .bin checkpoints (read through a cached safetensors twin).
type locator struct {
	e     *engine
	hub   *hub.Client
	twins string // cache directory of .bin twins
}

func (e *engine) newLocator() *locator {
	c := hub.FromEnv()
	c.Extra = append([]string{"config.json", "adapter_config.json"}, tokenizerFiles()...)
	if term.IsTerminal(int(os.Stderr.Fd())) {
		c.Progress = hub.TerminalProgress(os.Stderr)
	}
	root, err := os.UserCacheDir()
	if err != nil {
		root = os.TempDir()
	}
	return &locator{e: e, hub: c, twins: filepath.Join(root, "mergetune", "torchbin")}
}

// dir maps one model reference (a path, or a Hugging Face id
// "org/name[@revision]") to its directory. A directory that exists, as
// written or relative to the configuration file, wins over an id.
func (l *locator) dir(ctx context.Context, ref string) (string, error) {
	dir := l.e.resolve(ref)
	if _, err := os.Stat(dir); err == nil || !hub.IsID(ref) {
		return dir, nil // a missing path is reported by safetensors.OpenModel
	}
	d, err := l.hub.Resolve(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("%s: model %s: model directory %s does not exist, and %w", l.e.cfg.File, ref, ref, err)
	}
	return d, nil
}

// weights opens the checkpoint in dir: its safetensors files, else its
// PyTorch .bin files converted once into a safetensors twin (the twin
// takes as much disk as the .bin files; the conversion streams tensor by
// tensor).
func (l *locator) weights(ctx context.Context, ref, dir string) (*safetensors.Model, error) {
	if !hasSafetensors(dir) {
		files, err := torchbin.Files(dir)
		if err != nil {
			return nil, fmt.Errorf("%s: model %s: %w", l.e.cfg.File, ref, err)
		}
		if len(files) > 0 {
			twin, skipped, err := torchbin.Twin(ctx, dir, files, l.twins)
			if err != nil {
				return nil, fmt.Errorf("%s: model %s: %w", l.e.cfg.File, ref, err)
			}
			if len(skipped) > 0 {
				l.e.emit("bin-skipped "+ref, fmt.Sprintf("model %s: %d entries of its PyTorch checkpoint are not floating-point tensors and are not merged: %s",
					ref, len(skipped), strings.Join(skipped[:min(len(skipped), 5)], ", ")))
			}
			dir = twin
		}
	}
	st, err := safetensors.OpenModel(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: model %s: %w", l.e.cfg.File, ref, err)
	}
	return st, nil
}

// hasSafetensors reports whether dir holds a safetensors checkpoint.
func hasSafetensors(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, safetensors.IndexFile)); err == nil {
		return true
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	return len(m) > 0
}

// adapter returns the directory lora.Open reads for the PEFT adapter in
// dir: dir itself, or for an adapter saved as adapter_model.bin only, its
// safetensors twin (adapter_model.safetensors) with a link to the
// adapter's adapter_config.json.
func (l *locator) adapter(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, torchbin.AdapterFile)
	if hasSafetensors(dir) {
		return dir, nil
	}
	if _, err := os.Stat(bin); err != nil {
		return dir, nil // lora.Open says what is missing
	}
	twin, _, err := torchbin.Twin(ctx, dir, []string{bin}, l.twins)
	if err != nil {
		return "", fmt.Errorf("%s: LoRA adapter %s: %w", l.e.cfg.File, dir, err)
	}
	cfg, err := filepath.Abs(filepath.Join(dir, "adapter_config.json"))
	if err != nil {
		return "", err
	}
	link := filepath.Join(twin, "adapter_config.json")
	if got, err := os.Readlink(link); err != nil || got != cfg {
		tmp := fmt.Sprintf("%s.tmp-%d", link, os.Getpid())
		os.Remove(tmp)
		if err := os.Symlink(cfg, tmp); err != nil {
			return "", fmt.Errorf("LoRA adapter %s: %w", dir, err)
		}
		if err := os.Rename(tmp, link); err != nil {
			os.Remove(tmp)
			return "", fmt.Errorf("LoRA adapter %s: %w", dir, err)
		}
	}
	return twin, nil
}
