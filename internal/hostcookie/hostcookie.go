// Package hostcookie sets and deletes claimgate's `__Host-` cookies, the
// same way for the login pages and for claimgate_verify's browser sessions:
// Secure, HttpOnly, SameSite=Lax, Path=/, no Domain.
package hostcookie

import (
	"net/http"
	"time"
)

// Set sets the cookie name until expires, with both Expires and Max-Age.
// Max-Age is at least 1: a cookie with less than a second left must not
// become a session cookie (no Max-Age) that outlives it. A cookie that has
// already expired is deleted instead.
func Set(w http.ResponseWriter, name, value string, expires time.Time) {
	left := time.Until(expires)
	if left <= 0 {
		Clear(w, name)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", Expires: expires,
		MaxAge: max(1, int(left/time.Second)), Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// Clear deletes the cookie name set by Set (Max-Age=0).
func Clear(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}
