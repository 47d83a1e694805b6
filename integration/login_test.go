package integration

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/claimgate/claimgate/internal/testkit"
)

// passwordForm is a web-backend password grant (client_secret_post) for
// username/password, with extra parameters appended.
func passwordForm(username, password string, extra ...string) string {
	return form(append([]string{"grant_type", "password", "client_id", webClient, "client_secret", webSecret,
		"username", username, "password", password}, extra...)...)
}

// TestLogin covers the token endpoint: the grants, body formats and
// client authentication methods that succeed, and every error row in the
// order they are checked in. One Caddy config serves all subtests.
func TestLogin(t *testing.T) {
	e := start(t, options{})
	alicePW := testkit.DemoUser(t, alice).Password

	t.Run("success", func(t *testing.T) { testLoginSuccess(t, e, alicePW) })
	t.Run("hash formats", func(t *testing.T) { testHashFormats(t, e) })
	t.Run("errors", func(t *testing.T) { testLoginErrors(t, e, alicePW) })
	t.Run("error order", func(t *testing.T) { testLoginErrorOrder(t, e, alicePW) })
	t.Run("uniform bad credentials", func(t *testing.T) { testUniformBadCredentials(t, e, alicePW) })
	t.Run("other paths", func(t *testing.T) { testOtherPaths(t, e) })
	t.Run("revoke", func(t *testing.T) { testRevoke(t, e) })
}

// testRevoke checks RFC 7009's answers: 200 with an empty body, also for a
// token nobody issued.
func testRevoke(t *testing.T, e *env) {
	revoke := func(body string, header ...string) response {
		h := headers(header...)
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		return e.do(e.base, request{method: http.MethodPost, path: "/oauth/revoke", body: body, header: h})
	}
	for name, resp := range map[string]response{
		"unknown token, post": revoke(form("token", "no-such-token", "client_id", webClient, "client_secret", webSecret)),
		"unknown token, Basic": revoke(form("token", "no-such-token", "token_type_hint", "refresh_token"),
			"Authorization", testkit.BasicAuth(webClient, webSecret)),
		"an access token": revoke(form("token", e.login(t, alice, testkit.DemoUser(t, alice).Password).AccessToken,
			"client_id", webClient, "client_secret", webSecret)),
	} {
		if resp.status != http.StatusOK || len(resp.body) != 0 {
			t.Errorf("%s: got %s, want 200 with an empty body", name, resp)
		}
	}
	if resp := revoke(form("token", "x", "client_id", webClient, "client_secret", "wrong")); resp.status != http.StatusUnauthorized {
		t.Errorf("wrong client secret: got %s, want 401", resp)
	}
	resp := e.get(e.base, "/oauth/revoke", "")
	if resp.status != http.StatusMethodNotAllowed || resp.header.Get("Allow") != "POST" {
		t.Errorf("GET /oauth/revoke: got %s (Allow %q), want 405 with Allow: POST", resp, resp.header.Get("Allow"))
	}
}

func testLoginSuccess(t *testing.T, e *env, alicePW string) {
	aliceJSON := map[string]string{
		"grant_type": "password", "client_id": webClient, "client_secret": webSecret,
		"username": alice, "password": alicePW,
	}
	cases := []struct {
		name      string
		send      func() response
		wantScope string // "" means the scope member must be absent
	}{
		{"form, client_secret_post", func() response {
			return e.postForm(passwordForm(alice, alicePW))
		}, ""},
		{"form with charset", func() response {
			return e.do(e.base, request{method: http.MethodPost, path: "/oauth/token", body: passwordForm(alice, alicePW),
				header: headers("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")})
		}, ""},
		{"JSON, client_secret_post", func() response { return e.postJSON(aliceJSON) }, ""},
		{"form, client_secret_basic", func() response {
			return e.postForm(form("grant_type", "password", "username", alice, "password", alicePW),
				"Authorization", testkit.BasicAuth(webClient, webSecret))
		}, ""},
		{"JSON, client_secret_basic", func() response {
			return e.postJSON(map[string]string{"grant_type": "password", "username": alice, "password": alicePW},
				"Authorization", testkit.BasicAuth(webClient, webSecret))
		}, ""},
		{"Basic with client_id also in the body", func() response {
			return e.postForm(form("grant_type", "password", "client_id", webClient, "username", alice, "password", alicePW),
				"Authorization", testkit.BasicAuth(webClient, webSecret))
		}, ""},
		{"secret with reserved characters, Basic (form-urlencoded inside)", func() response {
			return e.postForm(form("grant_type", "password", "username", alice, "password", alicePW),
				"Authorization", testkit.BasicAuth(oddClient, oddSecret))
		}, ""},
		{"secret with reserved characters, post", func() response {
			return e.postForm(form("grant_type", "password", "client_id", oddClient, "client_secret", oddSecret,
				"username", alice, "password", alicePW))
		}, ""},
		{"public client", func() response {
			return e.postForm(form("grant_type", "password", "client_id", spaClient, "username", alice, "password", alicePW))
		}, ""},
		{"password-realm with the database name", func() response {
			return e.postForm(form("grant_type", "http://auth0.com/oauth/grant-type/password-realm", "realm", realm,
				"client_id", webClient, "client_secret", webSecret, "username", alice, "password", alicePW))
		}, ""},
		{"password-realm without realm", func() response {
			return e.postForm(form("grant_type", "http://auth0.com/oauth/grant-type/password-realm",
				"client_id", webClient, "client_secret", webSecret, "username", alice, "password", alicePW))
		}, ""},
		{"API scopes", func() response {
			return e.postForm(passwordForm(alice, alicePW, "scope", "read:orders write:orders"))
		}, "read:orders write:orders"},
		{"second audience", func() response {
			return e.postForm(passwordForm(alice, alicePW, "audience", reportsAudience, "scope", "read:orders"))
		}, "read:orders"},
		{"unknown parameters are ignored", func() response {
			return e.postForm(passwordForm(alice, alicePW, "device", "x", "connection", "y"))
		}, ""},
		{"body of exactly 16 KiB", func() response {
			body := passwordForm(alice, alicePW, "padding", "")
			body += strings.Repeat("x", 16<<10-len(body))
			return e.postForm(body)
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.send()
			if resp.status != http.StatusOK {
				t.Fatalf("got %s, want 200", resp)
			}
			wantNoStore(t, resp)
			if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			decodeToken(t, resp)
			var raw map[string]any
			if err := json.Unmarshal(resp.body, &raw); err != nil {
				t.Fatal(err)
			}
			scope, has := raw["scope"]
			switch {
			case tc.wantScope == "" && has:
				t.Errorf("scope = %v, want it left out when no scope was granted", scope)
			case tc.wantScope != "" && scope != tc.wantScope:
				t.Errorf("scope = %v, want %q", scope, tc.wantScope)
			}
			if _, has := raw["id_token"]; has {
				t.Error("id_token without openid")
			}
			if _, has := raw["refresh_token"]; has {
				t.Error("refresh_token without offline_access")
			}
		})
	}
}

// testHashFormats logs in each demo user whose hash has another format.
func testHashFormats(t *testing.T, e *env) {
	for _, email := range []string{alice, bob, carol, dave} {
		u := testkit.DemoUser(t, email)
		t.Run(u.Scheme+" "+u.PasswordHash[:4], func(t *testing.T) {
			tr := e.login(t, u.Email, u.Password)
			_, claims := testkit.JWTParts(t, tr.AccessToken)
			if claims["sub"] != itoa(u.ID) {
				t.Errorf("sub = %v, want %d", claims["sub"], u.ID)
			}
		})
	}
	t.Run("bcrypt password of exactly 72 bytes", func(t *testing.T) {
		e.login(t, longpw, longPassword)
	})
}

// errorCase is one request the token endpoint must refuse.
type errorCase struct {
	name   string
	send   func() response
	status int
	code   string // "" skips the error check (405)
	desc   string // checked when not empty
	// notDesc, when not empty, is a description the answer must not have.
	notDesc string
	header  map[string]string
}

func (tc errorCase) check(t *testing.T) {
	t.Helper()
	resp := tc.send()
	if resp.status != tc.status {
		t.Fatalf("got %s, want %d %s", resp, tc.status, tc.code)
	}
	wantNoStore(t, resp)
	if tc.code != "" {
		got := resp.oauthError(t)
		if got.Error != tc.code {
			t.Errorf("error = %q, want %q (body %s)", got.Error, tc.code, resp.body)
		}
		if tc.desc != "" && got.Description != tc.desc {
			t.Errorf("error_description = %q, want %q", got.Description, tc.desc)
		}
		if tc.notDesc != "" && got.Description == tc.notDesc {
			t.Errorf("error_description = %q: a later check answered", got.Description)
		}
	}
	for name, want := range tc.header {
		got := resp.header.Get(name)
		if want == "" && got != "" {
			t.Errorf("%s = %q, want none", name, got)
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func testLoginErrors(t *testing.T, e *env, alicePW string) {
	post := func(body string, header ...string) func() response {
		return func() response { return e.postForm(body, header...) }
	}
	postType := func(contentType, body string) func() response {
		return func() response {
			return e.do(e.base, request{method: http.MethodPost, path: "/oauth/token", body: body,
				header: headers("Content-Type", contentType)})
		}
	}
	method := func(m string) func() response {
		return func() response {
			return e.do(e.base, request{method: m, path: "/oauth/token", body: passwordForm(alice, alicePW),
				header: headers("Content-Type", "application/x-www-form-urlencoded")})
		}
	}
	big := passwordForm(alice, alicePW, "padding", strings.Repeat("x", 16<<10))
	oneOver := passwordForm(alice, alicePW, "padding", "")
	oneOver += strings.Repeat("x", 16<<10+1-len(oneOver))
	realmGrant := "http://auth0.com/oauth/grant-type/password-realm"

	cases := []errorCase{
		// method
		{name: "GET", send: method(http.MethodGet), status: 405, header: map[string]string{"Allow": "POST"}},
		{name: "PUT", send: method(http.MethodPut), status: 405, header: map[string]string{"Allow": "POST"}},
		// body size
		{name: "body one byte over 16 KiB", send: post(oneOver), status: 413, code: "invalid_request"},
		{name: "body over 16 KiB", send: post(big), status: 413, code: "invalid_request"},
		{name: "body over 16 KiB, chunked", send: func() response {
			return e.do(e.base, request{method: http.MethodPost, path: "/oauth/token", body: big, contentLength: -1,
				header: headers("Content-Type", "application/x-www-form-urlencoded")})
		}, status: 413, code: "invalid_request"},
		{name: "JSON body over 16 KiB", send: func() response {
			return e.postJSON(map[string]string{"grant_type": "password", "client_id": webClient,
				"client_secret": webSecret, "username": alice, "password": strings.Repeat("p", 17<<10)})
		}, status: 413, code: "invalid_request"},
		// body syntax and duplicated parameters
		{name: "broken JSON", send: postType("application/json", `{"grant_type":"password","username":`),
			status: 400, code: "invalid_request"},
		{name: "JSON array", send: postType("application/json", `["password"]`), status: 400, code: "invalid_request"},
		{name: "JSON number value", send: func() response {
			return e.postJSON(`{"grant_type":"password","client_id":"web-backend","client_secret":"web-secret","username":"alice@example.test","password":12345}`)
		}, status: 400, code: "invalid_request"},
		{name: "JSON trailing data", send: func() response {
			return e.postJSON(`{"grant_type":"password"} {"x":"y"}`)
		}, status: 400, code: "invalid_request"},
		{name: "JSON duplicated key", send: func() response {
			return e.postJSON(`{"grant_type":"password","client_id":"web-backend","client_secret":"web-secret","username":"bob@example.test","username":"alice@example.test","password":"` + alicePW + `"}`)
		}, status: 400, code: "invalid_request"},
		{name: "form duplicated username", send: post(passwordForm(alice, alicePW, "username", bob)),
			status: 400, code: "invalid_request"},
		{name: "form duplicated grant_type, same value", send: post(passwordForm(alice, alicePW, "grant_type", "password")),
			status: 400, code: "invalid_request"},
		{name: "form duplicated client_secret", send: post(passwordForm(alice, alicePW, "client_secret", "guess")),
			status: 400, code: "invalid_request"},
		{name: "text/plain", send: postType("text/plain", passwordForm(alice, alicePW)), status: 400, code: "invalid_request"},
		{name: "no Content-Type", send: postType("", passwordForm(alice, alicePW)), status: 400, code: "invalid_request"},
		{name: "multipart/form-data", send: postType("multipart/form-data; boundary=x",
			"--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\npassword\r\n--x--\r\n"),
			status: 400, code: "invalid_request"},
		{name: "charset ISO-8859-1", send: postType("application/x-www-form-urlencoded; charset=ISO-8859-1",
			passwordForm(alice, alicePW)), status: 400, code: "invalid_request"},
		{name: "non-UTF-8 username, form", send: post("grant_type=password&client_id=web-backend&client_secret=web-secret" +
			"&username=alice%FF%FE%40example.test&password=x"), status: 400, code: "invalid_request"},
		{name: "non-UTF-8 username, JSON", send: func() response {
			return e.postJSON("{\"grant_type\":\"password\",\"client_id\":\"web-backend\",\"client_secret\":\"web-secret\"," +
				"\"username\":\"alice\xff@example.test\",\"password\":\"x\"}")
		}, status: 400, code: "invalid_request"},
		{name: "malformed percent-encoding", send: post("grant_type=password&username=%zz&password=x"),
			status: 400, code: "invalid_request"},
		// grant type
		{name: "missing grant_type", send: post(form("client_id", webClient, "client_secret", webSecret,
			"username", alice, "password", alicePW)), status: 400, code: "invalid_request"},
		{name: "implicit", send: post(form("grant_type", "implicit", "client_id", webClient,
			"client_secret", webSecret)), status: 400, code: "unsupported_grant_type"},
		// A known grant this client was not given.
		{name: "authorization_code", send: post(form("grant_type", "authorization_code", "client_id", webClient,
			"client_secret", webSecret, "code", "x")), status: 400, code: "unauthorized_client"},
		{name: "grant type in another case", send: post(form("grant_type", "PASSWORD", "client_id", webClient,
			"client_secret", webSecret, "username", alice, "password", alicePW)), status: 400, code: "unsupported_grant_type"},
		// client authentication
		{name: "unknown client, post", send: post(form("grant_type", "password", "client_id", "nobody",
			"client_secret", webSecret, "username", alice, "password", alicePW)),
			status: 401, code: "invalid_client", header: map[string]string{"WWW-Authenticate": ""}},
		{name: "wrong secret, post", send: post(form("grant_type", "password", "client_id", webClient,
			"client_secret", "wrong", "username", alice, "password", alicePW)),
			status: 401, code: "invalid_client", header: map[string]string{"WWW-Authenticate": ""}},
		{name: "secret of another client, post", send: post(form("grant_type", "password", "client_id", webClient,
			"client_secret", m2mSecret, "username", alice, "password", alicePW)), status: 401, code: "invalid_client"},
		{name: "missing secret of a confidential client", send: post(form("grant_type", "password",
			"client_id", webClient, "username", alice, "password", alicePW)), status: 401, code: "invalid_client"},
		{name: "missing client_id", send: post(form("grant_type", "password", "username", alice, "password", alicePW)),
			status: 401, code: "invalid_client"},
		{name: "public client sending a secret", send: post(form("grant_type", "password", "client_id", spaClient,
			"client_secret", "anything", "username", alice, "password", alicePW)), status: 401, code: "invalid_client"},
		{name: "wrong secret, Basic", send: post(form("grant_type", "password", "username", alice, "password", alicePW),
			"Authorization", testkit.BasicAuth(webClient, "wrong")),
			status: 401, code: "invalid_client", header: map[string]string{"WWW-Authenticate": "Basic"}},
		{name: "unknown client, Basic", send: post(form("grant_type", "password", "username", alice, "password", alicePW),
			"Authorization", testkit.BasicAuth("nobody", webSecret)),
			status: 401, code: "invalid_client", header: map[string]string{"WWW-Authenticate": "Basic"}},
		{name: "malformed Basic", send: post(form("grant_type", "password", "username", alice, "password", alicePW),
			"Authorization", "Basic %%%not-base64"),
			status: 401, code: "invalid_client", header: map[string]string{"WWW-Authenticate": "Basic"}},
		{name: "odd secret unencoded in Basic", send: post(form("grant_type", "password", "username", alice, "password", alicePW),
			"Authorization", "Basic "+b64std(oddClient+":"+oddSecret)),
			status: 401, code: "invalid_client", header: map[string]string{"WWW-Authenticate": "Basic"}},
		{name: "Basic and client_secret together", send: post(form("grant_type", "password", "client_secret", webSecret,
			"username", alice, "password", alicePW), "Authorization", testkit.BasicAuth(webClient, webSecret)),
			status: 400, code: "invalid_request"},
		{name: "Basic for one client, client_id of another", send: post(form("grant_type", "password", "client_id", spaClient,
			"username", alice, "password", alicePW), "Authorization", testkit.BasicAuth(webClient, webSecret)),
			status: 400, code: "invalid_request"},
		// grant allowed for the client
		{name: "client without the password grant", send: post(form("grant_type", "password", "client_id", m2mClient,
			"client_secret", m2mSecret, "username", alice, "password", alicePW)), status: 400, code: "unauthorized_client"},
		{name: "client without the password grant, password-realm", send: post(form("grant_type", realmGrant,
			"client_id", m2mClient, "client_secret", m2mSecret, "username", alice, "password", alicePW)),
			status: 400, code: "unauthorized_client"},
		// required parameters
		{name: "missing username", send: post(form("grant_type", "password", "client_id", webClient,
			"client_secret", webSecret, "password", alicePW)), status: 400, code: "invalid_request"},
		{name: "missing password", send: post(form("grant_type", "password", "client_id", webClient,
			"client_secret", webSecret, "username", alice)), status: 400, code: "invalid_request"},
		{name: "empty username", send: post(passwordForm("", alicePW)), status: 400, code: "invalid_request"},
		{name: "empty password", send: post(passwordForm(alice, "")), status: 400, code: "invalid_request"},
		{name: "empty JSON strings", send: func() response {
			return e.postJSON(map[string]string{"grant_type": "password", "client_id": webClient,
				"client_secret": webSecret, "username": "", "password": ""})
		}, status: 400, code: "invalid_request"},
		// realm
		{name: "unknown realm", send: post(form("grant_type", realmGrant, "realm", "Other-Connection",
			"client_id", webClient, "client_secret", webSecret, "username", alice, "password", alicePW)),
			status: 400, code: "invalid_request"},
		{name: "realm in another case", send: post(form("grant_type", realmGrant, "realm", strings.ToLower(realm),
			"client_id", webClient, "client_secret", webSecret, "username", alice, "password", alicePW)),
			status: 400, code: "invalid_request"},
		// audience
		{name: "audience not allowed", send: post(passwordForm(alice, alicePW, "audience", "https://evil.example.test")),
			status: 400, code: "invalid_target"},
		{name: "audience of another client only", send: func() response {
			return e.postForm(form("grant_type", "password", "client_id", oddClient, "client_secret", oddSecret,
				"username", alice, "password", alicePW, "audience", reportsAudience))
		}, status: 400, code: "invalid_target"},
		// scope
		{name: "unknown scope", send: post(passwordForm(alice, alicePW, "scope", "read:orders admin:everything")),
			status: 400, code: "invalid_scope"},
		{name: "API scope the client lacks", send: post(form("grant_type", "password", "client_id", spaClient,
			"username", alice, "password", alicePW, "scope", "read:orders")), status: 400, code: "invalid_scope"},
		{name: "offline_access without the refresh_token grant", send: post(form("grant_type", "password",
			"client_id", spaClient, "username", alice, "password", alicePW, "scope", "openid offline_access")),
			status: 400, code: "invalid_scope"},
		// organization membership and deny rules
		{name: "organization the user is not in", send: post(passwordForm(alice, alicePW, "organization", "org_globex")),
			status: 403, code: "access_denied"},
		{name: "unknown organization", send: post(passwordForm(alice, alicePW, "organization", "org_nope")),
			status: 403, code: "access_denied"},
		{name: "SQL in organization", send: post(passwordForm(alice, alicePW, "organization", "x' OR '1'='1")),
			status: 403, code: "access_denied"},
		{name: "deny rule", send: post(passwordForm(frank, testkit.DemoUser(t, frank).Password)),
			status: 403, code: "access_denied", desc: denyMessage},
		{name: "deny rule that fails to evaluate (fail closed)", send: post(passwordForm(errdeny, alicePW)),
			status: 403, code: "access_denied", notDesc: "Never shown: the rule errors."},
		// claims size limit
		{name: "custom claims over 16 KiB", send: post(passwordForm(bigclaims, alicePW)),
			status: 500, code: "server_error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.check)
	}
}

// testLoginErrorOrder sends requests with two faults: the one checked
// first must answer.
func testLoginErrorOrder(t *testing.T, e *env, alicePW string) {
	post := func(kv ...string) func() response {
		return func() response { return e.postForm(form(kv...)) }
	}
	cases := []errorCase{
		{name: "body size before grant type", send: func() response {
			return e.postForm(form("grant_type", "nope", "padding", strings.Repeat("x", 17<<10)))
		}, status: 413, code: "invalid_request"},
		{name: "duplicate before grant type", send: post("grant_type", "nope", "grant_type", "nope"),
			status: 400, code: "invalid_request"},
		{name: "grant type before client", send: post("grant_type", "implicit", "client_id", "nobody"),
			status: 400, code: "unsupported_grant_type"},
		{name: "client before grant allowed", send: post("grant_type", "password", "client_id", m2mClient,
			"client_secret", "wrong", "username", alice, "password", alicePW), status: 401, code: "invalid_client"},
		{name: "client before required parameters", send: post("grant_type", "password", "client_id", "nobody"),
			status: 401, code: "invalid_client"},
		{name: "grant allowed before required parameters", send: post("grant_type", "password",
			"client_id", m2mClient, "client_secret", m2mSecret), status: 400, code: "unauthorized_client"},
		{name: "required parameters before audience", send: post("grant_type", "password", "client_id", webClient,
			"client_secret", webSecret, "username", alice, "audience", "https://evil.example.test"),
			status: 400, code: "invalid_request"},
		{name: "realm before audience", send: post("grant_type", "http://auth0.com/oauth/grant-type/password-realm",
			"realm", "nope", "client_id", webClient, "client_secret", webSecret, "username", alice, "password", alicePW,
			"audience", "https://evil.example.test"), status: 400, code: "invalid_request"},
		{name: "audience before scope", send: post("grant_type", "password", "client_id", webClient,
			"client_secret", webSecret, "username", alice, "password", alicePW,
			"audience", "https://evil.example.test", "scope", "nope"), status: 400, code: "invalid_target"},
		{name: "scope before credentials", send: post("grant_type", "password", "client_id", webClient,
			"client_secret", webSecret, "username", alice, "password", "wrong", "scope", "nope"),
			status: 400, code: "invalid_scope"},
		{name: "credentials before organization", send: post("grant_type", "password", "client_id", webClient,
			"client_secret", webSecret, "username", alice, "password", "wrong", "organization", "org_globex"),
			status: 400, code: "invalid_grant", desc: wrongCredentials},
		{name: "credentials before deny rules", send: post("grant_type", "password", "client_id", webClient,
			"client_secret", webSecret, "username", frank, "password", "wrong"),
			status: 400, code: "invalid_grant", desc: wrongCredentials},
		{name: "blocked user before organization", send: post("grant_type", "password", "client_id", webClient,
			"client_secret", webSecret, "username", eve, "password", testkit.DemoUser(t, eve).Password, "organization", "org_globex"),
			status: 400, code: "invalid_grant", desc: wrongCredentials},
		{name: "organization before deny rules", send: post("grant_type", "password", "client_id", webClient,
			"client_secret", webSecret, "username", frank, "password", testkit.DemoUser(t, frank).Password,
			"organization", "org_acme"), status: 403, code: "access_denied", notDesc: denyMessage},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.check)
	}
}

// testUniformBadCredentials checks that every bad-credentials case answers
// the same bytes: nothing tells an unknown user from a wrong password or a
// blocked account.
func testUniformBadCredentials(t *testing.T, e *env, alicePW string) {
	cases := []struct{ name, username, password string }{
		{"unknown user", "nobody@example.test", alicePW},
		{"wrong password", alice, "correct horse battery stapler"},
		{"password in another case", alice, strings.ToUpper(alicePW)},
		{"blocked user, right password", eve, testkit.DemoUser(t, eve).Password},
		{"bcrypt password over 72 bytes (73, first 72 right)", longpw, longPassword + "X"},
		{"bcrypt password over 72 bytes (alice)", alice, alicePW + strings.Repeat("!", 73)},
		{"unknown hash format", plain, plainPassword},
		{"SQL: quote OR", "' OR '1'='1", "' OR '1'='1"},
		{"SQL: comment", alice + "' -- ", alicePW},
		{"SQL: union", "x' UNION SELECT 1,2,3,4,5,6,7,8,9,10,11 -- ", alicePW},
		{"SQL: wildcard", "%@example.test", alicePW},
		{"SQL: backslash", `alice@example.test\`, alicePW},
		{"username with NUL", "alice@example.test\x00", alicePW},
		{"username with CR/LF", "alice@example.test\r\nX: y", alicePW},
		{"username of 4 KiB", strings.Repeat("a", 4096) + "@example.test", alicePW},
		// Not "ålice": MariaDB's default collations are accent-insensitive,
		// so that one is alice there (the customer's user_query decides).
		{"unicode username", "алиса@example.test", alicePW},
		{"argon2id user, wrong password", bob, "hunter2"},
		{"pbkdf2 user, wrong password", dave, "dave"},
		{"$2y$ user, wrong password", carol, "carol"},
	}
	var first []byte
	var firstHeader http.Header
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.postForm(passwordForm(tc.username, tc.password))
			if resp.status != http.StatusBadRequest {
				t.Fatalf("got %s, want 400 invalid_grant", resp)
			}
			wantNoStore(t, resp)
			got := resp.oauthError(t)
			if got.Error != "invalid_grant" || got.Description != wrongCredentials {
				t.Errorf("got %s, want invalid_grant %q", resp.body, wrongCredentials)
			}
			if first == nil {
				first, firstHeader = resp.body, resp.header
				return
			}
			if !bytes.Equal(resp.body, first) {
				t.Errorf("body %q differs from the first case's %q", resp.body, first)
			}
			if diff := headerDiff(firstHeader, resp.header, "Date"); diff != "" {
				t.Errorf("headers differ from the first case's: %s", diff)
			}
		})
	}
}

// headerDiff describes how b differs from a, ignoring the named headers.
func headerDiff(a, b http.Header, ignore ...string) string {
	var diffs []string
	skip := make(map[string]bool)
	for _, n := range ignore {
		skip[http.CanonicalHeaderKey(n)] = true
	}
	for name := range mergeKeys(a, b) {
		if skip[name] {
			continue
		}
		if strings.Join(a[name], ",") != strings.Join(b[name], ",") {
			diffs = append(diffs, name+": "+strings.Join(a[name], ",")+" vs "+strings.Join(b[name], ","))
		}
	}
	return strings.Join(diffs, "; ")
}

func mergeKeys(a, b http.Header) map[string]bool {
	keys := make(map[string]bool)
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}

// testOtherPaths checks that claimgate_login hands every other path to the
// next handler.
func testOtherPaths(t *testing.T, e *env) {
	for _, path := range []string{"/", "/oauth", "/oauth/token/extra", "/oauth/tokens", "/OAUTH/TOKEN", "/.well-known/other", "/app/userinfo"} {
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			resp := e.do(e.base, request{method: m, path: path})
			if resp.status != http.StatusOK || string(resp.body) != nextBody {
				t.Errorf("%s %s: got %s, want the next handler's answer", m, path, resp)
			}
		}
	}
}
