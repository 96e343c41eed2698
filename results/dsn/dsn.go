// Package dsn recognises database connection strings and masks the
// secrets in them for messages. It is a leaf package (no database
// drivers), so the study parser, the results database and the report all
// share one rule for what counts as a PostgreSQL DSN and what is hidden.
package dsn

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Mask replaces every secret Redact hides.
const Mask = "xxxxx"

// IsPostgres reports whether storage is a PostgreSQL DSN (a URL starting
// with postgres:// or postgresql://) rather than a SQLite file path.
func IsPostgres(storage string) bool {
	return strings.HasPrefix(storage, "postgres://") || strings.HasPrefix(storage, "postgresql://")
}

// secretKey reports whether a connection parameter holds a secret:
// password and sslpassword, in any letter case.
func secretKey(k string) bool {
	k = strings.ToLower(strings.TrimSpace(k))
	return k == "password" || k == "sslpassword"
}

// kvSecret matches a password or sslpassword setting of a key=value
// connection string ("host=h password=secret", "password = 'a b\' c'"),
// and a password=… query parameter of a URL that did not parse.
var kvSecret = regexp.MustCompile(`(?i)\b((?:ssl)?password)(\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&;]*)`)

// userinfo matches the password of a URL's user information
// (scheme://user:password@host) when the URL did not parse.
var userinfo = regexp.MustCompile(`(://[^/:@?#\s]*:)[^\s]*@`)

// Redact returns storage with every password it holds replaced by Mask,
// for messages: the user information's password and the password and
// sslpassword query parameters of a URL (postgres://u:pw@h/db?password=pw),
// and the password and sslpassword settings of a key=value connection
// string (host=h password=pw). Anything else, such as a SQLite file path,
// is returned as it is.
func Redact(storage string) string {
	if strings.Contains(storage, "://") {
		if u, err := url.Parse(storage); err == nil && u.Scheme != "" {
			return redactURL(u)
		}
		// Unparsable: mask what looks like a secret, whatever follows.
		s := userinfo.ReplaceAllString(storage, "${1}"+Mask+"@")
		return kvSecret.ReplaceAllString(s, "${1}${2}"+Mask)
	}
	return kvSecret.ReplaceAllString(storage, "${1}${2}"+Mask)
}

// redactURL masks the secrets of a parsed URL.
func redactURL(u *url.URL) string {
	r := *u
	if _, has := r.User.Password(); has {
		r.User = url.UserPassword(r.User.Username(), Mask)
	}
	if r.RawQuery != "" {
		q, err := url.ParseQuery(r.RawQuery)
		if err != nil {
			// A query url cannot split: mask secrets in its text.
			r.RawQuery = kvSecret.ReplaceAllString(r.RawQuery, "${1}${2}"+Mask)
		} else {
			for k := range q {
				if secretKey(k) {
					q[k] = []string{Mask}
				}
			}
			r.RawQuery = q.Encode()
		}
	}
	if r.Fragment != "" {
		r.Fragment = kvSecret.ReplaceAllString(r.Fragment, "${1}${2}"+Mask)
		r.RawFragment = ""
	}
	return r.String()
}

// Secrets returns the passwords storage holds (see Redact), as written
// and, where they differ, decoded, so that a message quoting either can
// be masked.
func Secrets(storage string) []string {
	var out []string
	add := func(vs ...string) {
		for _, v := range vs {
			if v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	if strings.Contains(storage, "://") {
		if u, err := url.Parse(storage); err == nil && u.Scheme != "" {
			if pw, ok := u.User.Password(); ok {
				add(pw, url.PathEscape(pw), url.QueryEscape(pw))
			}
			if q, err := url.ParseQuery(u.RawQuery); err == nil {
				for k, vs := range q {
					if secretKey(k) {
						for _, v := range vs {
							add(v, url.QueryEscape(v))
						}
					}
				}
			}
		} else {
			for _, m := range userinfo.FindAllStringSubmatchIndex(storage, -1) {
				add(storage[m[3] : m[1]-1])
			}
		}
	}
	for _, m := range kvSecret.FindAllStringSubmatch(storage, -1) {
		v := m[3]
		add(v)
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			add(v[1:len(v)-1], strings.ReplaceAll(v[1:len(v)-1], `\'`, `'`))
		}
		if u, err := url.QueryUnescape(v); err == nil {
			add(u)
		}
	}
	// Mask longer secrets first, so a secret inside another goes too.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// RedactError returns err with every password of storage masked in its
// message; errors.Is and errors.As still see err. It returns err itself
// when storage holds no password, and nil for nil.
func RedactError(err error, storage string) error {
	if err == nil {
		return nil
	}
	secrets := Secrets(storage)
	if len(secrets) == 0 {
		return err
	}
	return &redacted{err: err, secrets: secrets}
}

// redacted masks secrets in an error's message.
type redacted struct {
	err     error
	secrets []string
}

func (r *redacted) Error() string {
	msg := r.err.Error()
	for _, s := range r.secrets {
		msg = strings.ReplaceAll(msg, s, Mask)
	}
	return msg
}

func (r *redacted) Unwrap() error { return r.err }
