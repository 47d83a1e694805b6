package app

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/store/storetest"
)

// validateCase changes the test app and names what Validate must say.
type validateCase struct {
	name    string
	change  func(*App)
	wantErr string // substring; "" means valid
}

// checkValidate runs Validate on the test app after each case's change.
func checkValidate(t *testing.T, tests []validateCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testApp("root@tcp(127.0.0.1:3306)/claimgate")
			tt.change(a)
			err := a.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("no error, want one about %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestAppValidate(t *testing.T) {
	tests := []validateCase{
		{"valid", func(*App) {}, ""},
		{"issuer without slash", func(a *App) { a.Issuer = "https://auth.example.test" }, ""},
		{"http issuer", func(a *App) { a.Issuer = "http://127.0.0.1:8080/" }, ""},
		{"embedded dsn", func(a *App) { a.Database.DSN = "embedded" }, ""},
		{"placeholder dsn", func(a *App) { a.Database.DSN = "{env.CLAIMGATE_DSN}" }, ""},
		{"no issuer", func(a *App) { a.Issuer = "" }, "issuer"},
		{"relative issuer", func(a *App) { a.Issuer = "auth.example.test" }, "issuer"},
		{"ftp issuer", func(a *App) { a.Issuer = "ftp://auth.example.test/" }, "issuer"},
		{"issuer with query", func(a *App) { a.Issuer = "https://auth.example.test/?x=1" }, "issuer"},
		{"no database", func(a *App) { a.Database = nil }, "database"},
		{"no dsn", func(a *App) { a.Database.DSN = "" }, "dsn"},
		{"bad dsn", func(a *App) { a.Database.DSN = "not a dsn" }, "dsn"},
		{"no user_query", func(a *App) { a.Database.UserQuery = "" }, "user_query"},
		{"user_query without placeholder", func(a *App) { a.Database.UserQuery = "SELECT id AS user_id, password_hash FROM users" }, "database"},
		{"dummy hash cost", func(a *App) { a.Database.DummyHashCost = 40 }, "dummy_hash_cost"},
		{"unknown algorithm", func(a *App) { a.SigningKey.Algorithm = "HS256" }, "algorithm"},
		{"none algorithm", func(a *App) { a.SigningKey.Algorithm = "none" }, "algorithm"},
		{"errors value", func(a *App) { a.Errors = "rfc" }, "errors"},
		{"negative ttl", func(a *App) { a.AccessTokenTTL = -1 }, "negative"},
		{"client without id", func(a *App) { a.Clients[0].ID = "" }, "id is required"},
		{"duplicate client", func(a *App) { a.Clients[1].ID = webClient }, "twice"},
		{"client without audience", func(a *App) { a.Clients[0].Audiences = nil }, "audience"},
		{"unknown grant", func(a *App) { a.Clients[0].Grants = []string{"implicit"} }, "grant"},
		{"client_credentials on a public client", func(a *App) { a.Clients[1].Grants = []string{"client_credentials"} }, "needs a secret"},
		{"password-realm is not a client grant", func(a *App) { a.Clients[0].Grants = []string{grant.TypePasswordRealm} }, "grant"},
		{"scope with space", func(a *App) { a.Clients[0].Scopes = []string{"read orders"} }, "scope"},
		{"forwarded-for on public client", func(a *App) { a.Clients[1].TrustForwardedFor = "auth0-forwarded-for" }, "trust_forwarded_for"},
		{"negative protection", func(a *App) { a.Protection = &ProtectionConfig{MaxFailures: -1} }, "protection"},
	}
	checkValidate(t, tests)
}

func TestAppDefaults(t *testing.T) {
	h := newHarness(t, nil)
	a := h.app
	if a.AccessTokenTTL != caddy.Duration(defaultAccessTokenTTL) || a.RefreshTokenTTL != caddy.Duration(defaultRefreshTokenTTL) {
		t.Errorf("ttls %v %v", a.AccessTokenTTL, a.RefreshTokenTTL)
	}
	d := a.Database
	if d.Timeout != caddy.Duration(defaultDatabaseTimeout) || d.Name != defaultDatabaseName ||
		d.ManageSchema == nil || !*d.ManageSchema || d.DummyHashCost != 10 {
		t.Errorf("database defaults %+v", d)
	}
	p := a.Protection
	if p.MaxFailures != 10 || p.BlockFor != caddy.Duration(defaultBlockFor) || p.IPFailuresPerDay != 100 ||
		p.HashQueueTimeout != caddy.Duration(defaultHashQueueTimeout) {
		t.Errorf("protection defaults %+v", p)
	}
}

// TestProvisionFailures checks that a config that cannot work fails at
// load, and that Cleanup after the failure releases what was acquired.
func TestProvisionFailures(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*App)
		wantErr string
	}{
		{"unset secret variable", func(a *App) { a.Clients[0].Secret = "{env.CLAIMGATE_TEST_UNSET_VARIABLE}" }, "secret is empty"},
		{"unset dsn variable", func(a *App) { a.Database.DSN = "{env.CLAIMGATE_TEST_UNSET_VARIABLE}" }, "dsn is empty"},
		{"bad rule", func(a *App) {
			a.Rules = append(a.Rules, enrich.Rule{Kind: enrich.KindClaim, Name: "x", Expr: "no_such_variable"})
		}, "rules"},
		{"missing key file", func(a *App) { a.SigningKey.File = "/nonexistent/claimgate-key.pem" }, "signing keys"},
		{"invalid config", func(a *App) { a.Clients[0].Audiences = nil }, "audience"},
	}
	dsn := storetest.NewDemoDatabase(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testApp(dsn)
			tt.change(a)
			_, err := provisionHarness(t, a) // its t.Cleanup runs a.Cleanup
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one about %q", err, tt.wantErr)
			}
		})
	}
}

func TestInsecureIssuerWarning(t *testing.T) {
	dsn := storetest.NewDemoDatabase(t)
	for issuer, warn := range map[string]bool{
		"http://auth.example.test/":  true,
		"http://127.0.0.1:8080/":     false,
		"http://localhost:8080":      false,
		"https://auth.example.test/": false,
	} {
		a := testApp(dsn)
		a.Issuer = issuer
		h, err := provisionHarness(t, a)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.logs.FilterMessageSnippet("issuer uses http://").Len() == 1; got != warn {
			t.Errorf("%s: warned %v, want %v", issuer, got, warn)
		}
	}
}
