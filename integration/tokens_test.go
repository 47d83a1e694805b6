package integration

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/claimgate/claimgate/internal/testkit"
)

// discovery fetches path (a discovery document) and decodes it.
func (e *env) discovery(t testing.TB, path string) map[string]any {
	t.Helper()
	resp := e.get(e.base, path, "")
	if resp.status != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp)
	}
	var doc map[string]any
	if err := json.Unmarshal(resp.body, &doc); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return doc
}

// fetchJWKS follows the discovery document's jwks_uri.
func (e *env) fetchJWKS(t testing.TB) jwkSet {
	t.Helper()
	uri, _ := e.discovery(t, "/.well-known/openid-configuration")["jwks_uri"].(string)
	if uri == "" {
		t.Fatal("discovery has no jwks_uri")
	}
	resp := e.do(uri, request{})
	if resp.status != http.StatusOK {
		t.Fatalf("GET %s: %s", uri, resp)
	}
	var set jwkSet
	if err := json.Unmarshal(resp.body, &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	checkJWKS(t, set)
	return set
}

// verifyJWT verifies tok with the served keys for the given audience, as a
// third-party resource server would, and returns its header and claims.
func verifyJWT(t testing.TB, set jwkSet, tok, issuer, audience string) (map[string]any, jwt.MapClaims) {
	t.Helper()
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, set.keyfunc(t),
		jwt.WithValidMethods([]string{"RS256", "ES256", "EdDSA"}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(5*time.Second),
	)
	if err != nil {
		t.Fatalf("verifying the token with the served JWKS: %v", err)
	}
	return parsed.Header, claims
}

// TestDiscovery checks the discovery documents (RFC 8414, OIDC Discovery)
// and the JWKS they point to.
func TestDiscovery(t *testing.T) {
	e := start(t, options{})
	doc := e.discovery(t, "/.well-known/openid-configuration")

	wantURL := map[string]string{
		"issuer":              e.issuer,
		"token_endpoint":      e.issuer + "oauth/token",
		"jwks_uri":            e.issuer + ".well-known/jwks.json",
		"userinfo_endpoint":   e.issuer + "userinfo",
		"revocation_endpoint": e.issuer + "oauth/revoke",
	}
	for field, want := range wantURL {
		if doc[field] != want {
			t.Errorf("%s = %v, want %q", field, doc[field], want)
		}
	}
	if _, has := doc["authorization_endpoint"]; has {
		t.Error("authorization_endpoint is published, but there is none")
	}
	if rt, ok := doc["response_types_supported"].([]any); !ok || len(rt) != 0 {
		t.Errorf("response_types_supported = %#v, want []", doc["response_types_supported"])
	}
	if st := doc["subject_types_supported"]; !reflect.DeepEqual(st, []any{"public"}) {
		t.Errorf("subject_types_supported = %#v, want [public]", st)
	}
	wantContains := map[string][]string{
		"grant_types_supported":                 {"password", "http://auth0.com/oauth/grant-type/password-realm"},
		"token_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post"},
		"scopes_supported":                      {"openid", "profile", "email"},
		"id_token_signing_alg_values_supported": {"RS256"},
	}
	for field, want := range wantContains {
		got := stringList(doc[field])
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s = %v, want it to contain %q", field, doc[field], w)
			}
		}
	}
	// Refresh tokens come later : offline_access
	// is offered exactly when the refresh_token grant is.
	refresh := slices.Contains(stringList(doc["grant_types_supported"]), "refresh_token")
	if offline := slices.Contains(stringList(doc["scopes_supported"]), "offline_access"); offline != refresh {
		t.Errorf("scopes_supported %v and grant_types_supported %v disagree on refresh tokens",
			doc["scopes_supported"], doc["grant_types_supported"])
	}
	if slices.Contains(stringList(doc["id_token_signing_alg_values_supported"]), "none") {
		t.Error("id_token_signing_alg_values_supported offers none")
	}
	if claims := stringList(doc["claims_supported"]); !slices.Contains(claims, "sub") || !slices.Contains(claims, "iss") {
		t.Errorf("claims_supported = %v, want at least sub and iss", doc["claims_supported"])
	}

	t.Run("oauth-authorization-server", func(t *testing.T) {
		meta := e.discovery(t, "/.well-known/oauth-authorization-server")
		for _, field := range []string{"issuer", "token_endpoint", "jwks_uri"} {
			if meta[field] != doc[field] {
				t.Errorf("%s = %v, openid-configuration says %v", field, meta[field], doc[field])
			}
		}
	})
	t.Run("jwks", func(t *testing.T) {
		set := e.fetchJWKS(t)
		for _, k := range set.Keys {
			if k.Kty != "RSA" || k.Alg != "RS256" {
				t.Errorf("default key %s is %s/%s, want RSA/RS256", k.Kid, k.Kty, k.Alg)
			}
		}
	})
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestAccessTokens verifies claimgate's tokens with golang-jwt and a key
// function built only from the served JWKS, and checks RFC 9068's header
// and claims, the custom claims, permissions, organizations, the ID token
// and /userinfo.
func TestAccessTokens(t *testing.T) {
	e := start(t, options{})
	set := e.fetchJWKS(t)
	alicePW := testkit.DemoUser(t, alice).Password

	t.Run("alice with openid and an organization", func(t *testing.T) {
		before := time.Now().Unix()
		tr := e.login(t, alice, alicePW, "scope", "openid read:orders", "organization", "org_acme")
		if tr.Scope != "openid read:orders" {
			t.Errorf("response scope = %q", tr.Scope)
		}
		header, claims := verifyJWT(t, set, tr.AccessToken, e.issuer, apiAudience)
		if header["typ"] != "at+jwt" {
			t.Errorf("typ = %v, want at+jwt", header["typ"])
		}
		if kid, _ := header["kid"].(string); kid == "" {
			t.Error("no kid in the header")
		}
		want := map[string]any{
			"iss":         e.issuer,
			"sub":         "1",
			"client_id":   webClient,
			"scope":       "openid read:orders",
			"org_id":      "org_acme",
			"org_name":    "Acme Corp",
			rolesClaim:    []any{"admin", "editor"},
			orgClaim:      "org_acme",
			cityClaim:     "Lisbon",
			adminClaim:    true,
			"permissions": []any{"delete:orders", "read:orders", "read:reports", "write:orders"},
		}
		for name, w := range want {
			if !reflect.DeepEqual(claims[name], w) {
				t.Errorf("claim %s = %#v, want %#v", name, claims[name], w)
			}
		}
		if aud := audiences(claims); !slices.Equal(aud, []string{apiAudience}) {
			t.Errorf("aud = %v, want [%s]", aud, apiAudience)
		}
		if jti, _ := claims["jti"].(string); len(jti) < 16 {
			t.Errorf("jti = %q, want a random id", jti)
		}
		iat, _ := claims["iat"].(float64)
		exp, _ := claims["exp"].(float64)
		if int64(iat) < before-5 || int64(iat) > time.Now().Unix()+5 {
			t.Errorf("iat = %v, not now", iat)
		}
		if int64(exp-iat) != tr.ExpiresIn || tr.ExpiresIn != 3600 {
			t.Errorf("exp-iat = %v, expires_in = %d, want 3600 (default access_token_ttl)", exp-iat, tr.ExpiresIn)
		}
		if _, has := claims[nickClaim]; has {
			t.Errorf("the id_claim %s is in the access token", nickClaim)
		}

		if tr.IDToken == "" {
			t.Fatal("no id_token with openid")
		}
		_, id := verifyJWT(t, set, tr.IDToken, e.issuer, webClient)
		if id["sub"] != "1" || id[nickClaim] != "alice" {
			t.Errorf("ID token sub = %v, %s = %v; want 1 and alice", id["sub"], nickClaim, id[nickClaim])
		}
		if aud := audiences(id); !slices.Equal(aud, []string{webClient}) {
			t.Errorf("ID token aud = %v, want [%s]", aud, webClient)
		}
	})

	t.Run("dave without roles or metadata", func(t *testing.T) {
		tr := e.login(t, dave, testkit.DemoUser(t, dave).Password)
		if tr.IDToken != "" {
			t.Error("id_token without openid")
		}
		_, claims := verifyJWT(t, set, tr.AccessToken, e.issuer, apiAudience)
		if p, ok := claims["permissions"].([]any); !ok || len(p) != 0 {
			t.Errorf("permissions = %#v, want []", claims["permissions"])
		}
		if r, ok := claims[rolesClaim].([]any); !ok || len(r) != 0 {
			t.Errorf("%s = %#v, want []", rolesClaim, claims[rolesClaim])
		}
		if claims[adminClaim] != false {
			t.Errorf("%s = %#v, want false", adminClaim, claims[adminClaim])
		}
		// NULL metadata: the claims that read it are left out.
		for _, name := range []string{orgClaim, cityClaim, "org_id", "org_name"} {
			if v, has := claims[name]; has {
				t.Errorf("claim %s = %#v, want it left out", name, v)
			}
		}
	})

	t.Run("audience and jti", func(t *testing.T) {
		a := e.login(t, bob, testkit.DemoUser(t, bob).Password, "audience", reportsAudience)
		b := e.login(t, bob, testkit.DemoUser(t, bob).Password, "audience", reportsAudience)
		_, ca := verifyJWT(t, set, a.AccessToken, e.issuer, reportsAudience)
		_, cb := verifyJWT(t, set, b.AccessToken, e.issuer, reportsAudience)
		if ca["jti"] == cb["jti"] {
			t.Errorf("two logins share jti %v", ca["jti"])
		}
		if ca["sub"] != "2" {
			t.Errorf("sub = %v, want 2", ca["sub"])
		}
	})

	t.Run("ID token with the public client", func(t *testing.T) {
		resp := e.postForm(form("grant_type", "password", "client_id", spaClient, "username", carol,
			"password", testkit.DemoUser(t, carol).Password, "scope", "openid profile email"))
		tr := decodeToken(t, resp)
		_, id := verifyJWT(t, set, tr.IDToken, e.issuer, spaClient)
		if id["sub"] != "3" {
			t.Errorf("sub = %v, want 3", id["sub"])
		}
	})

	t.Run("userinfo", func(t *testing.T) {
		tr := e.login(t, alice, alicePW, "scope", "openid profile email")
		resp := e.get(e.base, "/userinfo", tr.AccessToken)
		if resp.status != http.StatusOK {
			t.Fatalf("GET /userinfo with a token: %s", resp)
		}
		var info map[string]any
		if err := json.Unmarshal(resp.body, &info); err != nil {
			t.Fatal(err)
		}
		if info["sub"] != "1" {
			t.Errorf("userinfo sub = %v, want 1", info["sub"])
		}
		if email, has := info["email"]; has && email != alice {
			t.Errorf("userinfo email = %v", email)
		}
		for _, name := range []string{"password_hash", "password"} {
			if _, has := info[name]; has {
				t.Errorf("userinfo leaks %s", name)
			}
		}

		for name, tok := range map[string]string{"no token": "", "garbage": "not-a-token", "ID token": tr.IDToken} {
			resp := e.get(e.base, "/userinfo", tok)
			if resp.status != http.StatusUnauthorized {
				t.Errorf("%s: got %s, want 401", name, resp)
			}
			if got := resp.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("%s: WWW-Authenticate = %q, want Bearer", name, got)
			}
		}
	})
}

// audiences reads aud, a string or a list.
func audiences(claims jwt.MapClaims) []string {
	aud, _ := claims.GetAudience()
	return aud
}

// TestSigningKeys logs in with each signing algorithm and verifies the token
// from the served JWKS, then through claimgate_verify.
func TestSigningKeys(t *testing.T) {
	cases := []struct {
		line, alg, kty string
	}{
		{"", "RS256", "RSA"},
		{"signing_key ES256", "ES256", "EC"},
		{"signing_key EdDSA", "EdDSA", "OKP"},
	}
	for _, tc := range cases {
		t.Run(tc.alg, func(t *testing.T) {
			e := start(t, options{SigningKey: tc.line})
			set := e.fetchJWKS(t)
			for _, k := range set.Keys {
				if k.Alg != tc.alg || k.Kty != tc.kty {
					t.Errorf("served key %s is %s/%s, want %s/%s", k.Kid, k.Kty, k.Alg, tc.kty, tc.alg)
				}
			}
			algs := stringList(e.discovery(t, "/.well-known/openid-configuration")["id_token_signing_alg_values_supported"])
			if !slices.Contains(algs, tc.alg) {
				t.Errorf("id_token_signing_alg_values_supported = %v, want %s", algs, tc.alg)
			}

			tr := e.login(t, alice, testkit.DemoUser(t, alice).Password, "scope", "openid")
			header, _ := verifyJWT(t, set, tr.AccessToken, e.issuer, apiAudience)
			if header["alg"] != tc.alg {
				t.Errorf("alg = %v, want %s", header["alg"], tc.alg)
			}
			verifyJWT(t, set, tr.IDToken, e.issuer, webClient)

			resp := e.get(e.base, "/api/orders", tr.AccessToken)
			if resp.status != http.StatusOK {
				t.Fatalf("claimgate_verify: %s", resp)
			}
			if _, h := e.upstream.received(); h.Get("X-User-Id") != "1" {
				t.Errorf("upstream X-User-Id = %q, want 1", h.Get("X-User-Id"))
			}
		})
	}
}
