package torchbin

import (
	"archive/zip"
	"os"
	"path/filepath"
	"testing"

	"github.com/mergetune/mergetune/merge/torchbin/bintest"
)

// pickleOf returns the data.pkl record of the checkpoint at p.
func pickleOf(f *testing.F, p string) []byte {
	zr, err := zip.OpenReader(p)
	if err != nil {
		f.Fatal(err)
	}
	defer zr.Close()
	for _, e := range zr.File {
		if filepath.Base(e.Name) == "data.pkl" {
			b, err := readEntry(e, maxPickleSize)
			if err != nil {
				f.Fatal(err)
			}
			return b
		}
	}
	f.Fatal("no data.pkl")
	return nil
}

// FuzzUnpickle feeds data.pkl records to the restricted unpickler and the
// state dict walk: they must return an error or tensors inside their
// storages, never panic, hang or run anything.
func FuzzUnpickle(f *testing.F) {
	dir := f.TempDir()
	good := filepath.Join(dir, "good.bin")
	if err := bintest.Write(good, sample()); err != nil {
		f.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.bin")
	if err := bintest.WriteGlobal(bad, "os", "system", "true"); err != nil {
		f.Fatal(err)
	}
	f.Add(pickleOf(f, good))
	f.Add(pickleOf(f, bad))
	f.Add([]byte{0x80, 2, '}', '.'})
	zr, err := zip.OpenReader(good)
	if err != nil {
		f.Fatal(err)
	}
	defer zr.Close()
	entries := map[string]*zip.File{}
	for _, e := range zr.File {
		entries[e.Name] = e
	}
	fd, err := os.Open(good)
	if err != nil {
		f.Fatal(err)
	}
	defer fd.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		storages := map[string]*storage{}
		v, err := unpickle("fuzz.bin", data, storages, func(key string) *zip.File { return entries["archive/data/"+key] })
		if err != nil {
			return
		}
		c := &Checkpoint{Path: "fuzz.bin", f: fd}
		if err := c.collect(v); err != nil {
			return
		}
		for _, x := range c.Tensors {
			if err := c.WriteTo(x, discard{}); err != nil {
				t.Fatalf("tensor %s passed the checks but cannot be read: %v", x.Name, err)
			}
		}
	})
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }
