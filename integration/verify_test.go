package integration

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/claimgate/claimgate/internal/testkit"
)

// forged is the value tests put in identity headers a client must not set.
const forged = "forged-by-client"

// call resets the upstream, sends GET base+path with token (when not empty)
// and extra headers, and returns the answer with what the upstream got.
func (e *env) call(base, path, token string, header ...string) (resp response, calls int, got http.Header) {
	e.upstream.reset()
	resp = e.get(base, path, token, header...)
	calls, got = e.upstream.received()
	return resp, calls, got
}

// forgedHeaders lists the upstream headers that carry a forged value.
func forgedHeaders(h http.Header) []string {
	var names []string
	for name, values := range h {
		for _, v := range values {
			if strings.Contains(v, forged) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// spellings of X-User-Id a client may try (oauth2-proxy CVE-2025-64484:
// WSGI/PHP upstreams merge `_` into `-`).
var spellings = []string{"X-User-Id", "x-user-id", "X_User_Id", "X-USER-ID", "x_user_id", "X-User_Id"}

// wantUnauthorized checks a 401 from claimgate_verify that never reached
// the upstream.
func wantUnauthorized(t testing.TB, resp response, calls int, wantError string) {
	t.Helper()
	if resp.status != http.StatusUnauthorized {
		t.Errorf("got %s, want 401", resp)
	}
	if calls != 0 {
		t.Errorf("the upstream was called %d times", calls)
	}
	challenge := resp.header.Get("WWW-Authenticate")
	if !strings.HasPrefix(challenge, `Bearer realm="`) {
		t.Errorf(`WWW-Authenticate = %q, want Bearer realm="…"`, challenge)
	}
	switch {
	case wantError == "" && strings.Contains(challenge, "error="):
		t.Errorf("WWW-Authenticate = %q: no error code without a token (RFC 6750 §3.1)", challenge)
	case wantError != "" && !strings.Contains(challenge, `error="`+wantError+`"`):
		t.Errorf(`WWW-Authenticate = %q, want error="%s"`, challenge, wantError)
	}
}

// TestVerify runs claimgate_verify in front of reverse_proxy: the upstream
// gets verified claims as headers and never a client's copy of them.
func TestVerify(t *testing.T) {
	e := start(t, options{})
	alicePW := testkit.DemoUser(t, alice).Password
	aliceToken := e.login(t, alice, alicePW).AccessToken
	daveToken := e.login(t, dave, testkit.DemoUser(t, dave).Password).AccessToken

	t.Run("claims reach the upstream", func(t *testing.T) {
		resp, calls, got := e.call(e.base, "/api/orders", aliceToken)
		if resp.status != http.StatusOK || string(resp.body) != upstreamBody || calls != 1 {
			t.Fatalf("got %s after %d upstream calls", resp, calls)
		}
		want := map[string]string{
			"X-User-Id":        "1",
			"X-User-Roles":     "admin,editor",
			"X-Org-Id":         "org_acme",
			"X-User-City":      "Lisbon",
			"X-Is-Admin":       "true",
			"X-Permissions":    "delete:orders,read:orders,read:reports,write:orders",
			"X-Placeholder-Id": "1", // header_up {http.auth.user.id}
		}
		for name, w := range want {
			if v := got.Values(name); len(v) != 1 || v[0] != w {
				t.Errorf("upstream %s = %q, want [%q]", name, v, w)
			}
		}
	})

	t.Run("placeholders", func(t *testing.T) {
		resp, _, _ := e.call(e.base, "/placeholders/x", aliceToken)
		if want := "id=1 org=org_acme"; resp.status != http.StatusOK || string(resp.body) != want {
			t.Errorf("got %s, want 200 %q", resp, want)
		}
	})

	t.Run("forged headers", func(t *testing.T) {
		for _, name := range spellings {
			t.Run(name, func(t *testing.T) {
				testForgedSpelling(t, e, name, aliceToken)
			})
		}
		t.Run("every spelling at once", func(t *testing.T) {
			var h []string
			for _, name := range spellings {
				h = append(h, name, forged)
			}
			h = append(h, "X-User-Roles", forged, "x_org_id", forged, "X-PERMISSIONS", forged)
			resp, calls, got := e.call(e.base, "/api/orders", aliceToken, h...)
			if resp.status != http.StatusOK || calls != 1 {
				t.Fatalf("got %s", resp)
			}
			if f := forgedHeaders(got); len(f) > 0 {
				t.Errorf("forged headers reached the upstream: %v", f)
			}
			if v := got.Values("X-User-Id"); !slices.Equal(v, []string{"1"}) {
				t.Errorf("X-User-Id = %q, want [1]", v)
			}
		})
		// GHSA-7r4p-vjf4-gxv4: a header whose claim the token lacks must
		// still be stripped (dave has no org_id, city or roles).
		t.Run("claim absent from the token", func(t *testing.T) {
			resp, calls, got := e.call(e.base, "/api/orders", daveToken,
				"X-Org-Id", forged, "X_User_City", forged, "x-is-admin", forged)
			if resp.status != http.StatusOK || calls != 1 {
				t.Fatalf("got %s", resp)
			}
			if f := forgedHeaders(got); len(f) > 0 {
				t.Errorf("forged headers reached the upstream: %v", f)
			}
			if got.Get("X-User-Id") != "4" || got.Get("X-Is-Admin") != "false" {
				t.Errorf("X-User-Id = %q, X-Is-Admin = %q; want 4, false", got.Get("X-User-Id"), got.Get("X-Is-Admin"))
			}
			for _, name := range []string{"X-Org-Id", "X-User-City"} {
				if v, has := got[name]; has {
					t.Errorf("%s = %q, want absent (dave has no such claim)", name, v)
				}
			}
		})
	})

	t.Run("Connection names a verified header", func(t *testing.T) {
		// GHSA-w9mr-28mw-j8hg: hop-by-hop removal must not delete what
		// claimgate_verify set. X-Other shows the Connection header did
		// reach Caddy: reverse_proxy drops it as hop-by-hop.
		for _, conn := range []string{"X-User-Id, X-Org-Id, X-Other", "keep-alive, x_user_id, x-org-id, X-Other"} {
			resp, calls, got := e.call(e.base, "/api/orders", aliceToken,
				"Connection", conn, "X-User-Id", forged, "X-Other", "hop")
			if resp.status != http.StatusOK || calls != 1 {
				t.Fatalf("Connection: %s: got %s", conn, resp)
			}
			if v := got.Values("X-User-Id"); !slices.Equal(v, []string{"1"}) {
				t.Errorf("Connection: %s: X-User-Id = %q, want [1]", conn, v)
			}
			if got.Get("X-Org-Id") != "org_acme" {
				t.Errorf("Connection: %s: X-Org-Id = %q, want org_acme", conn, got.Get("X-Org-Id"))
			}
			if got.Get("X-Other") != "" {
				t.Errorf("X-Other reached the upstream: the Connection header was not sent, the test proves nothing")
			}
		}
	})

	t.Run("claim with CR/LF is not sent", func(t *testing.T) {
		tok := e.login(t, mallory, alicePW).AccessToken
		resp, calls, got := e.call(e.base, "/api/orders", tok, "X-User-City", forged)
		if resp.status != http.StatusOK || calls != 1 {
			t.Fatalf("got %s", resp)
		}
		if v, has := got["X-User-City"]; has {
			t.Errorf("X-User-City = %q, want it left out (the value has CR/LF)", v)
		}
		if v := got.Values("X-User-Id"); !slices.Equal(v, []string{malloryID}) {
			t.Errorf("X-User-Id = %q, want [%s] (no header injected by the city)", v, malloryID)
		}
		if got.Get("X-Org-Id") != "org_acme" {
			t.Errorf("X-Org-Id = %q: the other claims must still be sent", got.Get("X-Org-Id"))
		}
	})

	t.Run("require", func(t *testing.T) {
		resp, calls, got := e.call(e.base, "/admin/users", aliceToken, "X-User-Id", forged)
		if resp.status != http.StatusOK || calls != 1 || got.Get("X-User-Id") != "1" {
			t.Errorf("admin alice: got %s, upstream calls %d, X-User-Id %q", resp, calls, got.Get("X-User-Id"))
		}
		bobToken := e.login(t, bob, testkit.DemoUser(t, bob).Password).AccessToken
		for name, tok := range map[string]string{"editor": bobToken, "no roles": daveToken} {
			resp, calls, _ := e.call(e.base, "/admin/users", tok, "X-User-Id", forged)
			if resp.status != http.StatusForbidden || calls != 0 {
				t.Errorf("%s: got %s after %d upstream calls, want 403 and none", name, resp, calls)
			}
			if c := resp.header.Get("WWW-Authenticate"); !strings.HasPrefix(c, "Bearer ") || !strings.Contains(c, `error="insufficient_scope"`) {
				t.Errorf(`%s: WWW-Authenticate = %q, want Bearer … error="insufficient_scope"`, name, c)
			}
		}
	})

	t.Run("missing token", func(t *testing.T) {
		for name, h := range map[string][]string{
			"no Authorization":  nil,
			"Basic credentials": {"Authorization", testkit.BasicAuth("alice", "x")},
			"Bearer, no token":  {"Authorization", "Bearer"},
			"other scheme":      {"Authorization", "Token " + aliceToken},
			"token in a cookie": {"Cookie", "access_token=" + aliceToken},
			"forged identity":   {"X-User-Id", forged, "X_User_Id", forged},
		} {
			t.Run(name, func(t *testing.T) {
				resp, calls, _ := e.call(e.base, "/api/orders", "", h...)
				if resp.status != http.StatusUnauthorized || calls != 0 {
					t.Fatalf("got %s after %d upstream calls, want 401", resp, calls)
				}
				if name == "no Authorization" || name == "forged identity" {
					wantUnauthorized(t, resp, calls, "")
				}
			})
		}
	})

	t.Run("scheme is case-insensitive", func(t *testing.T) {
		resp, calls, got := e.call(e.base, "/api/orders", "", "Authorization", "bearer "+aliceToken)
		if resp.status != http.StatusOK || calls != 1 || got.Get("X-User-Id") != "1" {
			t.Errorf("got %s (RFC 9110 §11.1: auth schemes are case-insensitive)", resp)
		}
	})

	t.Run("attacks", func(t *testing.T) {
		set := e.fetchJWKS(t)
		idToken := e.login(t, alice, alicePW, "scope", "openid").IDToken
		reportsToken := e.login(t, alice, alicePW, "audience", reportsAudience).AccessToken
		for name, tok := range attackTokens(t, set, aliceToken) {
			t.Run(name, func(t *testing.T) {
				resp, calls, _ := e.call(e.base, "/api/orders", tok, "X-User-Id", forged)
				wantUnauthorized(t, resp, calls, "invalid_token")
			})
		}
		for name, tok := range map[string]string{
			"ID token":                          idToken,
			"access token for another audience": reportsToken,
			"20 KB of garbage":                  strings.Repeat("A", 20<<10),
			"20 KB of JWT-shaped garbage":       strings.Repeat("eyJhbGciOi", 700) + "." + strings.Repeat("x", 6000) + "." + strings.Repeat("y", 6000),
			"external issuer's token":           e.external.sign(t, externalClaims(e, nil)),
		} {
			t.Run(name, func(t *testing.T) {
				resp, calls, _ := e.call(e.base, "/api/orders", tok, "X-User-Id", forged)
				wantUnauthorized(t, resp, calls, "invalid_token")
			})
		}
	})

	t.Run("optional", func(t *testing.T) {
		resp, calls, got := e.call(e.base, "/optional/feed", "", "X-User-Id", forged, "x_user_id", forged, "X-User-Roles", forged)
		if resp.status != http.StatusOK || calls != 1 {
			t.Fatalf("anonymous: got %s after %d upstream calls", resp, calls)
		}
		if f := forgedHeaders(got); len(f) > 0 {
			t.Errorf("anonymous: forged headers reached the upstream: %v", f)
		}
		if v, has := got["X-User-Id"]; has {
			t.Errorf("anonymous: X-User-Id = %q, want absent", v)
		}

		resp, calls, got = e.call(e.base, "/optional/feed", aliceToken, "X_User_Id", forged)
		if resp.status != http.StatusOK || calls != 1 || got.Get("X-User-Id") != "1" || len(forgedHeaders(got)) > 0 {
			t.Errorf("with a token: got %s, X-User-Id %q, forged %v", resp, got.Get("X-User-Id"), forgedHeaders(got))
		}

		resp, calls, _ = e.call(e.base, "/optional/feed", aliceToken+"x", "X-User-Id", forged)
		wantUnauthorized(t, resp, calls, "invalid_token")
	})

	t.Run("handle_errors renders the 401", func(t *testing.T) {
		for name, tok := range map[string]string{"no token": "", "bad token": "bad"} {
			resp, calls, _ := e.call(e.errBase, "/x", tok)
			if resp.status != http.StatusUnauthorized || calls != 0 {
				t.Errorf("%s: got %s after %d upstream calls, want 401", name, resp, calls)
			}
			if want := "rendered by handle_errors: 401"; string(resp.body) != want {
				t.Errorf("%s: body %q, want %q", name, resp.body, want)
			}
		}
		resp, calls, got := e.call(e.errBase, "/x", aliceToken, "X_User_Id", forged)
		if resp.status != http.StatusOK || calls != 1 || got.Get("X-User-Id") != "1" {
			t.Errorf("with a token: got %s", resp)
		}
	})

	t.Run("external issuer", func(t *testing.T) { testExternalIssuer(t, e, aliceToken) })
}

// testForgedSpelling sends a forged X-User-Id spelled name on the
// authenticated, rejected and missing-token paths.
func testForgedSpelling(t *testing.T, e *env, name, token string) {
	resp, calls, got := e.call(e.base, "/api/orders", token, name, forged)
	if resp.status != http.StatusOK || calls != 1 {
		t.Fatalf("authenticated: got %s after %d upstream calls", resp, calls)
	}
	if f := forgedHeaders(got); len(f) > 0 {
		t.Errorf("authenticated: forged %s reached the upstream as %v", name, f)
	}
	if v := got.Values("X-User-Id"); !slices.Equal(v, []string{"1"}) {
		t.Errorf("authenticated: X-User-Id = %q, want [1]", v)
	}

	resp, calls, _ = e.call(e.base, "/api/orders", token[:len(token)-4]+"AAAA", name, forged)
	wantUnauthorized(t, resp, calls, "invalid_token")

	resp, calls, _ = e.call(e.base, "/api/orders", "", name, forged)
	wantUnauthorized(t, resp, calls, "")
}

// attackTokens derives the classic JWT attacks from a genuine token.
func attackTokens(t *testing.T, set jwkSet, genuine string) map[string]string {
	parts := strings.Split(genuine, ".")
	header, payload := testkit.JWTParts(t, genuine)
	kid, _ := header["kid"].(string)
	var pub *rsa.PublicKey
	for _, k := range set.Keys {
		if k.Kid == kid {
			p, err := k.publicKey()
			if err != nil {
				t.Fatal(err)
			}
			pub = p.(*rsa.PublicKey)
		}
	}
	if pub == nil {
		t.Fatalf("kid %q is not served", kid)
	}

	withHeader := func(changes map[string]any) string {
		h := make(map[string]any)
		for k, v := range header {
			h[k] = v
		}
		for k, v := range changes {
			h[k] = v
		}
		return encodeSegment(t, h)
	}
	tampered := make(map[string]any)
	for k, v := range payload {
		tampered[k] = v
	}
	tampered["sub"] = "2"

	attacks := map[string]string{
		"alg none":                           withHeader(map[string]any{"alg": "none"}) + "." + parts[1] + ".",
		"alg None":                           withHeader(map[string]any{"alg": "None"}) + "." + parts[1] + ".",
		"alg none keeping the signature":     withHeader(map[string]any{"alg": "none"}) + "." + parts[1] + "." + parts[2],
		"signature stripped":                 parts[0] + "." + parts[1] + ".",
		"tampered payload":                   parts[0] + "." + encodeSegment(t, tampered) + "." + parts[2],
		"alg RS512 with the RS256 signature": withHeader(map[string]any{"alg": "RS512"}) + "." + parts[1] + "." + parts[2],
		"unknown kid, same signature":        withHeader(map[string]any{"kid": "no-such-key"}) + "." + parts[1] + "." + parts[2],
		"two segments":                       parts[0] + "." + parts[1],
		"four segments":                      genuine + ".x",
		"signature of another token":         parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 256)),
	}

	// HS256 keyed with the RSA public key in the forms a confused verifier
	// might use (RFC 8725 §2.1).
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	hmacKeys := map[string][]byte{
		"PKIX PEM":  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		"PKCS1 PEM": pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)}),
		"PKIX DER":  der,
		"modulus":   pub.N.Bytes(),
	}
	for name, key := range hmacKeys {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(payload))
		tok.Header["kid"] = kid
		tok.Header["typ"] = "at+jwt"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		attacks["HS256 keyed with the "+name] = s
	}

	// Signed by a key claimgate does not trust, under the genuine kid and
	// an unknown one.
	other := mustRSAKey(t)
	for name, k := range map[string]string{"genuine kid": kid, "unknown kid": "attacker-key"} {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(payload))
		tok.Header["kid"] = k
		tok.Header["typ"] = "at+jwt"
		s, err := tok.SignedString(other)
		if err != nil {
			t.Fatal(err)
		}
		attacks["signed by another key, "+name] = s
	}
	return attacks
}

// externalClaims are claims for the external issuer's /external route,
// with changes applied (a nil value deletes the claim).
func externalClaims(e *env, changes map[string]any) jwt.MapClaims {
	now := time.Now().Unix()
	c := jwt.MapClaims{
		"iss":      e.external.issuer(),
		"sub":      "auth0|42",
		"aud":      []string{apiAudience, e.external.issuer() + "userinfo"},
		"iat":      now,
		"exp":      now + 600,
		"azp":      "legacy-app",
		rolesClaim: []string{"admin", "billing"},
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// testExternalIssuer verifies another issuer's tokens with its JWKS
// (issuer + jwks_url), served by a test server with a key the test holds.
func testExternalIssuer(t *testing.T, e *env, localToken string) {
	x := e.external
	resp, calls, got := e.call(e.base, "/external/orders", x.sign(t, externalClaims(e, nil)), "X_User_Id", forged)
	if resp.status != http.StatusOK || calls != 1 {
		t.Fatalf("external token: got %s after %d upstream calls", resp, calls)
	}
	if got.Get("X-User-Id") != "auth0|42" || got.Get("X-User-Roles") != "admin,billing" || len(forgedHeaders(got)) > 0 {
		t.Errorf("upstream X-User-Id %q, X-User-Roles %q, forged %v", got.Get("X-User-Id"), got.Get("X-User-Roles"), forgedHeaders(got))
	}

	now := time.Now().Unix()
	bad := map[string]string{
		"expired":               x.sign(t, externalClaims(e, map[string]any{"exp": now - 3600})),
		"not yet valid":         x.sign(t, externalClaims(e, map[string]any{"nbf": now + 3600})),
		"without exp":           x.sign(t, externalClaims(e, map[string]any{"exp": nil})),
		"wrong iss":             x.sign(t, externalClaims(e, map[string]any{"iss": strings.TrimSuffix(x.issuer(), "/")})),
		"claimgate's iss":       x.sign(t, externalClaims(e, map[string]any{"iss": e.issuer})),
		"wrong aud":             x.sign(t, externalClaims(e, map[string]any{"aud": reportsAudience})),
		"without aud":           x.sign(t, externalClaims(e, map[string]any{"aud": nil})),
		"claimgate's own token": localToken,
		"unsigned":              encodeSegment(t, map[string]any{"alg": "none", "typ": "JWT", "kid": x.kid}) + "." + encodeSegment(t, externalClaims(e, nil)) + ".",
	}
	// Signed by another key: the verifier refetches the JWKS on an unknown
	// kid and must still refuse it.
	other := jwt.NewWithClaims(jwt.SigningMethodRS256, externalClaims(e, nil))
	other.Header["kid"] = "rotated-in-key"
	otherKey := mustRSAKey(t)
	s, err := other.SignedString(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	bad["unknown kid"] = s
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, externalClaims(e, nil))
	hs.Header["kid"] = x.kid
	der, _ := x509.MarshalPKIXPublicKey(&x.key.PublicKey)
	if s, err = hs.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err != nil {
		t.Fatal(err)
	}
	bad["HS256 keyed with the public key"] = s

	for name, tok := range bad {
		t.Run(name, func(t *testing.T) {
			resp, calls, _ := e.call(e.base, "/external/orders", tok, "X-User-Id", forged)
			wantUnauthorized(t, resp, calls, "invalid_token")
		})
	}
	// After all the unknown-kid refetches, the genuine token still works.
	resp, calls, _ = e.call(e.base, "/external/orders", x.sign(t, externalClaims(e, nil)))
	if resp.status != http.StatusOK || calls != 1 {
		t.Errorf("external token after the attacks: got %s", resp)
	}
}
