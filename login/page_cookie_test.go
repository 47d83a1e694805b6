package login

import (
	"net/http/httptest"
	"testing"
	"time"
)

// TestLoginCookieMaxAge: a sign-in cookie with less than a second left
// still carries Max-Age (1), never becoming a session cookie that outlives
// its expiry; one already expired is deleted.
func TestLoginCookieMaxAge(t *testing.T) {
	rec := httptest.NewRecorder()
	setCookie(rec, sessionCookie, "v", time.Now().Add(500*time.Millisecond))
	setCookie(rec, preLoginCookie, "v", time.Now().Add(-time.Second))
	cookies := rec.Result().Cookies()
	if len(cookies) != 2 {
		t.Fatalf("%d cookies, want 2", len(cookies))
	}
	if c := cookies[0]; c.MaxAge != 1 || c.Value != "v" {
		t.Errorf("500 ms left: %q, want Max-Age=1", c.Raw)
	}
	if c := cookies[1]; c.MaxAge != -1 || c.Value != "" {
		t.Errorf("expired: %q, want deleted (Max-Age=0, no value)", c.Raw)
	}
}
