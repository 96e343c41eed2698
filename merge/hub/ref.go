// Package hub resolves Hugging Face model ids ("org/name",
// "org/name@revision") to directories of the local Hugging Face cache, the
// same cache huggingface_hub and huggingface-cli use, and downloads the
// files a merge needs into it when they are missing and a network is
// there.
//
// The cache (HF_HUB_CACHE, else HF_HOME/hub, else
// ~/.cache/huggingface/hub) holds one directory per repository,
// models--org--name, with blobs/<etag> (the file contents),
// snapshots/<commit>/<file> (symlinks into blobs) and refs/<revision>
// (the commit a branch or tag pointed to when it was fetched). A revision
// that is a 40-digit commit hash names its snapshot directly.
package hub

import (
	"fmt"
	"regexp"
	"strings"
)

// DefaultRevision is the revision of an id written without "@revision".
const DefaultRevision = "main"

// Ref is a parsed model id.
type Ref struct {
	// Repo is the repository id, "org/name" (or a legacy "name").
	Repo string
	// Revision is a branch, tag or commit hash; DefaultRevision when the
	// id names none.
	Revision string
}

// String returns the id as written in a configuration.
func (r Ref) String() string {
	if r.Revision == DefaultRevision {
		return r.Repo
	}
	return r.Repo + "@" + r.Revision
}

var (
	repoPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	commitRe = regexp.MustCompile(`^[0-9a-f]{40}$`)
	etagRe   = regexp.MustCompile(`^[0-9A-Za-z._-]{1,128}$`)
)

// maxRepoLen is the longest repository id the hub accepts.
const maxRepoLen = 96

// ParseRef parses "org/name" or "org/name@revision". It fails for
// anything that cannot be a Hugging Face model id (a path such as
// "./model" or "/data/model", an empty part, "..", "--").
func ParseRef(s string) (Ref, error) {
	repo, rev, hasRev := strings.Cut(s, "@")
	if hasRev {
		if err := checkRevision(rev); err != nil {
			return Ref{}, fmt.Errorf("model id %q: %w", s, err)
		}
	} else {
		rev = DefaultRevision
	}
	if err := checkRepo(repo); err != nil {
		return Ref{}, fmt.Errorf("model id %q: %w", s, err)
	}
	return Ref{Repo: repo, Revision: rev}, nil
}

// IsID reports whether s has the form of a model id (ParseRef accepts it).
func IsID(s string) bool {
	_, err := ParseRef(s)
	return err == nil
}

func checkRepo(repo string) error {
	if repo == "" || len(repo) > maxRepoLen {
		return fmt.Errorf("repository id must have 1 to %d characters", maxRepoLen)
	}
	parts := strings.Split(repo, "/")
	if len(parts) > 2 {
		return fmt.Errorf("repository id %q has more than one '/'", repo)
	}
	for _, p := range parts {
		if !repoPart.MatchString(p) || strings.Contains(p, "..") || strings.Contains(p, "--") ||
			strings.HasSuffix(p, ".") || strings.HasSuffix(p, "-") {
			return fmt.Errorf("repository id %q: %q is not a valid name (letters, digits, '.', '_', '-'; no '--' or '..')", repo, p)
		}
	}
	return nil
}

// checkRevision accepts a branch, tag or commit name that is safe as a
// path below refs/ (it may hold '/', as "refs/pr/1" does).
func checkRevision(rev string) error {
	if rev == "" || len(rev) > 256 {
		return fmt.Errorf("revision must have 1 to 256 characters")
	}
	for _, p := range strings.Split(rev, "/") {
		if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "\\\x00") || strings.HasPrefix(p, ".") {
			return fmt.Errorf("revision %q is not a valid branch, tag or commit name", rev)
		}
	}
	return nil
}

// IsCommit reports whether rev is a full commit hash.
func IsCommit(rev string) bool { return commitRe.MatchString(rev) }

// repoFolder is the cache directory name of a model repository.
func repoFolder(repo string) string {
	return "models--" + strings.ReplaceAll(repo, "/", "--")
}
