package login

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/testkit"
)

func TestPasswordGrant(t *testing.T) {
	h := newHarness(t, nil)
	before := time.Now().Unix()
	body, raw := expectToken(t, h.form(passwordForm("scope", "read:orders")))

	if body.ExpiresIn != 3600 {
		t.Errorf("expires_in = %d, want 3600", body.ExpiresIn)
	}
	if body.Scope != "read:orders" {
		t.Errorf("scope = %q", body.Scope)
	}
	for _, absent := range []string{"id_token", "refresh_token"} {
		if _, ok := raw[absent]; ok {
			t.Errorf("%s present without its scope", absent)
		}
	}

	header, claims := h.parseJWT(body.AccessToken)
	if header["typ"] != "at+jwt" || header["alg"] != "ES256" || header["kid"] == nil {
		t.Errorf("header = %v", header)
	}
	want := map[string]any{
		"iss": loginIssuer, "sub": "1", "aud": loginAPI, "client_id": webClient, "scope": "read:orders",
		cityClaim: "Lisbon",
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if got := claims[rolesClaim]; !sameStrings(got, []string{"admin", "editor"}) {
		t.Errorf("roles = %v", got)
	}
	if got := claims["permissions"]; !sameStrings(got, []string{"delete:orders", "read:orders", "read:reports", "write:orders"}) {
		t.Errorf("permissions = %v", got)
	}
	iat, exp := claims["iat"].(float64), claims["exp"].(float64)
	if int64(iat) < before || exp-iat != 3600 {
		t.Errorf("iat %v exp %v", iat, exp)
	}
	if jti, _ := claims["jti"].(string); len(jti) < 16 {
		t.Errorf("jti = %q", jti)
	}
	for _, absent := range []string{"org_id", "org_name", idNicknameName, "email"} {
		if _, ok := claims[absent]; ok {
			t.Errorf("claim %s present", absent)
		}
	}

	// A second token has a different jti.
	body2, _ := expectToken(t, h.form(passwordForm()))
	_, claims2 := h.parseJWT(body2.AccessToken)
	if claims2["jti"] == claims["jti"] {
		t.Error("jti repeated")
	}
	if _, ok := claims2["scope"]; ok {
		t.Error("scope claim present though no scope was granted")
	}
}

func sameStrings(got any, want []string) bool {
	list, ok := got.([]any)
	if !ok || len(list) != len(want) {
		return false
	}
	for i, v := range list {
		if v != want[i] {
			return false
		}
	}
	return true
}

// TestTokenErrors covers the token endpoint's error table and its order: each case
// breaks one rule, and those that break two check which one answers.
func TestTokenErrors(t *testing.T) {
	h := newHarness(t, nil)
	big := strings.Repeat("a", maxRequestBody+1)
	basicWeb := clientBasic(webClient, webSecret)
	long := alicePassword + strings.Repeat("!", 73-len(alicePassword)) // 73 bytes, over bcrypt's limit

	tests := []struct {
		name   string
		req    loginRequest
		form   url.Values // when set, sent form-encoded as req's body
		status int
		code   string
		desc   string // when set, the exact error_description
		header [2]string
	}{
		// method
		{name: "GET", req: loginRequest{method: http.MethodGet}, status: 405, code: "invalid_request", header: [2]string{"Allow", "POST"}},
		{name: "PUT before body size", req: loginRequest{method: http.MethodPut, contentType: formType, body: big}, status: 405, code: "invalid_request"},
		// body size
		{name: "body over 16 KiB", req: loginRequest{contentType: formType, body: "grant_type=password&x=" + big}, status: 413, code: "invalid_request"},
		{name: "size before content type", req: loginRequest{contentType: "text/plain", body: big}, status: 413, code: "invalid_request"},
		// body syntax
		{name: "text/plain", req: loginRequest{contentType: "text/plain", body: passwordForm().Encode()}, status: 400, code: "invalid_request"},
		{name: "no content type", req: loginRequest{body: passwordForm().Encode()}, status: 400, code: "invalid_request"},
		{name: "duplicated username", req: loginRequest{contentType: formType, body: passwordForm().Encode() + "&username=bob%40example.test"}, status: 400, code: "invalid_request"},
		{name: "duplicated before grant type", req: loginRequest{contentType: formType, body: "grant_type=x&grant_type=y"}, status: 400, code: "invalid_request"},
		{name: "malformed JSON", req: loginRequest{contentType: jsonType, body: `{"grant_type":"password",`}, status: 400, code: "invalid_request"},
		{name: "JSON number", req: loginRequest{contentType: jsonType, body: `{"grant_type":"password","username":1}`}, status: 400, code: "invalid_request"},
		{name: "JSON duplicate", req: loginRequest{contentType: jsonType, body: `{"grant_type":"password","grant_type":"password"}`}, status: 400, code: "invalid_request"},
		{name: "non-UTF-8 username", req: loginRequest{contentType: formType, body: strings.Replace(passwordForm().Encode(), "alice%40", "%FF%FEalice%40", 1)}, status: 400, code: "invalid_request"},
		// grant type
		{name: "missing grant_type", form: passwordForm("grant_type", ""), status: 400, code: "invalid_request"},
		{name: "unknown grant", form: passwordForm("grant_type", "implicit"), status: 400, code: "unsupported_grant_type"},
		{name: "unknown grant before client", form: passwordForm("grant_type", "urn:ietf:params:oauth:grant-type:device_code", "client_secret", "nope"), status: 400, code: "unsupported_grant_type"},
		// refresh_token grant (more in refresh_test.go)
		{name: "refresh grant not allowed", form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {spaClient}}, status: 400, code: "unauthorized_client"},
		{name: "refresh client before grant", form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {webClient}, "client_secret": {"wrong"}}, status: 401, code: "invalid_client"},
		{name: "missing refresh_token", form: url.Values{"grant_type": {"refresh_token"}, "client_id": {webClient}, "client_secret": {webSecret}}, status: 400, code: "invalid_request"},
		{name: "unknown refresh_token", form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {webClient}, "client_secret": {webSecret}}, status: 400, code: "invalid_grant"},
		// client authentication
		{name: "unknown client", form: passwordForm("client_id", "nobody"), status: 401, code: "invalid_client"},
		{name: "wrong secret", form: passwordForm("client_secret", "wrong"), status: 401, code: "invalid_client"},
		{name: "secret of another client", form: passwordForm("client_secret", m2mSecret), status: 401, code: "invalid_client"},
		{name: "missing secret", form: passwordForm("client_secret", ""), status: 401, code: "invalid_client"},
		{name: "missing client_id", form: passwordForm("client_id", "", "client_secret", ""), status: 401, code: "invalid_client"},
		{name: "public client sends a secret", form: passwordForm("client_id", spaClient, "client_secret", "anything"), status: 401, code: "invalid_client"},
		{name: "client before params", form: passwordForm("client_secret", "wrong", "username", ""), status: 401, code: "invalid_client"},
		{name: "basic wrong secret", form: passwordForm("client_id", "", "client_secret", ""),
			req: loginRequest{header: http.Header{"Authorization": {clientBasic(webClient, "wrong")}}}, status: 401, code: "invalid_client",
			header: [2]string{"WWW-Authenticate", `Basic realm="claimgate"`}},
		{name: "basic unknown client", form: passwordForm("client_id", "", "client_secret", ""),
			req: loginRequest{header: http.Header{"Authorization": {clientBasic("nobody", webSecret)}}}, status: 401, code: "invalid_client",
			header: [2]string{"WWW-Authenticate", `Basic realm="claimgate"`}},
		{name: "basic not URL-encoded", form: passwordForm("client_id", "", "client_secret", ""),
			req: loginRequest{header: http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(webClient+":s3cr%zz"))}}}, status: 401, code: "invalid_client",
			header: [2]string{"WWW-Authenticate", `Basic realm="claimgate"`}},
		{name: "basic malformed", form: passwordForm("client_id", "", "client_secret", ""),
			req: loginRequest{header: http.Header{"Authorization": {"Basic !!!"}}}, status: 401, code: "invalid_client",
			header: [2]string{"WWW-Authenticate", `Basic realm="claimgate"`}},
		{name: "basic and post together", form: passwordForm("client_id", ""),
			req: loginRequest{header: http.Header{"Authorization": {basicWeb}}}, status: 400, code: "invalid_request"},
		{name: "basic and another client_id", form: passwordForm("client_id", spaClient, "client_secret", ""),
			req: loginRequest{header: http.Header{"Authorization": {basicWeb}}}, status: 400, code: "invalid_request"},
		// grant allowed for the client
		{name: "grant not allowed", form: passwordForm("client_id", m2mClient, "client_secret", m2mSecret), status: 400, code: "unauthorized_client"},
		{name: "grant check before params", form: passwordForm("client_id", m2mClient, "client_secret", m2mSecret, "password", ""), status: 400, code: "unauthorized_client"},
		{name: "password-realm needs password grant", form: passwordForm("grant_type", grant.TypePasswordRealm, "client_id", m2mClient, "client_secret", m2mSecret), status: 400, code: "unauthorized_client"},
		// required parameters
		{name: "missing username", form: passwordForm("username", ""), status: 400, code: "invalid_request"},
		{name: "missing password", form: passwordForm("password", ""), status: 400, code: "invalid_request"},
		{name: "params before realm", form: passwordForm("password", "", "grant_type", grant.TypePasswordRealm, "realm", "other"), status: 400, code: "invalid_request", desc: "Missing username or password."},
		// realm
		{name: "wrong realm", form: passwordForm("grant_type", grant.TypePasswordRealm, "realm", "other-db"), status: 400, code: "invalid_request", desc: "Unknown realm."},
		{name: "realm before audience", form: passwordForm("grant_type", grant.TypePasswordRealm, "realm", "other-db", "audience", "https://evil.test"), status: 400, code: "invalid_request"},
		// audience
		{name: "audience not allowed", form: passwordForm("audience", "https://evil.test"), status: 400, code: "invalid_target"},
		{name: "audience of another client only", form: passwordForm("client_id", spaClient, "client_secret", "", "audience", loginAPI2), status: 400, code: "invalid_target"},
		{name: "audience before scope", form: passwordForm("audience", "https://evil.test", "scope", "admin:all"), status: 400, code: "invalid_target"},
		// scope
		{name: "unknown scope", form: passwordForm("scope", "openid admin:all"), status: 400, code: "invalid_scope"},
		{name: "scope of another client", form: passwordForm("client_id", spaClient, "client_secret", "", "scope", "read:orders"), status: 400, code: "invalid_scope"},
		{name: "offline_access without refresh grant", form: passwordForm("client_id", spaClient, "client_secret", "", "scope", "openid offline_access"), status: 400, code: "invalid_scope"},
		{name: "scope before credentials", form: passwordForm("scope", "admin:all", "password", "wrong"), status: 400, code: "invalid_scope"},
		// credentials
		{name: "wrong password", form: passwordForm("password", "wrong"), status: 400, code: "invalid_grant", desc: wrongCredentials},
		{name: "unknown user", form: passwordForm("username", "nobody@example.test"), status: 400, code: "invalid_grant", desc: wrongCredentials},
		{name: "blocked user", form: passwordForm("username", eve, "password", evePassword), status: 400, code: "invalid_grant", desc: wrongCredentials},
		{name: "bcrypt password over 72 bytes", form: passwordForm("password", long), status: 400, code: "invalid_grant", desc: wrongCredentials},
		{name: "SQL in username", form: passwordForm("username", "' OR '1'='1' -- "), status: 400, code: "invalid_grant", desc: wrongCredentials},
		{name: "SQL in username with quote", form: passwordForm("username", `alice@example.test' OR 1=1 #`), status: 400, code: "invalid_grant", desc: wrongCredentials},
		{name: "SQL in password", form: passwordForm("password", "' OR '1'='1"), status: 400, code: "invalid_grant", desc: wrongCredentials},
		{name: "NUL in username", form: passwordForm("username", "alice@example.test\x00"), status: 400, code: "invalid_grant", desc: wrongCredentials},
		{name: "credentials before organization", form: passwordForm("password", "wrong", "organization", "org_globex"), status: 400, code: "invalid_grant"},
		// organization membership
		{name: "not a member", form: passwordForm("organization", "org_globex"), status: 403, code: "access_denied"},
		{name: "unknown organization", form: passwordForm("organization", "org_nope"), status: 403, code: "access_denied"},
		{name: "organization before deny", form: passwordForm("username", frank, "password", frankPassword, "organization", "org_acme"), status: 403, code: "access_denied",
			desc: "The user is not a member of the organization."},
		// deny rules
		{name: "deny rule", form: passwordForm("username", frank, "password", frankPassword), status: 403, code: "access_denied", desc: denyMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			if tt.form != nil {
				req.contentType, req.body = formType, tt.form.Encode()
			}
			w := h.with(t).do(req)
			e := expectError(t, w, tt.status, tt.code)
			if tt.desc != "" && e.Description != tt.desc {
				t.Errorf("error_description = %q, want %q", e.Description, tt.desc)
			}
			if tt.header[0] != "" && w.Header().Get(tt.header[0]) != tt.header[1] {
				t.Errorf("%s = %q, want %q", tt.header[0], w.Header().Get(tt.header[0]), tt.header[1])
			}
			if tt.status != 401 && w.Header().Get("WWW-Authenticate") != "" {
				t.Errorf("WWW-Authenticate on a %d", tt.status)
			}
		})
	}
	if *h.next != 0 {
		t.Errorf("the next handler ran %d times", *h.next)
	}
}

// TestBadCredentialsLookAlike checks that every bad-credentials case gets
// byte-identical answers (status, headers and body).
func TestBadCredentialsLookAlike(t *testing.T) {
	h := newHarness(t, nil)
	long := strings.Repeat("x", 100)
	cases := map[string]url.Values{
		"wrong password": passwordForm("password", "wrong"),
		"unknown user":   passwordForm("username", "nobody@example.test"),
		"blocked user":   passwordForm("username", eve, "password", evePassword),
		"over 72 bytes":  passwordForm("password", long),
		"argon2id wrong": passwordForm("username", bob, "password", "wrong"),
	}
	var first *httptest.ResponseRecorder
	for name, form := range cases {
		w := h.form(form)
		expectError(t, w, 400, "invalid_grant")
		if first == nil {
			first = w
			continue
		}
		if !bytes.Equal(w.Body.Bytes(), first.Body.Bytes()) {
			t.Errorf("%s: body %q differs from %q", name, w.Body, first.Body)
		}
		if !maps.EqualFunc(w.Header(), first.Header(), slices.Equal) {
			t.Errorf("%s: headers %v differ from %v", name, w.Header(), first.Header())
		}
	}
	if want := `{"error":"invalid_grant","error_description":"Wrong email or password."}` + "\n"; first.Body.String() != want {
		t.Errorf("body = %q, want %q", first.Body, want)
	}
	// Usernames appear in logs only as a short hash: people type passwords
	// into the username field.
	if n := h.logs.FilterMessage("login failed").Len(); n != len(cases) {
		t.Errorf("%d failures logged, want %d", n, len(cases))
	}
	for _, e := range h.logs.All() {
		if strings.Contains(e.Message+fmt.Sprint(e.ContextMap()), "nobody@example.test") {
			t.Errorf("log entry %q shows the username", e.Message)
		}
	}
}

func TestAuth0Errors(t *testing.T) {
	h := newHarness(t, func(a *app.App) { a.Errors = "auth0" })
	for _, form := range []url.Values{passwordForm("password", "wrong"), passwordForm("username", "nobody@example.test")} {
		e := expectError(t, h.form(form), 403, "invalid_grant")
		if e.Description != wrongCredentials {
			t.Errorf("error_description = %q", e.Description)
		}
	}
	// Only the bad-credentials case changes.
	expectError(t, h.form(passwordForm("scope", "nope")), 400, "invalid_scope")
}

// TestTokenSuccessVariants covers the accepted forms of a login.
func TestTokenSuccessVariants(t *testing.T) {
	h := newHarness(t, nil)

	t.Run("JSON body and Basic auth", func(t *testing.T) {
		h := h.with(t)
		body, _ := expectToken(t, h.jsonPost(map[string]string{
			"grant_type": "password", "username": alice, "password": alicePassword, "audience": loginAPI2,
		}, "Authorization", clientBasic(webClient, webSecret)))
		_, claims := h.parseJWT(body.AccessToken)
		if claims["aud"] != loginAPI2 || claims["client_id"] != webClient {
			t.Errorf("aud %v client_id %v", claims["aud"], claims["client_id"])
		}
	})
	t.Run("Basic with the same client_id in the body", func(t *testing.T) {
		expectToken(t, h.with(t).form(passwordForm("client_secret", ""), "Authorization", clientBasic(webClient, webSecret)))
	})
	t.Run("JSON with charset", func(t *testing.T) {
		h := h.with(t)
		b, _ := json.Marshal(map[string]string{"grant_type": "password", "username": alice, "password": alicePassword,
			"client_id": webClient, "client_secret": webSecret})
		expectToken(t, h.do(loginRequest{contentType: "application/json; charset=utf-8", body: string(b)}))
	})
	t.Run("password-realm with the database name", func(t *testing.T) {
		expectToken(t, h.with(t).form(passwordForm("grant_type", grant.TypePasswordRealm, "realm", testkit.Realm)))
	})
	t.Run("password-realm without realm", func(t *testing.T) {
		expectToken(t, h.with(t).form(passwordForm("grant_type", grant.TypePasswordRealm)))
	})
	t.Run("public client", func(t *testing.T) {
		h := h.with(t)
		body, _ := expectToken(t, h.form(passwordForm("client_id", spaClient, "client_secret", "", "username", bob, "password", bobPassword)))
		_, claims := h.parseJWT(body.AccessToken)
		if claims["sub"] != "2" || claims["client_id"] != spaClient || claims["aud"] != loginAPI {
			t.Errorf("claims %v", claims)
		}
	})
	t.Run("query parameters are ignored", func(t *testing.T) {
		h := h.with(t)
		w := h.do(loginRequest{path: pathToken + "?username=bob%40example.test&password=x", contentType: formType, body: passwordForm().Encode()})
		body, _ := expectToken(t, w)
		if _, claims := h.parseJWT(body.AccessToken); claims["sub"] != "1" {
			t.Errorf("sub = %v", claims["sub"])
		}
	})
	t.Run("openid profile email", func(t *testing.T) {
		h := h.with(t)
		body, _ := expectToken(t, h.form(passwordForm("scope", "openid profile email write:orders openid")))
		if body.Scope != "openid profile email write:orders" {
			t.Errorf("scope = %q", body.Scope)
		}
		header, id := h.parseJWT(body.IDToken)
		if header["typ"] != "JWT" {
			t.Errorf("ID token typ = %v", header["typ"])
		}
		want := map[string]any{
			"iss": loginIssuer, "sub": "1", "aud": webClient, "email": alice, "email_verified": true,
			"name": "Alice Liddell", "nickname": "alice", "picture": "https://example.test/avatars/alice.png",
			idNicknameName: "alice",
		}
		for k, v := range want {
			if id[k] != v {
				t.Errorf("ID claim %s = %v, want %v", k, id[k], v)
			}
		}
		if _, ok := id["updated_at"]; ok {
			t.Errorf("updated_at = %#v, though user_query has no such column", id["updated_at"])
		}
		// The access token carries the standard claims of the granted
		// scopes (so /userinfo can answer them), but not id_claim rules.
		_, access := h.parseJWT(body.AccessToken)
		if access["email"] != alice || access["email_verified"] != true || access["name"] == nil {
			t.Errorf("access token lacks the granted standard claims: %v", access)
		}
		if _, ok := access[idNicknameName]; ok {
			t.Errorf("access token carries the id_claim %s", idNicknameName)
		}
	})
	t.Run("email scope only", func(t *testing.T) {
		h := h.with(t)
		body, _ := expectToken(t, h.form(passwordForm("scope", "openid email")))
		_, id := h.parseJWT(body.IDToken)
		if id["email"] != alice {
			t.Errorf("email = %v", id["email"])
		}
		if _, ok := id["name"]; ok {
			t.Error("name without the profile scope")
		}
	})
	t.Run("offline_access grants a refresh token", func(t *testing.T) {
		body, _ := expectToken(t, h.with(t).form(passwordForm("scope", "openid offline_access")))
		if body.Scope != "openid offline_access" {
			t.Errorf("scope = %q", body.Scope)
		}
		// 256 random bits, base64url without padding.
		if raw, err := base64.RawURLEncoding.DecodeString(body.RefreshToken); err != nil || len(raw) != 32 {
			t.Errorf("refresh_token %d characters: %v", len(body.RefreshToken), err)
		}
	})
	t.Run("organization", func(t *testing.T) {
		h := h.with(t)
		body, _ := expectToken(t, h.form(passwordForm("organization", "org_acme", "scope", "openid")))
		_, access := h.parseJWT(body.AccessToken)
		_, id := h.parseJWT(body.IDToken)
		for _, claims := range []map[string]any{access, id} {
			if claims["org_id"] != "org_acme" || claims["org_name"] != "Acme Corp" {
				t.Errorf("org claims %v %v", claims["org_id"], claims["org_name"])
			}
		}
	})
	t.Run("PHP bcrypt, no metadata claims", func(t *testing.T) {
		h := h.with(t)
		body, _ := expectToken(t, h.form(passwordForm("username", "carol@example.test", "password", "carol-php-bcrypt")))
		_, claims := h.parseJWT(body.AccessToken)
		if !sameStrings(claims[rolesClaim], []string{"viewer"}) || !sameStrings(claims["permissions"], []string{"read:orders"}) {
			t.Errorf("claims %v", claims)
		}
		if _, ok := claims[cityClaim]; ok {
			t.Error("city claim from empty user_metadata")
		}
	})
	t.Run("Django PBKDF2, no roles", func(t *testing.T) {
		h := h.with(t)
		body, _ := expectToken(t, h.form(passwordForm("username", "dave@example.test", "password", "dave-django-pbkdf2")))
		_, claims := h.parseJWT(body.AccessToken)
		if !sameStrings(claims["permissions"], []string{}) || !sameStrings(claims[rolesClaim], []string{}) {
			t.Errorf("permissions %#v roles %#v", claims["permissions"], claims[rolesClaim])
		}
	})
}

// BenchmarkPasswordGrant is a whole login: parse, client authentication,
// user_query, bcrypt cost 10 (alice's hash), grants, rules, two signatures.
func BenchmarkPasswordGrant(b *testing.B) {
	h := newHarness(b, nil)
	body := passwordForm("scope", "openid").Encode()
	for b.Loop() {
		if w := h.do(loginRequest{contentType: formType, body: body}); w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkRejectedClient is the cost of a request refused before any
// database or hashing work.
func BenchmarkRejectedClient(b *testing.B) {
	h := newHarness(b, nil)
	body := passwordForm("client_secret", "wrong").Encode()
	for b.Loop() {
		if w := h.do(loginRequest{contentType: formType, body: body}); w.Code != http.StatusUnauthorized {
			b.Fatalf("status %d", w.Code)
		}
	}
}
