package dsn

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"sqlite path", "/data/results/toy.db", "/data/results/toy.db"},
		{"no password", "postgres://mt@db:5432/mt?sslmode=disable", "postgres://mt@db:5432/mt?sslmode=disable"},
		{"user password", "postgres://mt:s3cret@db:5432/mt", "postgres://mt:xxxxx@db:5432/mt"},
		{"query password", "postgres://mt@db/mt?password=s3cret&sslmode=disable", "postgres://mt@db/mt?password=xxxxx&sslmode=disable"},
		{"both", "postgresql://mt:one@db/mt?sslmode=require&password=two", "postgresql://mt:xxxxx@db/mt?password=xxxxx&sslmode=require"},
		{"query key case", "postgres://db/mt?PassWord=s3cret", "postgres://db/mt?PassWord=xxxxx"},
		{"encoded key", "postgres://db/mt?pass%77ord=s3cret", "postgres://db/mt?password=xxxxx"},
		{"sslpassword", "postgres://db/mt?sslpassword=s3cret&sslkey=k.pem", "postgres://db/mt?sslkey=k.pem&sslpassword=xxxxx"},
		{"repeated", "postgres://db/mt?password=a&password=b", "postgres://db/mt?password=xxxxx"},
		{"unparsable url", "postgres://mt:s3cret@db:port/mt?password=two", "postgres://mt:xxxxx@db:port/mt?password=xxxxx"},
		{"other scheme", "mysql://root:s3cret@db/x", "mysql://root:xxxxx@db/x"},
		{"key value", "host=db user=mt password=s3cret dbname=mt", "host=db user=mt password=xxxxx dbname=mt"},
		{"key value spaces", "host=db password = s3cret dbname=mt", "host=db password = xxxxx dbname=mt"},
		{"key value quoted", `host=db password='s3 \'cr et' dbname=mt`, "host=db password=xxxxx dbname=mt"},
		{"key value upper", "host=db PASSWORD=s3cret", "host=db PASSWORD=xxxxx"},
		{"key value sslpassword", "sslpassword=s3cret host=db", "sslpassword=xxxxx host=db"},
		{"fragment", "postgres://db/mt#password=s3cret", "postgres://db/mt#password=xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.in)
			if got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
			for _, secret := range []string{"s3cret", "one", "two", "cr et"} {
				if strings.Contains(tt.in, secret) && strings.Contains(got, secret) {
					t.Errorf("Redact(%q) = %q still holds %q", tt.in, got, secret)
				}
			}
		})
	}
}

func TestIsPostgres(t *testing.T) {
	for in, want := range map[string]bool{
		"postgres://h/db": true, "postgresql://h/db": true, "results/x.db": false, "host=h dbname=x": false, "mysql://h": false,
	} {
		if got := IsPostgres(in); got != want {
			t.Errorf("IsPostgres(%q) = %v, want %v", in, got, want)
		}
	}
}

// FuzzRedact checks that no password survives Redact.
func FuzzRedact(f *testing.F) {
	f.Add("postgres://mt:s3cret@db/mt?password=s3cret")
	f.Add("host=db password='s3cret' user=mt")
	f.Fuzz(func(t *testing.T, pw string) {
		if len(pw) < 4 || strings.ContainsAny(pw, " '\\&;#@/?%:=\t\n\r\v\f") || strings.Contains("postgres://mt:@db/mt?password=&sslmode=disable host= user=mt xxxxx", pw) {
			return
		}
		for _, in := range []string{
			"postgres://mt:" + pw + "@db/mt",
			"postgres://mt@db/mt?sslmode=disable&password=" + pw,
			"host=db password=" + pw + " user=mt",
			"host=db password='" + pw + "' user=mt",
		} {
			if got := Redact(in); strings.Contains(got, pw) {
				t.Errorf("Redact(%q) = %q", in, got)
			}
		}
	})
}

func TestRedactError(t *testing.T) {
	base := errors.New("boom")
	for _, storage := range []string{
		"postgres://mt:s3cret@db/mt",
		"postgres://mt@db/mt?password=s3cret",
		"postgres://mt@db/mt?password=s3%63ret",
		"postgres://mt:s3cret@db:port/mt",
		"host=db password=s3cret",
		"host=db password='s3cret'",
		"/data/host=db password=s3cret/x.db",
	} {
		err := RedactError(fmt.Errorf("open %s (%q): %w", storage, storage, base), storage)
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "s3%63ret") {
			t.Errorf("%s: %v", storage, err)
		}
		if !errors.Is(err, base) {
			t.Errorf("%s: the chain is lost", storage)
		}
	}
	if err := RedactError(base, "/data/x.db"); err != base {
		t.Errorf("an error without secrets was wrapped: %v", err)
	}
	if RedactError(nil, "postgres://a:b@c/d") != nil {
		t.Error("nil became an error")
	}
}
