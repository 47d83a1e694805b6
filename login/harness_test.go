package login

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/store/storetest"
)

// Test clients and fixtures (most are testkit's, by short names).
const (
	loginIssuer    = "https://auth.example.test/"
	loginAPI       = testkit.APIAudience
	loginAPI2      = testkit.ReportsAudience
	webClient      = testkit.WebClient
	webSecret      = testkit.OddSecret // needs URL-encoding in Basic
	spaClient      = testkit.SPAClient // public client
	m2mClient      = testkit.M2MClient // may not use the password grant
	m2mSecret      = testkit.M2MSecret
	alice          = testkit.Alice
	alicePassword  = testkit.AlicePassword
	bob            = testkit.Bob
	bobPassword    = testkit.BobPassword
	eve            = testkit.Eve // blocked column
	evePassword    = testkit.EvePassword
	frank          = testkit.Frank // denied by a rule
	frankPassword  = testkit.FrankPassword
	denyMessage    = testkit.DenyMessage
	rolesClaim     = testkit.RolesClaim
	cityClaim      = testkit.CityClaim
	idNicknameName = testkit.NickClaim
)

// harness is an App provisioned and started on a fresh demo database and a
// Login handler on it, with every log entry recorded.
type harness struct {
	t     testing.TB
	app   *app.App
	login *Login
	logs  *observer.ObservedLogs
	// dsn is the database the test created (as configured: a DSN with
	// placeholders is not resolved).
	dsn string
	// next counts the calls of the next handler, in h and its copies.
	next *int
}

// loginTestApp is the App configuration most tests use.
func loginTestApp(dsn string) *app.App {
	return &app.App{
		Issuer: loginIssuer,
		Database: &app.DatabaseConfig{
			DSN:               dsn,
			UserQuery:         demo.DemoUserQuery,
			RolesQuery:        demo.DemoRolesQuery,
			PermissionsQuery:  demo.DemoPermissionsQuery,
			OrganizationQuery: demo.DemoOrganizationQuery,
		},
		SigningKey: &app.SigningKeyConfig{Algorithm: "ES256"},
		Clients: []*app.ClientConfig{
			{ID: webClient, Secret: webSecret, Audiences: []string{loginAPI, loginAPI2},
				Grants: []string{"password", "refresh_token"}, Scopes: []string{"read:orders", "write:orders"}},
			{ID: spaClient, Audiences: []string{loginAPI}, Grants: []string{"password"}},
			{ID: m2mClient, Secret: m2mSecret, Audiences: []string{loginAPI}, Grants: []string{"refresh_token"}},
		},
		Rules: []enrich.Rule{
			{Kind: enrich.KindClaim, Name: rolesClaim, Expr: "roles"},
			{Kind: enrich.KindClaim, Name: cityClaim, Expr: "user_metadata.city"},
			{Kind: enrich.KindIDClaim, Name: idNicknameName, Expr: "user.nickname"},
			{Kind: enrich.KindDeny, Expr: testkit.DenyExpr, Message: denyMessage},
		},
	}
}

// newHarness provisions loginTestApp on a new demo database, after configure
// (when not nil) has adjusted it.
func newHarness(t testing.TB, configure func(*app.App)) *harness {
	t.Helper()
	a := loginTestApp(storetest.NewDemoDatabase(t))
	if configure != nil {
		configure(a)
	}
	h, err := provisionHarness(t, a)
	if err != nil {
		t.Fatalf("provisioning: %v", err)
	}
	return h
}

// provisionHarness runs a the way Caddy would (Provision, Validate, Start;
// Cleanup also after a failure) and wires a Login handler to it.
func provisionHarness(t testing.TB, a *app.App) (*harness, error) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	storage := &certmagic.FileStorage{Path: t.TempDir()}

	h := &harness{t: t, app: a, logs: logs, next: new(int)}
	if a.Database != nil {
		h.dsn = a.Database.DSN
	}
	t.Cleanup(func() {
		if err := a.Cleanup(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		h.assertNoSecretsLogged()
		if t.Failed() {
			for _, e := range logs.All() {
				t.Logf("log: %s %s %v", e.Level, e.Message, e.ContextMap())
			}
		}
	})
	if err := a.ProvisionWith(ctx, storage, logger); err != nil {
		return nil, err
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if err := a.Start(); err != nil {
		return nil, err
	}
	h.login = new(Login)
	if err := h.login.Setup(a, logger); err != nil {
		return nil, err
	}
	return h, nil
}

// useClock makes the grant flows read clock instead of the time.
func (h *harness) useClock(clock *testkit.Clock) {
	h.app.Grants().SetClock(clock.Now)
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
	testkit.AssertNoSecretsLogged(h.t, "log entry", testkit.EntryLines(h.logs.All()), testkit.Secrets())
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
		*h.next++
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
func clientBasic(id, secret string) string { return testkit.BasicAuth(id, secret) }

// passwordForm is a password grant for alice by the web client (post auth),
// with testkit.Overrides.
func passwordForm(extra ...string) url.Values {
	return testkit.PasswordForm(webClient, webSecret, extra...)
}

// expectError checks an OAuth error answer and its no-store headers.
func expectError(t testing.TB, w *httptest.ResponseRecorder, status int, code string) testkit.OAuthError {
	t.Helper()
	return testkit.ExpectError(t, testkit.Recorded(w), status, code)
}

// expectToken checks a success answer and returns its body, the raw JSON
// keys included.
func expectToken(t testing.TB, w *httptest.ResponseRecorder) (testkit.TokenResponse, map[string]any) {
	t.Helper()
	return testkit.ExpectToken(t, testkit.Recorded(w))
}

// parseJWT verifies raw with the app's keys (the key's pinned algorithm
// only) and returns its header and claims.
func (h *harness) parseJWT(raw string) (map[string]any, jwt.MapClaims) {
	h.t.Helper()
	ks := h.app.KeySet()
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

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
