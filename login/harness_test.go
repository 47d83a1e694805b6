package login

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/store/storetest"
)

// Test clients and fixtures.
const (
	loginIssuer    = "https://auth.example.test/"
	loginAPI       = "https://api.example.test"
	loginAPI2      = "https://reports.example.test"
	webClient      = "web-backend"
	webSecret      = "s3cr:et+/%&= é" // needs URL-encoding in Basic
	spaClient      = "spa"            // public client
	m2mClient      = "no-password"    // may not use the password grant
	m2mSecret      = "m2m-secret"
	alice          = "alice@example.test"
	alicePassword  = "correct horse battery staple"
	bob            = "bob@example.test"
	bobPassword    = "hunter2-argon2id"
	eve            = "eve@example.test" // blocked column
	evePassword    = "eve-is-blocked"
	frank          = "frank@example.test" // denied by a rule
	frankPassword  = "frank-denied-by-rule"
	denyMessage    = "This account is blocked."
	rolesClaim     = "https://example.test/roles"
	cityClaim      = "https://example.test/city"
	idNicknameName = "https://example.test/nick"
)

// harness is an App provisioned on a fresh demo database and a Login
// handler on it, with every log entry recorded.
type harness struct {
	t     testing.TB
	app   *App
	login *Login
	logs  *observer.ObservedLogs
	next  int // calls of the next handler
}

// loginTestApp is the App configuration most tests use.
func loginTestApp(dsn string) *App {
	return &App{
		Issuer: loginIssuer,
		Database: &DatabaseConfig{
			DSN:               dsn,
			UserQuery:         demo.DemoUserQuery,
			RolesQuery:        demo.DemoRolesQuery,
			PermissionsQuery:  demo.DemoPermissionsQuery,
			OrganizationQuery: demo.DemoOrganizationQuery,
		},
		SigningKey: &SigningKeyConfig{Algorithm: "ES256"},
		Clients: []*ClientConfig{
			{ID: webClient, Secret: webSecret, Audiences: []string{loginAPI, loginAPI2},
				Grants: []string{"password", "refresh_token"}, Scopes: []string{"read:orders", "write:orders"}},
			{ID: spaClient, Audiences: []string{loginAPI}, Grants: []string{"password"}},
			{ID: m2mClient, Secret: m2mSecret, Audiences: []string{loginAPI}, Grants: []string{"refresh_token"}},
		},
		Rules: []enrich.Rule{
			{Kind: enrich.KindClaim, Name: rolesClaim, Expr: "roles"},
			{Kind: enrich.KindClaim, Name: cityClaim, Expr: "user_metadata.city"},
			{Kind: enrich.KindIDClaim, Name: idNicknameName, Expr: "user.nickname"},
			{Kind: enrich.KindDeny, Expr: "has(app_metadata.blocked) && app_metadata.blocked", Message: denyMessage},
		},
	}
}

// newHarness provisions loginTestApp on a new demo database, after configure
// (when not nil) has adjusted it.
func newHarness(t testing.TB, configure func(*App)) *harness {
	t.Helper()
	app := loginTestApp(storetest.NewDemoDatabase(t))
	if configure != nil {
		configure(app)
	}
	h, err := provisionHarness(t, app)
	if err != nil {
		t.Fatalf("provisioning: %v", err)
	}
	return h
}

// provisionHarness provisions app the way Caddy would (Provision, then
// Validate, Cleanup also after a failure) and wires a Login handler to it.
func provisionHarness(t testing.TB, app *App) (*harness, error) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	storage := &certmagic.FileStorage{Path: t.TempDir()}

	h := &harness{t: t, app: app, logs: logs}
	t.Cleanup(func() {
		if err := app.Cleanup(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		h.assertNoSecretsLogged()
		if t.Failed() {
			for _, e := range logs.All() {
				t.Logf("log: %s %s %v", e.Level, e.Message, e.ContextMap())
			}
		}
	})
	if err := app.provision(ctx, storage, logger); err != nil {
		return nil, err
	}
	if err := app.Validate(); err != nil {
		return nil, err
	}
	h.login = new(Login)
	if err := h.login.setup(app, logger); err != nil {
		return nil, err
	}
	return h, nil
}

// with returns a copy of h that reports to t (for subtests).
func (h *harness) with(t testing.TB) *harness {
	c := *h
	c.t = t
	return &c
}

// assertNoSecretsLogged fails when a password, client secret or token of
// the fixtures appears in any log entry.
func (h *harness) assertNoSecretsLogged() {
	secrets := []string{alicePassword, bobPassword, evePassword, frankPassword, webSecret, m2mSecret, "eyJ"}
	for _, e := range h.logs.All() {
		text := e.Message + fmt.Sprint(e.ContextMap())
		for _, s := range secrets {
			if strings.Contains(text, s) {
				h.t.Errorf("log entry %q contains a secret (%.3s…)", e.Message, s)
			}
		}
	}
}

// loginRequest describes one call of the handler.
type loginRequest struct {
	method      string
	path        string
	contentType string
	body        string
	header      http.Header
	// ip, when set, is Caddy's client IP for the request (what the server
	// determined, honouring trusted_proxies); else the peer is 192.0.2.1.
	ip string
}

// do serves req and returns the recorded response.
func (h *harness) do(req loginRequest) *httptest.ResponseRecorder {
	h.t.Helper()
	if req.method == "" {
		req.method = http.MethodPost
	}
	if req.path == "" {
		req.path = pathToken
	}
	r := httptest.NewRequest(req.method, "https://auth.example.test"+req.path, strings.NewReader(req.body))
	if req.contentType != "" {
		r.Header.Set("Content-Type", req.contentType)
	}
	for k, vs := range req.header {
		r.Header[k] = vs
	}
	if req.ip != "" {
		vars := map[string]any{caddyhttp.ClientIPVarKey: req.ip}
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars))
	}
	w := httptest.NewRecorder()
	next := caddyHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		h.next++
		w.WriteHeader(http.StatusTeapot)
		return nil
	})
	if err := h.login.ServeHTTP(w, r, next); err != nil {
		h.t.Fatalf("ServeHTTP returned %v", err)
	}
	return w
}

// form posts params form-encoded (client_secret_post when they hold a secret).
func (h *harness) form(params url.Values, header ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	hdr := make(http.Header)
	for i := 0; i+1 < len(header); i += 2 {
		hdr.Add(header[i], header[i+1])
	}
	return h.do(loginRequest{contentType: formType, body: params.Encode(), header: hdr})
}

// formFrom is form with ip as Caddy's client IP.
func (h *harness) formFrom(ip string, params url.Values, header ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	hdr := make(http.Header)
	for i := 0; i+1 < len(header); i += 2 {
		hdr.Add(header[i], header[i+1])
	}
	return h.do(loginRequest{contentType: formType, body: params.Encode(), header: hdr, ip: ip})
}

// testClock is a settable clock for App.now.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock(now time.Time) *testClock { return &testClock{now: now} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// jsonPost posts params as a JSON object.
func (h *harness) jsonPost(params map[string]string, header ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	body, _ := json.Marshal(params)
	hdr := make(http.Header)
	for i := 0; i+1 < len(header); i += 2 {
		hdr.Add(header[i], header[i+1])
	}
	return h.do(loginRequest{contentType: jsonType, body: string(body), header: hdr})
}

type caddyHandlerFunc func(http.ResponseWriter, *http.Request) error

func (f caddyHandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// clientBasic is client_secret_basic: ID and secret form-encoded, then Base64.
func clientBasic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// passwordForm is a password grant for alice by the web client (post auth).
func passwordForm(extra ...string) url.Values {
	v := url.Values{
		"grant_type":    {"password"},
		"username":      {alice},
		"password":      {alicePassword},
		"client_id":     {webClient},
		"client_secret": {webSecret},
	}
	return withOverrides(v, extra)
}

// withOverrides applies name/value pairs to v: an empty value removes the
// parameter, any other replaces it.
func withOverrides(v url.Values, extra []string) url.Values {
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			v.Del(extra[i])
			continue
		}
		v.Set(extra[i], extra[i+1])
	}
	return v
}

// oauthErr is an error response body.
type oauthErr struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// expectError checks an OAuth error answer and its no-store headers.
func expectError(t testing.TB, w *httptest.ResponseRecorder, status int, code string) oauthErr {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	var e oauthErr
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	if e.Error != code {
		t.Fatalf("error = %q (%s), want %q", e.Error, e.Description, code)
	}
	expectNoStore(t, w)
	return e
}

func expectNoStore(t testing.TB, w *httptest.ResponseRecorder) {
	t.Helper()
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := w.Header().Get("Pragma"); got != "no-cache" {
		t.Errorf("Pragma = %q, want no-cache", got)
	}
	if got := w.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
}

// tokenBody is a success body.
type tokenBody struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
}

// expectToken checks a success answer and returns its body, the raw JSON
// keys included.
func expectToken(t testing.TB, w *httptest.ResponseRecorder) (tokenBody, map[string]any) {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", w.Code, w.Body)
	}
	expectNoStore(t, w)
	var body tokenBody
	var raw map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if body.AccessToken == "" || body.TokenType != "Bearer" {
		t.Fatalf("bad token body %s", w.Body)
	}
	return body, raw
}

// parseJWT verifies raw with the app's keys (the key's pinned algorithm
// only) and returns its header and claims.
func (h *harness) parseJWT(raw string) (map[string]any, jwt.MapClaims) {
	h.t.Helper()
	ks := h.app.keys.KeySet()
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		key, ok := ks.Lookup(kid)
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		if tok.Method.Alg() != key.Algorithm {
			return nil, fmt.Errorf("alg %s, key pinned to %s", tok.Method.Alg(), key.Algorithm)
		}
		return key.Public, nil
	}, jwt.WithIssuer(loginIssuer), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		h.t.Fatalf("token does not verify: %v", err)
	}
	return tok.Header, claims
}

// enrichClaim is a `claim NAME EXPR` rule.
func enrichClaim(name, expr string) enrich.Rule {
	return enrich.Rule{Kind: enrich.KindClaim, Name: name, Expr: expr}
}
