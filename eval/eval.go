package eval

import (
	"context"
	"errors"
	"io"
	"os"
)

// ErrUnsupported is returned by a backend that cannot serve a request kind
// (Ollama, for instance, has no prompt log-likelihood). Optional request
// kinds are declared by optional interfaces (LogLikelihooder).
var ErrUnsupported = errors.New("not supported by this backend")

// Backend opens models for evaluation.
type Backend interface {
	// Open readies the model in dir (a Hugging Face style directory:
	// config.json, tokenizer files, safetensors; or, for a backend that
	// says so with CandidateFormatter, a file of its format) for
	// requests.
	Open(ctx context.Context, dir string) (Model, error)
}

// CandidateFormatter is implemented by a backend that takes merged models
// in another form than a safetensors directory, so that the merge writes
// each candidate the way the backend serves it.
type CandidateFormatter interface {
	// CandidateFormat returns the merge output format ("gguf": one GGUF
	// file, which Open is given) and, for GGUF, the storage type of the
	// weight matrices ("": the converter's choice; "q8_0", …).
	CandidateFormat() (format, typ string)
}

// DigestOpener is implemented by a backend that identifies a candidate file
// by its content digest, so that a digest the merge computed while it wrote
// the file need not be computed again.
type DigestOpener interface {
	// OpenDigest is Open of the file path, whose "sha256:<hex>" digest is
	// digest.
	OpenDigest(ctx context.Context, path, digest string) (Model, error)
}

// Streamer is implemented by a backend that can start importing a GGUF
// candidate while the merge is still writing it (merge.Options.Follow),
// so that sending the candidate overlaps the merge instead of following
// it.
type Streamer interface {
	// Streams reports whether Stream would begin an import now, so that
	// the merge may leave the candidate's digest to the backend.
	Streams() bool
	// Stream starts sending the candidate r yields (size bytes, each
	// returned once the merge has written it) and returns the import under
	// way, or nil when the backend takes the file another way (it places
	// it in the server's store itself, say). It takes r over and closes
	// it either way.
	Stream(ctx context.Context, r io.ReadCloser, size int64) Stream
}

// A GrowingFile is a reader of a file the merge is still writing, as
// merge.Options.Follow hands one to a Streamer. Besides reading it in
// order, a backend may send the file's bytes straight from the file (with
// sendfile, say) once Written says they are there.
type GrowingFile interface {
	io.ReadCloser
	// File is the file being written, opened for reading: the reader's
	// own descriptor, whose offset is the caller's to move.
	File() *os.File
	// Written blocks until the file's first want bytes are written (or
	// all of it, where want is beyond its end), and returns how many
	// leading bytes are written; where the merge was aborted first, it
	// returns those written and the abort's error.
	Written(want int64) (int64, error)
}

// Stream is a candidate's import begun while the merge writes it.
type Stream interface {
	// Open finishes the import of the complete candidate file path, of
	// digest "sha256:<hex>" ("": the merge did not hash it, and the
	// backend's digest of what it received is taken), as
	// DigestOpener.OpenDigest does: it waits for the sending to end and
	// opens the model, importing the file anew where what was sent did
	// not take.
	Open(ctx context.Context, path, digest string) (Model, error)
	// Cancel ends an import whose merge failed, waits for it and removes
	// what it left on the server.
	Cancel()
}

// GenerateOptions control a greedy generation.
type GenerateOptions struct {
	MaxTokens int      // at most this many new tokens (0: until the context is full)
	Stop      []string // stop before the first occurrence of any of these
}

// Model answers requests for one opened model. Its methods are safe for
// concurrent use.
type Model interface {
	// Generate returns the greedy continuation of prompt, without the stop
	// string that ended it.
	Generate(ctx context.Context, prompt string, opt GenerateOptions) (string, error)
	// TopTokens returns the k most likely next tokens after prompt with
	// their log-probabilities, most likely first: how multiple-choice
	// letters are read.
	TopTokens(ctx context.Context, prompt string, k int) ([]TokenLogprob, error)
	// Digest identifies the model's weights (a content hash), so results
	// can be cached across runs and model names.
	Digest() string
	// Settings describes the request settings that can change an answer
	// (backend, context size, quantization, …) as a stable string, part
	// of every cache key.
	Settings() string
	// Close releases the model.
	Close() error
}

// TokenLogprob is one candidate next token.
type TokenLogprob struct {
	Token   string
	Logprob float64
}

// Message is one turn of a conversation: Role "system", "user" or
// "assistant".
type Message struct {
	Role, Content string
}
