package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap/zapcore"

	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/store/storetest"
)

func TestAppValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*App)
		wantErr string // substring; "" means valid
	}{
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
		{"unknown grant", func(a *App) { a.Clients[0].Grants = []string{"client_credentials"} }, "grant"},
		{"password-realm is not a client grant", func(a *App) { a.Clients[0].Grants = []string{grantPasswordRealm} }, "grant"},
		{"scope with space", func(a *App) { a.Clients[0].Scopes = []string{"read orders"} }, "scope"},
		{"forwarded-for on public client", func(a *App) { a.Clients[1].TrustForwardedFor = "auth0-forwarded-for" }, "trust_forwarded_for"},
		{"negative protection", func(a *App) { a.Protection = &ProtectionConfig{MaxFailures: -1} }, "protection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := loginTestApp("root@tcp(127.0.0.1:3306)/claimgate")
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

// TestPlaceholders resolves {env.X} in the DSN and in client secrets.
func TestPlaceholders(t *testing.T) {
	t.Setenv("CLAIMGATE_TEST_LOGIN_DSN", storetest.NewDemoDatabase(t))
	t.Setenv("CLAIMGATE_TEST_LOGIN_SECRET", "from-the-environment")
	h := newHarness(t, func(a *App) {
		a.Database.DSN = "{env.CLAIMGATE_TEST_LOGIN_DSN}"
		a.Clients[0].Secret = "{env.CLAIMGATE_TEST_LOGIN_SECRET}"
	})
	expectToken(t, h.form(passwordForm("client_secret", "from-the-environment")))
	expectError(t, h.form(passwordForm("client_secret", "{env.CLAIMGATE_TEST_LOGIN_SECRET}")), 401, "invalid_client")
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
		{"bad rule", func(a *App) { a.Rules = append(a.Rules, enrichClaim("x", "no_such_variable")) }, "rules"},
		{"missing key file", func(a *App) { a.SigningKey.File = "/nonexistent/claimgate-key.pem" }, "signing keys"},
		{"invalid config", func(a *App) { a.Clients[0].Audiences = nil }, "audience"},
	}
	dsn := storetest.NewDemoDatabase(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := loginTestApp(dsn)
			tt.change(app)
			_, err := provisionHarness(t, app) // its t.Cleanup runs app.Cleanup
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one about %q", err, tt.wantErr)
			}
		})
	}
}

// TestDatabaseDown: the config loads with the database unreachable, and
// logins answer 503 with Retry-After until it is back.
func TestDatabaseDown(t *testing.T) {
	h, err := provisionHarness(t, loginTestApp("root@tcp("+closedPort(t)+")/claimgate?timeout=2s"))
	if err != nil {
		t.Fatalf("provisioning with the database down: %v", err)
	}
	w := h.form(passwordForm())
	expectError(t, w, http.StatusServiceUnavailable, "temporarily_unavailable")
	if w.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// Endpoints that need no database keep working.
	if w := h.do(loginRequest{method: http.MethodGet, path: pathJWKS}); w.Code != http.StatusOK {
		t.Errorf("jwks: %d", w.Code)
	}
	if h.logs.FilterMessage("token request refused").FilterFieldKey("cause").Len() == 0 {
		t.Error("the database error was not logged")
	}
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

func TestEmbeddedDSN(t *testing.T) {
	h, err := provisionHarness(t, loginTestApp("embedded"))
	if err != nil {
		t.Fatal(err)
	}
	expectToken(t, h.form(passwordForm()))
	warned := h.logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("EMBEDDED DEMO DATABASE")
	if warned.Len() != 1 {
		t.Errorf("embedded database warning logged %d times", warned.Len())
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
		app := loginTestApp(dsn)
		app.Issuer = issuer
		h, err := provisionHarness(t, app)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.logs.FilterMessageSnippet("issuer uses http://").Len() == 1; got != warn {
			t.Errorf("%s: warned %v, want %v", issuer, got, warn)
		}
	}
}

func TestDenyRuleFailsClosed(t *testing.T) {
	h := newHarness(t, func(a *App) {
		a.Rules = append(a.Rules, enrich.Rule{Kind: enrich.KindDeny, Expr: `app_metadata.plan == "banned"`, Message: "Banned."})
	})
	// alice has a plan: the rule evaluates to false.
	expectToken(t, h.form(passwordForm()))
	// carol's app_metadata is {}: the rule fails, and the login is refused
	// with a generic message.
	e := expectError(t, h.form(passwordForm("username", "carol@example.test", "password", "carol-php-bcrypt")), 403, "access_denied")
	if e.Description == "Banned." || e.Description == "" {
		t.Errorf("error_description = %q, want a generic message", e.Description)
	}
}

func TestClaimsTooLarge(t *testing.T) {
	dsn := storetest.NewDemoDatabase(t)
	db := storetest.Open(t, dsn)
	big := `{"notes":"` + strings.Repeat("x", 20<<10) + `"}`
	if _, err := db.ExecContext(context.Background(),
		"INSERT INTO users (email, password_hash, app_metadata) VALUES (?, ?, ?)",
		"big@example.test", demo.DemoUsers[0].PasswordHash, big); err != nil {
		t.Fatal(err)
	}
	app := loginTestApp(dsn)
	app.Rules = append(app.Rules, enrichClaim("https://example.test/meta", "app_metadata"))
	h, err := provisionHarness(t, app)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, h.form(passwordForm("username", "big@example.test")), 500, "server_error")
	expectToken(t, h.form(passwordForm())) // alice's metadata fits
}

func TestWithoutOptionalQueries(t *testing.T) {
	h := newHarness(t, func(a *App) {
		a.Database.PermissionsQuery = ""
		a.Database.OrganizationQuery = ""
		a.Database.RolesQuery = ""
		a.Database.UserQuery = "SELECT id AS user_id, email, password_hash, app_metadata, updated_at FROM users WHERE email = ?"
	})
	body, _ := expectToken(t, h.form(passwordForm("scope", "openid profile")))
	_, access := h.parseJWT(body.AccessToken)
	if _, ok := access["permissions"]; ok {
		t.Error("permissions claim without permissions_query")
	}
	// roles fall back to app_metadata.roles.
	if !sameStrings(access[rolesClaim], []string{"admin", "editor"}) {
		t.Errorf("roles = %v", access[rolesClaim])
	}
	_, id := h.parseJWT(body.IDToken)
	if _, ok := id["updated_at"].(float64); !ok {
		t.Errorf("updated_at = %#v, want seconds", id["updated_at"])
	}
	expectError(t, h.form(passwordForm("organization", "org_acme")), 400, "invalid_request")
}

func TestRehash(t *testing.T) {
	dsn := storetest.NewDemoDatabase(t)
	app := loginTestApp(dsn)
	app.Database.RehashQuery = demo.DemoRehashQuery
	h, err := provisionHarness(t, app)
	if err != nil {
		t.Fatal(err)
	}
	expectToken(t, h.form(passwordForm()))
	h.app.background.Wait()

	var hash string
	db := storetest.Open(t, dsn)
	if err := db.QueryRowContext(context.Background(), "SELECT password_hash FROM users WHERE id = 1").Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$") {
		t.Fatalf("hash not upgraded: %.10s…", hash)
	}
	// The upgraded hash verifies, and is not upgraded again.
	expectToken(t, h.form(passwordForm()))
	h.app.background.Wait()
	if n := h.logs.FilterMessage("upgraded password hash to argon2id").Len(); n != 1 {
		t.Errorf("upgraded %d times", n)
	}
}

func TestHashingSaturated(t *testing.T) {
	h := newHarness(t, func(a *App) {
		a.Protection = &ProtectionConfig{MaxConcurrentHashes: 1, HashQueueTimeout: caddy.Duration(1)}
	})
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- h.app.guard.Do(context.Background(), func() { close(inside); <-release })
	}()
	<-inside
	w := h.form(passwordForm())
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	expectError(t, w, http.StatusServiceUnavailable, "temporarily_unavailable")
	if w.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	expectToken(t, h.form(passwordForm())) // the slot is free again
}

// TestUnknownHashFormat: a hash in no known format fails like a wrong
// password; the log says why without the hash.
func TestUnknownHashFormat(t *testing.T) {
	dsn := storetest.NewDemoDatabase(t)
	const stored = "md5$5f4dcc3b5aa765d61d8327deb882cf99"
	db := storetest.Open(t, dsn)
	if _, err := db.ExecContext(context.Background(),
		"INSERT INTO users (email, password_hash) VALUES (?, ?)", "legacy@example.test", stored); err != nil {
		t.Fatal(err)
	}
	h, err := provisionHarness(t, loginTestApp(dsn))
	if err != nil {
		t.Fatal(err)
	}
	e := expectError(t, h.form(passwordForm("username", "legacy@example.test", "password", "password")), 400, "invalid_grant")
	if e.Description != wrongCredentials {
		t.Errorf("error_description = %q", e.Description)
	}
	failed := h.logs.FilterMessage("login failed").All()
	if len(failed) != 1 || !strings.Contains(failed[0].ContextMap()["error"].(string), "unknown password hash format") {
		t.Fatalf("login failure log %v", failed)
	}
	for _, entry := range h.logs.All() {
		if text := entry.Message + fmt.Sprint(entry.ContextMap()); strings.Contains(text, "5f4dcc3b") {
			t.Errorf("log entry %q shows the hash", entry.Message)
		}
	}
}
