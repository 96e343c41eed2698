package datasets

import (
	"embed"
	"io/fs"
)

// builtinFiles holds the public benchmark files of the built-in tasks
// (data/README.md says where each comes from and under which licence).
//
//go:embed data/*.jsonl data/README.md data/LICENSE.*
var builtinFiles embed.FS

// BuiltinDataPrefix starts Task.Data, and the file part of the messages,
// of a built-in task read from the embedded copy of its data file.
const BuiltinDataPrefix = "built-in:"

// BuiltinData returns the embedded public benchmark files the built-in
// tasks read when no data directory is given: gsm8k_test.jsonl,
// arc_easy.jsonl, …, with README.md and the LICENSE.* files.
func BuiltinData() fs.FS {
	sub, err := fs.Sub(builtinFiles, "data")
	if err != nil {
		panic(err) // "data" is a valid path: cannot happen
	}
	return sub
}

// readBuiltin reads a data file named "built-in:NAME" from the embedded
// copies.
func readBuiltin(name string) ([]byte, error) {
	return fs.ReadFile(BuiltinData(), name)
}
