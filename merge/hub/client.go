package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultEndpoint is the hub's address when HF_ENDPOINT is not set.
const DefaultEndpoint = "https://huggingface.co"

// Client resolves model ids against one cache and one hub endpoint.
type Client struct {
	// Cache is the hub cache directory (holding models--org--name).
	Cache string
	// Endpoint is the hub's base URL, without a trailing slash.
	Endpoint string
	// Token, when set, is sent as "Authorization: Bearer Token" to the
	// endpoint (never to the storage a download is redirected to).
	Token string
	// Offline forbids any request: only the cache is read.
	Offline bool
	// Extra names files fetched alongside the weights where the
	// repository has them (config.json, tokenizer files, …).
	Extra []string
	// HTTP is the client used; nil means one with connect and header
	// timeouts.
	HTTP *http.Client
	// Progress, when set, is called as a download advances.
	Progress func(Progress)
}

// Progress reports a file download.
type Progress struct {
	Repo, File  string
	Done, Total int64 // bytes; Total is -1 when unknown
}

// FromEnv returns a Client configured as huggingface_hub is: the cache
// from HF_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
// else ~/.cache/huggingface/hub; the endpoint from HF_ENDPOINT; the token
// from HF_TOKEN, else the file HF_TOKEN_PATH, else HF_HOME/token; offline
// when HF_HUB_OFFLINE is 1, true, yes or on.
func FromEnv() *Client {
	c := &Client{Cache: CacheDir(), Endpoint: DefaultEndpoint}
	if e := strings.TrimRight(os.Getenv("HF_ENDPOINT"), "/"); e != "" {
		c.Endpoint = e
	}
	c.Offline = truthy(os.Getenv("HF_HUB_OFFLINE"))
	c.Token = os.Getenv("HF_TOKEN")
	if c.Token == "" {
		p := os.Getenv("HF_TOKEN_PATH")
		if p == "" {
			p = filepath.Join(hfHome(), "token")
		}
		if b, err := os.ReadFile(p); err == nil {
			c.Token = strings.TrimSpace(string(b))
		}
	}
	return c
}

func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func hfHome() string {
	if h := os.Getenv("HF_HOME"); h != "" {
		return h
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "huggingface")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "huggingface")
	}
	return filepath.Join(home, ".cache", "huggingface")
}

// CacheDir returns the hub cache directory named by the environment
// (see FromEnv).
func CacheDir() string {
	for _, v := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if d := os.Getenv(v); d != "" {
			return d
		}
	}
	return filepath.Join(hfHome(), "hub")
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: t}
}

// NotCachedError reports a model that is not (completely) in the cache
// and could not be downloaded.
type NotCachedError struct {
	Ref   Ref
	Cache string
	// Missing is the file found missing from a cached snapshot, if any.
	Missing string
	// Reason is why nothing was downloaded (offline, or the failure).
	Reason error
}

func (e *NotCachedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "model %s is not in the Hugging Face cache %s", e.Ref, e.Cache)
	if e.Missing != "" {
		fmt.Fprintf(&b, " (its snapshot lacks %s)", e.Missing)
	}
	if e.Reason != nil {
		fmt.Fprintf(&b, " and was not downloaded: %v", e.Reason)
	}
	fmt.Fprintf(&b, "; fetch it with `huggingface-cli download %s", e.Ref.Repo)
	if e.Ref.Revision != DefaultRevision {
		fmt.Fprintf(&b, " --revision %s", e.Ref.Revision)
	}
	b.WriteString("` (HF_HUB_CACHE or HF_HOME choose the cache), or set HF_ENDPOINT to a reachable hub mirror")
	return b.String()
}

func (e *NotCachedError) Unwrap() error { return e.Reason }

// errOffline is the reason of a NotCachedError under HF_HUB_OFFLINE.
var errOffline = errors.New("HF_HUB_OFFLINE is set")

// Resolve returns the snapshot directory of the model id s
// ("org/name" or "org/name@revision"). A snapshot already in the cache
// that holds the weights (every shard its index lists) is used without
// any request; otherwise, unless Offline, the missing files are
// downloaded (see Download). A *NotCachedError says what is missing and
// how to fetch it.
func (c *Client) Resolve(ctx context.Context, s string) (string, error) {
	ref, err := ParseRef(s)
	if err != nil {
		return "", err
	}
	dir, missing := c.Cached(ref)
	if dir != "" && missing == "" {
		return dir, nil
	}
	if c.Offline {
		return "", &NotCachedError{Ref: ref, Cache: c.Cache, Missing: missing, Reason: errOffline}
	}
	dir, err = c.Download(ctx, ref)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", &NotCachedError{Ref: ref, Cache: c.Cache, Missing: missing, Reason: err}
	}
	return dir, nil
}

// readSmall reads a small regular file (a ref or an index), at most limit
// bytes.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d expected", path, st.Size(), limit)
	}
	return io.ReadAll(io.LimitReader(f, limit))
}
