package app

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/store/storetest"
)

// The app's tests run the grant flows directly (grant.Service); the
// login handler's tests (package login) run them over HTTP.

// Fixtures of the app's tests (testkit's, by short names).
const (
	testIssuer = "https://auth.example.test/"
	webClient  = testkit.WebClient
	webSecret  = testkit.WebSecret
	spaClient  = testkit.SPAClient
	m2mClient  = testkit.M2MClient
	m2mSecret  = testkit.M2MSecret
	alice      = testkit.Alice
	bob        = testkit.Bob
)

// Client IPs of the tests: ipA and ipB fail logins (TEST-NET-2); ipPeer
// logs in (TEST-NET-1, the peer of httptest's requests in login's tests).
const (
	ipA    = "198.51.100.1"
	ipB    = "198.51.100.2"
	ipPeer = "192.0.2.1"
)

// testApp is the App configuration most tests use: the demo database, the
// web client (password and refresh_token), a public client and one that
// may not use the password grant.
func testApp(dsn string) *App {
	return &App{
		Issuer: testIssuer,
		Database: &DatabaseConfig{
			DSN:               dsn,
			UserQuery:         demo.DemoUserQuery,
			RolesQuery:        demo.DemoRolesQuery,
			PermissionsQuery:  demo.DemoPermissionsQuery,
			OrganizationQuery: demo.DemoOrganizationQuery,
		},
		SigningKey: &SigningKeyConfig{Algorithm: "ES256"},
		Clients: []*ClientConfig{
			{ID: webClient, Secret: webSecret, Audiences: []string{testkit.APIAudience, testkit.ReportsAudience},
				Grants: []string{"password", "refresh_token"}, Scopes: []string{"read:orders", "write:orders"}},
			{ID: spaClient, Audiences: []string{testkit.APIAudience}, Grants: []string{"password"}},
			{ID: m2mClient, Secret: m2mSecret, Audiences: []string{testkit.APIAudience}, Grants: []string{"refresh_token"}},
		},
		Rules: []enrich.Rule{
			{Kind: enrich.KindClaim, Name: testkit.RolesClaim, Expr: "roles"},
			{Kind: enrich.KindDeny, Expr: testkit.DenyExpr, Message: testkit.DenyMessage},
		},
	}
}

// harness is an App provisioned and started on a demo database, with every
// log entry recorded.
type harness struct {
	t    testing.TB
	app  *App
	logs *observer.ObservedLogs
	// dsn is the database the test created, as configured.
	dsn string
}

// newHarness provisions testApp on a new demo database, after configure
// (when not nil) has adjusted it.
func newHarness(t testing.TB, configure func(*App)) *harness {
	t.Helper()
	a := testApp(storetest.NewDemoDatabase(t))
	if configure != nil {
		configure(a)
	}
	h, err := provisionHarness(t, a)
	if err != nil {
		t.Fatalf("provisioning: %v", err)
	}
	return h
}

// provisionHarness runs a the way Caddy would: Provision, Validate, Start,
// and Cleanup when the test ends (also after a failure).
func provisionHarness(t testing.TB, a *App) (*harness, error) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	storage := &certmagic.FileStorage{Path: t.TempDir()}

	h := &harness{t: t, app: a, logs: logs}
	if a.Database != nil {
		h.dsn = a.Database.DSN
	}
	t.Cleanup(func() {
		if err := a.Cleanup(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		testkit.AssertNoSecretsLogged(t, "log entry", testkit.EntryLines(logs.All()), testkit.Secrets())
		if t.Failed() {
			for _, e := range logs.All() {
				t.Logf("log: %s %s %v", e.Level, e.Message, e.ContextMap())
			}
		}
	})
	if err := a.ProvisionWith(ctx, storage, zap.New(core)); err != nil {
		return nil, err
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if err := a.Start(); err != nil {
		return nil, err
	}
	return h, nil
}

// useClock makes the grant flows read clock instead of the time.
func (h *harness) useClock(clock *testkit.Clock) {
	h.app.Grants().SetClock(clock.Now)
}

// db opens the harness's database.
func (h *harness) db() *sql.DB {
	h.t.Helper()
	return storetest.Open(h.t, h.dsn)
}

// client returns a configured client.
func (h *harness) client(id string) *grant.Client {
	h.t.Helper()
	c, ok := h.app.Client(id)
	if !ok {
		h.t.Fatalf("no client %s", id)
	}
	return c
}

// password runs the password grant for username by the web client from
// ip, with scopes granted.
func (h *harness) password(ip, username, password string, scopes ...string) (*grant.Tokens, error) {
	c := h.client(webClient)
	return h.app.Grants().Password(context.Background(), &grant.PasswordRequest{
		Client:    c,
		GrantType: grant.TypePassword,
		Username:  username,
		Password:  password,
		Audience:  c.Audiences[0],
		Scopes:    scopes,
		IP:        h.app.Grants().AccountingIP(ip),
	})
}

// loginRefresh logs alice in from ipPeer with openid offline_access and
// returns the refresh token.
func (h *harness) loginRefresh() string {
	h.t.Helper()
	toks, err := h.password(ipPeer, alice, testkit.AlicePassword, "openid", "offline_access")
	if err != nil {
		h.t.Fatalf("login: %v", err)
	}
	if toks.RefreshToken == "" {
		h.t.Fatal("no refresh token")
	}
	return toks.RefreshToken
}

// refresh redeems a refresh token by the web client.
func (h *harness) refresh(token string) (*grant.Tokens, error) {
	return h.app.Grants().Refresh(context.Background(), &grant.RefreshRequest{Client: h.client(webClient), Token: token})
}

// failLogins runs n wrong-password logins for user from ip and checks each
// is refused as bad credentials.
func failLogins(t testing.TB, h *harness, ip, user string, n int) {
	t.Helper()
	for i := range n {
		_, err := h.password(ip, user, "wrong-"+strconv.Itoa(i))
		if !errors.Is(err, grant.ErrBadCredentials) {
			t.Fatalf("wrong password for %s: %v, want bad credentials", user, err)
		}
	}
}
