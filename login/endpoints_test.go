package login

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/grant"
)

func TestOtherPathsGoToNext(t *testing.T) {
	h := newHarness(t, nil)
	for _, path := range []string{"/", "/oauth/token/", "/oauth/tokens", "/OAUTH/TOKEN", "/.well-known/jwks.json.bak", "/userinfo/x", "/api/orders"} {
		w := h.do(loginRequest{method: http.MethodGet, path: path})
		if w.Code != http.StatusTeapot {
			t.Errorf("%s: status %d, want the next handler's 418", path, w.Code)
		}
	}
	if *h.next != 7 {
		t.Errorf("next handler ran %d times", *h.next)
	}
}

func TestDiscovery(t *testing.T) {
	for _, issuer := range []string{"https://auth.example.test/", "https://auth.example.test"} {
		t.Run(issuer, func(t *testing.T) {
			h := newHarness(t, func(a *app.App) { a.Issuer = issuer })
			for _, path := range []string{pathOpenIDConfig, pathOAuthServerMeta} {
				w := h.with(t).do(loginRequest{method: http.MethodGet, path: path})
				if w.Code != http.StatusOK {
					t.Fatalf("%s: status %d", path, w.Code)
				}
				if cc := w.Header().Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=") {
					t.Errorf("Cache-Control = %q", cc)
				}
				var doc map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
					t.Fatal(err)
				}
				want := map[string]any{
					"issuer":              issuer,
					"token_endpoint":      "https://auth.example.test/oauth/token",
					"jwks_uri":            "https://auth.example.test/.well-known/jwks.json",
					"userinfo_endpoint":   "https://auth.example.test/userinfo",
					"revocation_endpoint": "https://auth.example.test/oauth/revoke",
				}
				for k, v := range want {
					if doc[k] != v {
						t.Errorf("%s = %v, want %v", k, doc[k], v)
					}
				}
				lists := map[string][]string{
					"grant_types_supported":                 {"password", grant.TypePasswordRealm, "refresh_token"},
					"token_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post", "none"},
					"scopes_supported":                      {"openid", "profile", "email", "offline_access", "read:orders", "write:orders"},
					"response_types_supported":              {},
					"subject_types_supported":               {"public"},
					"id_token_signing_alg_values_supported": {"ES256"},
				}
				for k, v := range lists {
					if !sameStrings(doc[k], v) {
						t.Errorf("%s = %v, want %v", k, doc[k], v)
					}
				}
				claims := toStrings(doc["claims_supported"])
				for _, c := range []string{"sub", "iss", "aud", "email", "permissions", "org_id", rolesClaim, idNicknameName} {
					if !slices.Contains(claims, c) {
						t.Errorf("claims_supported lacks %s: %v", c, claims)
					}
				}
				if _, ok := doc["authorization_endpoint"]; ok {
					t.Error("authorization_endpoint present")
				}
			}
		})
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, s := range list {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
}

func TestJWKS(t *testing.T) {
	h := newHarness(t, nil)
	w := h.do(loginRequest{method: http.MethodGet, path: pathJWKS})
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("keys = %v", set.Keys)
	}
	k := set.Keys[0]
	if k["kid"] != h.app.KeySet().Active().ID || k["alg"] != "ES256" || k["use"] != "sig" {
		t.Errorf("key = %v", k)
	}
	if _, ok := k["d"]; ok {
		t.Error("private key published")
	}
}

func TestWrongMethods(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		method, path, allow string
	}{
		{http.MethodGet, pathToken, "POST"},
		{http.MethodDelete, pathToken, "POST"},
		{http.MethodGet, pathRevoke, "POST"},
		{http.MethodPost, pathJWKS, "GET, HEAD"},
		{http.MethodPost, pathOpenIDConfig, "GET, HEAD"},
		{http.MethodPut, pathOAuthServerMeta, "GET, HEAD"},
		{http.MethodDelete, pathUserinfo, "GET, POST"},
	}
	for _, tt := range tests {
		w := h.do(loginRequest{method: tt.method, path: tt.path})
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q", tt.method, tt.path, w.Code, w.Header().Get("Allow"), tt.allow)
		}
	}
	if w := h.do(loginRequest{method: http.MethodHead, path: pathJWKS}); w.Code != http.StatusOK {
		t.Errorf("HEAD jwks: %d", w.Code)
	}
}

func TestUserinfo(t *testing.T) {
	h := newHarness(t, func(a *app.App) {
		a.Rules = append(a.Rules, enrichClaim("email", "user.email"))
	})
	login := func(scope string) string {
		body, _ := expectToken(t, h.form(passwordForm("scope", scope)))
		return body.AccessToken
	}
	withOpenID, withoutOpenID := login("openid read:orders"), login("read:orders")

	get := func(method, auth string) (int, http.Header, map[string]any) {
		r := loginRequest{method: method, path: pathUserinfo, header: http.Header{}}
		if auth != "" {
			r.header.Set("Authorization", auth)
		}
		w := h.do(r)
		var body map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		return w.Code, w.Header(), body
	}

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		code, hdr, body := get(method, "Bearer "+withOpenID)
		if code != http.StatusOK {
			t.Fatalf("%s: status %d %v", method, code, body)
		}
		if body["sub"] != "1" || body["email"] != alice {
			t.Errorf("%s: body %v", method, body)
		}
		if _, ok := body[rolesClaim]; ok {
			t.Error("userinfo passes on custom claims")
		}
		if hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", hdr.Get("Cache-Control"))
		}
	}

	tests := []struct {
		name, auth string
		status     int
		challenge  string
	}{
		{"no token", "", 401, `Bearer realm="claimgate"`},
		{"basic", clientBasic(webClient, webSecret), 401, `Bearer realm="claimgate"`},
		{"garbage", "Bearer not.a.token", 401, `Bearer realm="claimgate", error="invalid_token"`},
		{"tampered", "Bearer " + withOpenID[:len(withOpenID)-4] + "AAAA", 401, `Bearer realm="claimgate", error="invalid_token"`},
		{"no openid scope", "Bearer " + withoutOpenID, 403, `Bearer realm="claimgate", error="insufficient_scope", scope="openid"`},
	}
	for _, tt := range tests {
		code, hdr, _ := get(http.MethodGet, tt.auth)
		if code != tt.status || hdr.Get("WWW-Authenticate") != tt.challenge {
			t.Errorf("%s: %d %q, want %d %q", tt.name, code, hdr.Get("WWW-Authenticate"), tt.status, tt.challenge)
		}
	}
}

func TestRevoke(t *testing.T) {
	h := newHarness(t, nil)
	revoke := func(form url.Values, header ...string) (int, string) {
		hdr := http.Header{}
		for i := 0; i+1 < len(header); i += 2 {
			hdr.Set(header[i], header[i+1])
		}
		w := h.do(loginRequest{path: pathRevoke, contentType: formType, body: form.Encode(), header: hdr})
		return w.Code, w.Body.String()
	}
	// RFC 7009 §2.2: 200 with an empty body, also for an unknown token.
	code, body := revoke(url.Values{"token": {"unknown"}, "client_id": {webClient}, "client_secret": {webSecret}})
	if code != http.StatusOK || body != "" {
		t.Errorf("revoke: %d %q", code, body)
	}
	code, _ = revoke(url.Values{"token": {"unknown"}}, "Authorization", clientBasic(webClient, webSecret))
	if code != http.StatusOK {
		t.Errorf("revoke with Basic: %d", code)
	}
	code, _ = revoke(url.Values{"token": {"unknown"}, "client_id": {spaClient}})
	if code != http.StatusOK {
		t.Errorf("revoke by a public client: %d", code)
	}
	// The client must authenticate, and the token is required.
	code, _ = revoke(url.Values{"token": {"x"}, "client_id": {webClient}, "client_secret": {"wrong"}})
	if code != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", code)
	}
	code, _ = revoke(url.Values{"client_id": {webClient}, "client_secret": {webSecret}})
	if code != http.StatusBadRequest {
		t.Errorf("missing token: %d", code)
	}
}
