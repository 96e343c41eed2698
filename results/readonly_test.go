package results

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOpenReadOnlyRefuses checks that a file that is not a mergetune
// database gets a clear error and is left exactly as it was: in
// particular an empty file stays 0 bytes (status once wrote a schema into
// it).
func TestOpenReadOnlyRefuses(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	fifo := filepath.Join(dir, "fifo.db")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	if db, err := Open(ctx, foreign); err != nil {
		t.Fatal(err)
	} else {
		db.sql.Exec(`DROP TABLE mergetune_schema`)
		db.Close()
	}
	tests := []struct {
		name, content, want string
		path                string
	}{
		{name: "empty", content: "", want: "the file is empty"},
		{name: "text", content: "name: toy\nmethod: ties\n", want: "not a SQLite file"},
		{name: "short", content: "SQLite", want: "not a SQLite file"},
		{name: "fifo", path: fifo, want: "not a regular file"},
		{name: "no mergetune schema", path: foreign, want: "holds no mergetune records"},
		{name: "missing", path: filepath.Join(dir, "none.db"), want: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = filepath.Join(dir, tt.name+".db")
				if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.ReadDir(dir)
			db, err := OpenReadOnly(ctx, path)
			if err == nil {
				db.Close()
				t.Fatal("opened; want an error")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q; want it to name %s and say %q", err, path, tt.want)
			}
			if tt.path == "" || tt.name == "no mergetune schema" {
				if !errors.Is(err, ErrNotDatabase) {
					t.Errorf("error %v does not wrap ErrNotDatabase", err)
				}
			}
			if tt.path == "" {
				if data, _ := os.ReadFile(path); string(data) != tt.content {
					t.Errorf("file changed: %q, was %q", data, tt.content)
				}
			}
			// (A real SQLite database in WAL mode gets its -wal and -shm
			// files, as for any reader; nothing else may appear.)
			if after, _ := os.ReadDir(dir); len(after) != len(before) && tt.name != "no mergetune schema" {
				t.Errorf("directory had %d entries, now %d: %v", len(before), len(after), after)
			}
		})
	}
}

// TestOpenReadOnlyReads reads a database written by Open and checks that
// no write goes through.
func TestOpenReadOnlyReads(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	path := filepath.Join(dir, "r.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	obj := 0.5
	if err := db.UpsertTrial(ctx, TrialRecord{Study: "s", Number: 3, State: TrialComplete, Objective: &obj}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	info, _ := os.Stat(path)
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	recs, err := ro.Trials(ctx, "s")
	if err != nil || len(recs) != 1 || recs[0].Number != 3 {
		t.Fatalf("trials %+v, %v", recs, err)
	}
	if err := ro.UpsertTrial(ctx, TrialRecord{Study: "s", Number: 4, State: TrialComplete, Objective: &obj}); err == nil {
		t.Error("a read-only database took a write")
	}
	if after, _ := os.Stat(path); after.Size() != info.Size() || !after.ModTime().Equal(info.ModTime()) {
		t.Errorf("file changed: %d bytes at %v, was %d at %v", after.Size(), after.ModTime(), info.Size(), info.ModTime())
	}
}
