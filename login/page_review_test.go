package login

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Before, a same-origin post was refused behind a TLS-terminating proxy:
// the request arrives over HTTP while the browser's Origin says https.
func TestCrossSite(t *testing.T) {
	const issuerOrigin = "https://auth.example.test"
	for _, tc := range []struct {
		name      string
		tls       bool
		host      string
		origin    string
		fetchSite string
		crossSite bool
	}{
		{name: "same origin over TLS", tls: true, host: "auth.example.test", origin: issuerOrigin},
		{name: "TLS ended in front of Caddy", host: "auth.example.test", origin: issuerOrigin},
		{name: "plain HTTP on loopback", host: "localhost:8080", origin: "http://localhost:8080"},
		{name: "no Origin", host: "auth.example.test"},
		{name: "another site", host: "auth.example.test", origin: "https://evil.example", crossSite: true},
		{name: "Origin null", host: "auth.example.test", origin: "null", crossSite: true},
		{name: "http look-alike of the issuer", tls: true, host: "auth.example.test", origin: "http://auth.example.test", crossSite: true},
		{name: "Sec-Fetch-Site cross-site", host: "auth.example.test", origin: issuerOrigin, fetchSite: "cross-site", crossSite: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/login", nil)
			r.Host = tc.host
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.fetchSite != "" {
				r.Header.Set("Sec-Fetch-Site", tc.fetchSite)
			}
			if got := crossSite(r, issuerOrigin); got != tc.crossSite {
				t.Errorf("crossSite = %v, want %v", got, tc.crossSite)
			}
		})
	}
}

// A new sign-in ends the session it replaces: an older copy of the cookie
// (stolen, say) no longer signs anyone in. Before, it stayed valid until it
// expired.
func TestSignInAgainEndsTheOldSession(t *testing.T) {
	h := newHarness(t, browserApp)
	b := newBrowser(h)
	codeFrom(t, b.signIn(t, authorizeQuery(), alice, alicePassword), pkceRedirect, "st-123")
	old := b.cookies[sessionCookie]
	if old == "" {
		t.Fatal("no session cookie after the first sign-in")
	}
	codeFrom(t, b.signIn(t, authorizeQuery("prompt", "login"), alice, alicePassword), pkceRedirect, "st-123")
	if b.cookies[sessionCookie] == old {
		t.Fatal("the second sign-in kept the old session")
	}
	stale := newBrowser(h)
	stale.cookies[sessionCookie] = old
	w := stale.do(http.MethodGet, pathAuthorize+"?"+authorizeQuery("prompt", "none").Encode(), "")
	redirectError(t, w, pkceRedirect, "login_required")
}

// An over-long login name is refused, not cut (a cut name could split a
// character and is not the name the password grant would check).
func TestLoginPageRefusesOverlongNames(t *testing.T) {
	h := newHarness(t, browserApp)
	b := newBrowser(h)
	w := b.signIn(t, authorizeQuery(), strings.Repeat("é", maxLoginHint)+alice, alicePassword)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), browserPageErr) {
		t.Fatalf("over-long name: status %d", w.Code)
	}
}
