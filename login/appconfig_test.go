package login

// The tests of how the app's configuration shows in logins, moved here
// from package app with the split of caddymodule: they run the login
// handler, which app's own tests cannot import.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap/zapcore"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/store/storetest"
)

// TestPlaceholders resolves {env.X} in the DSN and in client secrets.
func TestPlaceholders(t *testing.T) {
	t.Setenv("CLAIMGATE_TEST_LOGIN_DSN", storetest.NewDemoDatabase(t))
	t.Setenv("CLAIMGATE_TEST_LOGIN_SECRET", "from-the-environment")
	h := newHarness(t, func(a *app.App) {
		a.Database.DSN = "{env.CLAIMGATE_TEST_LOGIN_DSN}"
		a.Clients[0].Secret = "{env.CLAIMGATE_TEST_LOGIN_SECRET}"
	})
	expectToken(t, h.form(passwordForm("client_secret", "from-the-environment")))
	expectError(t, h.form(passwordForm("client_secret", "{env.CLAIMGATE_TEST_LOGIN_SECRET}")), 401, "invalid_client")
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

func TestDenyRuleFailsClosed(t *testing.T) {
	h := newHarness(t, func(a *app.App) {
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
	a := loginTestApp(dsn)
	a.Rules = append(a.Rules, enrichClaim("https://example.test/meta", "app_metadata"))
	h, err := provisionHarness(t, a)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, h.form(passwordForm("username", "big@example.test")), 500, "server_error")
	expectToken(t, h.form(passwordForm())) // alice's metadata fits
}

func TestWithoutOptionalQueries(t *testing.T) {
	h := newHarness(t, func(a *app.App) {
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
	a := loginTestApp(dsn)
	a.Database.RehashQuery = demo.DemoRehashQuery
	h, err := provisionHarness(t, a)
	if err != nil {
		t.Fatal(err)
	}
	expectToken(t, h.form(passwordForm()))
	h.app.Grants().WaitBackground()

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
	h.app.Grants().WaitBackground()
	if n := h.logs.FilterMessage("upgraded password hash to argon2id").Len(); n != 1 {
		t.Errorf("upgraded %d times", n)
	}
}

func TestHashingSaturated(t *testing.T) {
	h := newHarness(t, func(a *app.App) {
		a.Protection = &app.ProtectionConfig{MaxConcurrentHashes: 1, HashQueueTimeout: caddy.Duration(1)}
	})
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- h.app.Grants().Guard().Do(context.Background(), func() { close(inside); <-release })
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
