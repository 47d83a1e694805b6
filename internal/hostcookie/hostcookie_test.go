package hostcookie

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func setCookie(t *testing.T, f func(w http.ResponseWriter)) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	f(rec)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("%d cookies set, want 1: %q", len(cookies), rec.Header().Values("Set-Cookie"))
	}
	c := cookies[0]
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("attributes of %q: want Secure, HttpOnly, SameSite=Lax, Path=/, no Domain", c.Raw)
	}
	return c
}

func TestSet(t *testing.T) {
	const name = "__Host-test"
	tests := []struct {
		name      string
		in        time.Duration
		minMaxAge int // a cleared cookie parses as MaxAge -1
		maxMaxAge int
		value     string
	}{
		{"an hour", time.Hour, 3598, 3600, "v"},
		{"1.5 s", 1500 * time.Millisecond, 1, 1, "v"},
		{"500 ms: Max-Age 1, never a session cookie", 500 * time.Millisecond, 1, 1, "v"},
		{"expired", -time.Second, -1, -1, ""},
		{"now", 0, -1, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := setCookie(t, func(w http.ResponseWriter) { Set(w, name, "v", time.Now().Add(tt.in)) })
			if c.Name != name {
				t.Errorf("name %q", c.Name)
			}
			if c.MaxAge == 0 {
				t.Fatalf("%q has no Max-Age: a session cookie", c.Raw)
			}
			if c.MaxAge < tt.minMaxAge || c.MaxAge > tt.maxMaxAge {
				t.Errorf("%q: MaxAge %d, want %d..%d", c.Raw, c.MaxAge, tt.minMaxAge, tt.maxMaxAge)
			}
			if c.MaxAge < 0 && c.Value != "" {
				t.Errorf("cleared cookie keeps its value: %q", c.Raw)
			}
			if c.MaxAge > 0 && c.Value != tt.value {
				t.Errorf("value %q, want %q", c.Value, tt.value)
			}
		})
	}
}

func TestClear(t *testing.T) {
	c := setCookie(t, func(w http.ResponseWriter) { Clear(w, "__Host-test") })
	if c.MaxAge != -1 || c.Value != "" {
		t.Errorf("%q: want an empty value and Max-Age=0", c.Raw)
	}
}
