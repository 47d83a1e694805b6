package login

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/store/storetest"
)

// Browser sign-in clients of these tests.
const (
	appClient      = "web-app" // confidential, code flow
	appSecret      = "web-app-secret"
	appRedirect    = "https://app.example.test/callback"
	appLogout      = "https://app.example.test/"
	pkceClient     = "spa-pkce" // public, code flow
	pkceRedirect   = "http://localhost:5173/callback"
	testVerifier   = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-verifier"
	authOrigin     = "https://auth.example.test"
	browserPageErr = "Wrong email or password."
)

// browserApp adds the code-flow clients to the test app.
func browserApp(a *app.App) {
	a.Clients = append(a.Clients,
		&app.ClientConfig{ID: appClient, Secret: appSecret, Audiences: []string{loginAPI},
			Grants:       []string{"authorization_code", "refresh_token"},
			RedirectURIs: []string{appRedirect}, LogoutRedirectURIs: []string{appLogout}},
		&app.ClientConfig{ID: pkceClient, Audiences: []string{loginAPI},
			Grants:       []string{"authorization_code", "refresh_token"},
			RedirectURIs: []string{pkceRedirect}},
	)
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// browser is a user agent over the harness: it keeps cookies.
type browser struct {
	h       *harness
	cookies map[string]string
	ip      string
}

func newBrowser(h *harness) *browser { return &browser{h: h, cookies: map[string]string{}} }

// do sends a request with the browser's cookies and keeps the ones set.
func (b *browser) do(method, target, body string, header ...string) *httptest.ResponseRecorder {
	b.h.t.Helper()
	hdr := make(http.Header)
	for i := 0; i+1 < len(header); i += 2 {
		hdr.Set(header[i], header[i+1])
	}
	var parts []string
	for k, v := range b.cookies {
		parts = append(parts, k+"="+v)
	}
	if len(parts) > 0 {
		hdr.Set("Cookie", strings.Join(parts, "; "))
	}
	req := loginRequest{method: method, path: target, body: body, header: hdr, ip: b.ip}
	if method == http.MethodPost {
		req.contentType = formType
	}
	w := b.h.do(req)
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return w
}

// authorizeQuery is an authorization request of the public client with
// PKCE, with overrides.
func authorizeQuery(extra ...string) url.Values {
	return testkit.Overrides(url.Values{
		"response_type":         {"code"},
		"client_id":             {pkceClient},
		"redirect_uri":          {pkceRedirect},
		"scope":                 {"openid profile email offline_access"},
		"state":                 {"st-123"},
		"nonce":                 {"n-456"},
		"code_challenge":        {s256(testVerifier)},
		"code_challenge_method": {"S256"},
	}, extra...)
}

var (
	formActionRE = regexp.MustCompile(`action="([^"]+)"`)
	csrfRE       = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
)

// loginForm returns the form's action and token of a login page.
func loginForm(t testing.TB, w *httptest.ResponseRecorder) (action, csrf string) {
	t.Helper()
	body := w.Body.String()
	a, c := formActionRE.FindStringSubmatch(body), csrfRE.FindStringSubmatch(body)
	if a == nil || c == nil {
		t.Fatalf("no login form in the page (status %d): %s", w.Code, testkit.Truncate(body, 400))
	}
	return html.UnescapeString(a[1]), html.UnescapeString(c[1])
}

// signIn runs /authorize and the form post; it returns the post's answer.
func (b *browser) signIn(t testing.TB, q url.Values, user, password string) *httptest.ResponseRecorder {
	t.Helper()
	page := b.do(http.MethodGet, pathAuthorize+"?"+q.Encode(), "")
	if page.Code != http.StatusOK {
		t.Fatalf("authorize: status %d, Location %q", page.Code, page.Header().Get("Location"))
	}
	action, csrf := loginForm(t, page)
	form := url.Values{"csrf_token": {csrf}, "username": {user}, "password": {password}}
	return b.do(http.MethodPost, action, form.Encode(), "Origin", authOrigin, "Sec-Fetch-Site", "same-origin")
}

// codeFrom checks a redirect to redirectURI with a code and the state.
func codeFrom(t testing.TB, w *httptest.ResponseRecorder, redirectURI, state string) string {
	t.Helper()
	if w.Code != http.StatusSeeOther && w.Code != http.StatusFound {
		t.Fatalf("status %d, want a redirect; body %s", w.Code, testkit.Truncate(w.Body.String(), 300))
	}
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirectURI+"?") {
		t.Fatalf("Location %q is not %s", w.Header().Get("Location"), redirectURI)
	}
	if loc.Query().Get("error") != "" {
		t.Fatalf("redirect carries error %s: %s", loc.Query().Get("error"), loc.Query().Get("error_description"))
	}
	if got := loc.Query().Get("state"); got != state {
		t.Errorf("state = %q, want %q", got, state)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatal("no code in the redirect")
	}
	return code
}

// redirectError checks a redirect to redirectURI with an error.
func redirectError(t testing.TB, w *httptest.ResponseRecorder, redirectURI, code string) {
	t.Helper()
	if w.Code != http.StatusFound && w.Code != http.StatusSeeOther {
		t.Fatalf("status %d, want a redirect with %s; body %s", w.Code, code, testkit.Truncate(w.Body.String(), 300))
	}
	loc, _ := url.Parse(w.Header().Get("Location"))
	if !strings.HasPrefix(loc.String(), redirectURI+"?") {
		t.Fatalf("Location %q is not %s", loc, redirectURI)
	}
	if got := loc.Query().Get("error"); got != code {
		t.Fatalf("error = %q (%s), want %q", got, loc.Query().Get("error_description"), code)
	}
	if loc.Query().Get("code") != "" {
		t.Error("an error redirect carries a code")
	}
}

// redeem exchanges a code of the public client.
func (h *harness) redeem(code, verifier string, extra ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	v := testkit.Overrides(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {pkceRedirect}, "client_id": {pkceClient}, "code_verifier": {verifier}}, extra...)
	return h.form(v)
}

func TestAuthorizeCodeFlowPKCE(t *testing.T) {
	h := newHarness(t, browserApp)
	b := newBrowser(h)
	page := b.do(http.MethodGet, pathAuthorize+"?"+authorizeQuery().Encode(), "")
	if page.Code != http.StatusOK {
		t.Fatalf("authorize: %d", page.Code)
	}
	// The page's headers.
	hdr := page.Header()
	for name, want := range map[string]string{
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "same-origin",
		"Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; " +
			"form-action 'self' http://localhost:5173",
	} {
		if got := hdr.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	body := page.Body.String()
	for _, want := range []string{`autocomplete="username"`, `autocomplete="current-password"`, `<label for="username">`,
		`<label for="password">`, `name="viewport"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	preLogin := findCookie(page, preLoginCookie)
	if preLogin == nil || !preLogin.Secure || !preLogin.HttpOnly || preLogin.SameSite != http.SameSiteLaxMode || preLogin.Path != "/" {
		t.Errorf("pre-login cookie %+v, want Secure HttpOnly SameSite=Lax Path=/", preLogin)
	}

	w := b.signIn(t, authorizeQuery(), alice, alicePassword)
	sess := findCookie(w, sessionCookie)
	if sess == nil || !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/" {
		t.Fatalf("session cookie %+v, want Secure HttpOnly SameSite=Lax Path=/", sess)
	}
	code := codeFrom(t, w, pkceRedirect, "st-123")

	tr, _ := expectToken(t, h.redeem(code, testVerifier))
	if tr.RefreshToken == "" || tr.IDToken == "" {
		t.Fatalf("want ID and refresh tokens, got %+v", tr)
	}
	_, id := h.parseJWT(tr.IDToken)
	if id["nonce"] != "n-456" || id["aud"] != pkceClient || id["auth_time"] == nil || id["sid"] == nil {
		t.Errorf("ID token claims %v lack nonce, aud, auth_time or sid", id)
	}
	if _, ok := id["email_verified"].(bool); !ok {
		t.Errorf("email_verified = %#v, want a JSON boolean", id["email_verified"])
	}
	_, at := h.parseJWT(tr.AccessToken)
	if at["aud"] != loginAPI || at["client_id"] != pkceClient {
		t.Errorf("access token claims %v", at)
	}
	// The refresh token works like a password grant's.
	expectToken(t, h.form(testkit.RefreshForm(pkceClient, "", tr.RefreshToken)))

	// Single sign-on: a second request with the session cookie gets a
	// code at once, for another client too.
	again := b.do(http.MethodGet, pathAuthorize+"?"+url.Values{"response_type": {"code"}, "client_id": {appClient},
		"redirect_uri": {appRedirect}, "state": {"s2"}, "scope": {"openid"}}.Encode(), "")
	code2 := codeFrom(t, again, appRedirect, "s2")
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code2}, "redirect_uri": {appRedirect}}
	tr2, _ := expectToken(t, h.form(v, "Authorization", clientBasic(appClient, appSecret)))
	_, id2 := h.parseJWT(tr2.IDToken)
	if id2["sid"] != id["sid"] || id2["auth_time"] != id["auth_time"] {
		t.Errorf("SSO ID token sid/auth_time %v/%v, want the session's %v/%v", id2["sid"], id2["auth_time"], id["sid"], id["auth_time"])
	}
	// prompt=login and max_age=0 show the form again.
	for _, extra := range [][]string{{"prompt", "login"}, {"max_age", "0"}} {
		w := b.do(http.MethodGet, pathAuthorize+"?"+authorizeQuery(extra...).Encode(), "")
		if w.Code != http.StatusOK {
			t.Errorf("%v: status %d, want the form", extra, w.Code)
		}
		loginForm(t, w)
	}

	// Logout ends the session everywhere (it is a row); returnTo must be
	// registered.
	out := b.do(http.MethodGet, pathLogoutV2+"?client_id="+appClient+"&returnTo="+url.QueryEscape(appLogout), "")
	if out.Code != http.StatusFound || out.Header().Get("Location") != appLogout {
		t.Errorf("logout: %d %q, want a redirect to %s", out.Code, out.Header().Get("Location"), appLogout)
	}
	b.cookies[sessionCookie] = sess.Value // a stolen copy of the cookie is dead too
	w = b.do(http.MethodGet, pathAuthorize+"?"+authorizeQuery("prompt", "none").Encode(), "")
	redirectError(t, w, pkceRedirect, "login_required")
}

func findCookie(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestAuthorizeCodeRefusals(t *testing.T) {
	h := newHarness(t, browserApp)

	t.Run("code reuse revokes the first redemption's refresh token", func(t *testing.T) {
		h := h.with(t)
		code := codeFrom(t, newBrowser(h).signIn(t, authorizeQuery(), alice, alicePassword), pkceRedirect, "st-123")
		tr, _ := expectToken(t, h.redeem(code, testVerifier))
		expectError(t, h.redeem(code, testVerifier), http.StatusBadRequest, "invalid_grant")
		expectError(t, h.form(testkit.RefreshForm(pkceClient, "", tr.RefreshToken)), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("PKCE mismatch", func(t *testing.T) {
		h := h.with(t)
		code := codeFrom(t, newBrowser(h).signIn(t, authorizeQuery(), alice, alicePassword), pkceRedirect, "st-123")
		expectError(t, h.redeem(code, strings.Repeat("x", 43)), http.StatusBadRequest, "invalid_grant")
		// Spent by the failed attempt.
		expectError(t, h.redeem(code, testVerifier), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("missing verifier and other redirect_uri", func(t *testing.T) {
		h := h.with(t)
		b := newBrowser(h)
		code := codeFrom(t, b.signIn(t, authorizeQuery(), alice, alicePassword), pkceRedirect, "st-123")
		expectError(t, h.redeem(code, ""), http.StatusBadRequest, "invalid_grant")
		code = codeFrom(t, b.do(http.MethodGet, pathAuthorize+"?"+authorizeQuery().Encode(), ""), pkceRedirect, "st-123")
		expectError(t, h.redeem(code, testVerifier, "redirect_uri", "http://localhost:5173/other"), http.StatusBadRequest, "invalid_grant")
	})

	// Errors at /authorize: a page for an untrusted client or redirect_uri,
	// a redirect for everything else.
	pageCases := []struct {
		name  string
		query url.Values
	}{
		{"unknown client", authorizeQuery("client_id", "nobody")},
		{"unregistered redirect_uri", authorizeQuery("redirect_uri", "https://evil.example/callback")},
		{"redirect_uri prefix", authorizeQuery("redirect_uri", pkceRedirect+"/../x")},
		{"missing redirect_uri", authorizeQuery("redirect_uri", "")},
	}
	for _, tc := range pageCases {
		t.Run(tc.name, func(t *testing.T) {
			w := newBrowser(h.with(t)).do(http.MethodGet, pathAuthorize+"?"+tc.query.Encode(), "")
			if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
				t.Fatalf("status %d, Location %q; want 400 and no redirect", w.Code, w.Header().Get("Location"))
			}
			if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
				t.Errorf("Content-Type %q, want an HTML page", w.Header().Get("Content-Type"))
			}
		})
	}
	redirectCases := []struct {
		name  string
		query url.Values
		code  string
	}{
		{"public client without PKCE", authorizeQuery("code_challenge", "", "code_challenge_method", ""), "invalid_request"},
		{"plain", authorizeQuery("code_challenge_method", "plain"), "invalid_request"},
		{"challenge without method", authorizeQuery("code_challenge_method", ""), "invalid_request"},
		{"token response type", authorizeQuery("response_type", "token"), "unsupported_response_type"},
		{"unknown scope", authorizeQuery("scope", "openid admin:all"), "invalid_scope"},
		{"prompt=none without a session", authorizeQuery("prompt", "none"), "login_required"},
		{"audience not allowed", authorizeQuery("audience", "https://other.example"), "invalid_target"},
	}
	for _, tc := range redirectCases {
		t.Run(tc.name, func(t *testing.T) {
			w := newBrowser(h.with(t)).do(http.MethodGet, pathAuthorize+"?"+tc.query.Encode(), "")
			redirectError(t, w, pkceRedirect, tc.code)
			loc, _ := url.Parse(w.Header().Get("Location"))
			if loc.Query().Get("state") != "st-123" {
				t.Errorf("state %q not echoed", loc.Query().Get("state"))
			}
		})
	}
	t.Run("duplicated parameter", func(t *testing.T) {
		w := newBrowser(h.with(t)).do(http.MethodGet, pathAuthorize+"?"+authorizeQuery().Encode()+"&scope=openid", "")
		redirectError(t, w, pkceRedirect, "invalid_request")
	})
	t.Run("client without the authorization_code grant", func(t *testing.T) {
		h := newHarness(t, func(a *app.App) {
			browserApp(a)
			a.Clients[len(a.Clients)-1].Grants = []string{"password"}
		})
		w := newBrowser(h).do(http.MethodGet, pathAuthorize+"?"+authorizeQuery().Encode(), "")
		redirectError(t, w, pkceRedirect, "unauthorized_client")
	})
}

func TestLoginPageCSRF(t *testing.T) {
	h := newHarness(t, browserApp)
	cases := []struct {
		name   string
		mutate func(b *browser, form url.Values) []string // returns extra headers
		status int
	}{
		{"missing token", func(b *browser, f url.Values) []string { f.Del("csrf_token"); return nil }, http.StatusForbidden},
		{"wrong token", func(b *browser, f url.Values) []string { f.Set("csrf_token", "AAAA"); return nil }, http.StatusForbidden},
		{"token of another cookie", func(b *browser, f url.Values) []string {
			b.cookies[preLoginCookie] = strings.Repeat("A", 43)
			return nil
		}, http.StatusForbidden},
		{"no pre-login cookie", func(b *browser, f url.Values) []string { delete(b.cookies, preLoginCookie); return nil }, http.StatusForbidden},
		{"cross-site Origin", func(b *browser, f url.Values) []string { return []string{"Origin", "https://evil.example"} }, http.StatusForbidden},
		{"Origin null", func(b *browser, f url.Values) []string { return []string{"Origin", "null"} }, http.StatusForbidden},
		{"Sec-Fetch-Site cross-site", func(b *browser, f url.Values) []string { return []string{"Sec-Fetch-Site", "cross-site"} }, http.StatusForbidden},
		{"same origin", func(b *browser, f url.Values) []string { return []string{"Origin", authOrigin} }, http.StatusSeeOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(h.with(t))
			page := b.do(http.MethodGet, pathAuthorize+"?"+authorizeQuery().Encode(), "")
			action, csrf := loginForm(t, page)
			form := url.Values{"csrf_token": {csrf}, "username": {alice}, "password": {alicePassword}}
			hdr := tc.mutate(b, form)
			w := b.do(http.MethodPost, action, form.Encode(), hdr...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d; Location %q", w.Code, tc.status, w.Header().Get("Location"))
			}
			if tc.status == http.StatusForbidden && (findCookie(w, sessionCookie) != nil || w.Header().Get("Location") != "") {
				t.Error("a refused post signed the user in")
			}
		})
	}
}

func TestLoginPageWrongPasswordSharesTheGrantBudget(t *testing.T) {
	h := newHarness(t, browserApp)
	b := newBrowser(h)
	b.ip = ipA
	for i := range 5 {
		w := b.signIn(t, authorizeQuery(), alice, "wrong-page-"+string(rune('a'+i)))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), browserPageErr) {
			t.Fatalf("wrong password on the page: status %d, body %s", w.Code, testkit.Truncate(w.Body.String(), 300))
		}
		if w.Header().Get("Content-Security-Policy") == "" || w.Header().Get("Cache-Control") != "no-store" {
			t.Error("the error page lacks the security headers")
		}
	}
	failLogins(t, h, ipA, alice, defaultMaxFailures-5)
	// Ten failures in all, five each way: the pair is blocked both ways,
	// even with the right password.
	expectBlocked(t, h.formFrom(ipA, passwordForm()), 3600)
	w := b.signIn(t, authorizeQuery(), alice, alicePassword)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("blocked sign-in on the page: status %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	// Another IP is not blocked.
	b2 := newBrowser(h)
	b2.ip = ipB
	codeFrom(t, b2.signIn(t, authorizeQuery(), alice, alicePassword), pkceRedirect, "st-123")
}

func TestLoginPageDenyAndBlockedUser(t *testing.T) {
	h := newHarness(t, browserApp)
	// A deny rule refuses with access_denied at the client.
	redirectError(t, newBrowser(h).signIn(t, authorizeQuery(), frank, frankPassword), pkceRedirect, "access_denied")
	// A blocked account looks like a wrong password.
	w := newBrowser(h).signIn(t, authorizeQuery(), eve, evePassword)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), browserPageErr) {
		t.Fatalf("blocked user: status %d", w.Code)
	}
}

func TestLogoutOpenRedirects(t *testing.T) {
	h := newHarness(t, browserApp)
	cases := []struct {
		name, target, location string
	}{
		{"v2 unregistered returnTo", pathLogoutV2 + "?client_id=" + appClient + "&returnTo=" + url.QueryEscape("https://evil.example/"), ""},
		{"v2 returnTo of another client's list", pathLogoutV2 + "?client_id=" + pkceClient + "&returnTo=" + url.QueryEscape(appLogout), ""},
		{"v2 without client_id, any client's", pathLogoutV2 + "?returnTo=" + url.QueryEscape(appLogout), appLogout},
		{"v2 without client_id, unregistered", pathLogoutV2 + "?returnTo=" + url.QueryEscape("https://evil.example/"), ""},
		{"oidc unregistered", pathLogoutOIDC + "?client_id=" + appClient + "&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example/"), ""},
		{"oidc registered with state", pathLogoutOIDC + "?client_id=" + appClient + "&state=xyz&post_logout_redirect_uri=" + url.QueryEscape(appLogout), appLogout + "?state=xyz"},
		{"oidc forged id_token_hint", pathLogoutOIDC + "?id_token_hint=a.b.c&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example/"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newBrowser(h.with(t)).do(http.MethodGet, tc.target, "")
			if tc.location == "" {
				if w.Code != http.StatusOK || w.Header().Get("Location") != "" {
					t.Fatalf("status %d Location %q, want the signed-out page", w.Code, w.Header().Get("Location"))
				}
				return
			}
			if w.Code != http.StatusFound || w.Header().Get("Location") != tc.location {
				t.Fatalf("status %d Location %q, want a redirect to %s", w.Code, w.Header().Get("Location"), tc.location)
			}
		})
	}
}

func TestLoginPageTemplate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.html")
	if err := os.WriteFile(bad, []byte(`<form>{{if .Action}}</form>`), 0o600); err != nil {
		t.Fatal(err)
	}
	unknownField := filepath.Join(dir, "field.html")
	if err := os.WriteFile(unknownField, []byte(`{{.NoSuchField}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{bad, unknownField, filepath.Join(dir, "missing.html")} {
		a := loginTestApp(storetest.NewDemoDatabase(t))
		browserApp(a)
		a.LoginPage = path
		if _, err := provisionHarness(t, a); err == nil {
			t.Errorf("login_page %s: the config loaded", filepath.Base(path))
		}
	}

	good := filepath.Join(dir, "good.html")
	src := `<p>{{.ClientName}}</p>{{if .Error}}<b>{{.Error}}</b>{{end}}<form method="post" action="{{.Action}}">` +
		`<input type="hidden" name="csrf_token" value="{{.CSRFToken}}"></form>`
	if err := os.WriteFile(good, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(a *app.App) { browserApp(a); a.LoginPage = good })
	w := newBrowser(h).signIn(t, authorizeQuery(), alice, "wrong")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "<b>"+browserPageErr+"</b>") {
		t.Fatalf("custom page: status %d body %s", w.Code, w.Body.String())
	}
}

func TestDiscoveryCodeFlow(t *testing.T) {
	h := newHarness(t, browserApp)
	w := h.do(loginRequest{method: http.MethodGet, path: pathOpenIDConfig})
	doc := decodeJSON(t, w.Body.Bytes())
	if doc["authorization_endpoint"] != authOrigin+pathAuthorize || doc["end_session_endpoint"] != authOrigin+pathLogoutOIDC {
		t.Errorf("endpoints %v %v", doc["authorization_endpoint"], doc["end_session_endpoint"])
	}
	for key, want := range map[string]string{"response_types_supported": "code", "response_modes_supported": "query",
		"code_challenge_methods_supported": "S256", "grant_types_supported": "authorization_code",
		"token_endpoint_auth_methods_supported": "none"} {
		list, _ := doc[key].([]any)
		found := false
		for _, v := range list {
			found = found || v == want
		}
		if !found {
			t.Errorf("%s = %v, want %s among them", key, doc[key], want)
		}
	}
}

func decodeJSON(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return m
}

func TestAuthorizationCodeConcurrentRedemptions(t *testing.T) {
	h := newHarness(t, browserApp)
	race := func(q url.Values) []string {
		code := codeFrom(t, newBrowser(h).signIn(t, q, alice, alicePassword), pkceRedirect, "st-123")
		const n = 4
		answers := make(chan *httptest.ResponseRecorder, n)
		var start sync.WaitGroup
		start.Add(1)
		for range n {
			go func() {
				start.Wait()
				answers <- h.redeem(code, testVerifier)
			}()
		}
		start.Done()
		var won []string
		for range n {
			w := <-answers
			if w.Code == http.StatusOK {
				tr, _ := expectToken(t, w)
				won = append(won, tr.RefreshToken)
			} else {
				expectError(t, w, http.StatusBadRequest, "invalid_grant")
			}
		}
		return won
	}
	// Without refresh tokens: the one conditional UPDATE lets exactly one
	// redemption through.
	if won := race(authorizeQuery("scope", "openid")); len(won) != 1 {
		t.Fatalf("%d redemptions won, want exactly 1", len(won))
	}
	// With offline_access, the losers revoke the family the winner got
	// (RFC 6749 §4.1.2); a winner that sees the reuse before answering is
	// refused too, so at most one gets tokens and its refresh token is dead.
	won := race(authorizeQuery())
	if len(won) > 1 {
		t.Fatalf("%d redemptions won, want at most 1", len(won))
	}
	for _, rt := range won {
		expectError(t, h.form(testkit.RefreshForm(pkceClient, "", rt)), http.StatusBadRequest, "invalid_grant")
	}
}
