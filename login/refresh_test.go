package login

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/go-sql-driver/mysql"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/store"
	"github.com/claimgate/claimgate/store/storetest"
)

// refreshForm is a refresh grant by the web client (post auth), with
// testkit.Overrides.
func refreshForm(token string, extra ...string) url.Values {
	return testkit.RefreshForm(webClient, webSecret, token, extra...)
}

// revokeForm is a revocation by the web client.
func revokeForm(token string) url.Values {
	return testkit.RevokeForm(webClient, webSecret, token)
}

func (h *harness) revoke(form url.Values) *httptest.ResponseRecorder {
	h.t.Helper()
	return h.do(loginRequest{path: pathRevoke, contentType: formType, body: form.Encode()})
}

// db opens the harness's database, for changing users between requests.
func (h *harness) db() *sql.DB {
	h.t.Helper()
	return storetest.Open(h.t, h.dsn)
}

func (h *harness) exec(query string, args ...any) {
	h.t.Helper()
	if _, err := h.db().ExecContext(context.Background(), query, args...); err != nil {
		h.t.Fatalf("%s: %v", query, err)
	}
}

// loginRefresh logs in with offline_access (and scope) and returns the
// refresh token.
func (h *harness) loginRefresh(extra ...string) string {
	h.t.Helper()
	form := passwordForm(append([]string{"scope", "openid offline_access"}, extra...)...)
	body, _ := expectToken(h.t, h.form(form))
	if body.RefreshToken == "" {
		h.t.Fatal("no refresh_token")
	}
	return body.RefreshToken
}

// expectInvalidRefresh checks a refresh refusal.
func expectInvalidRefresh(t testing.TB, w *httptest.ResponseRecorder) {
	t.Helper()
	expectError(t, w, http.StatusBadRequest, "invalid_grant")
}

func TestRefreshRotation(t *testing.T) {
	h := newHarness(t, nil)
	r1 := h.loginRefresh("scope", "openid offline_access read:orders")

	// Stored only as a SHA-256 hash.
	var n int
	sum := sha256.Sum256([]byte("refresh:" + r1))
	db := h.db()
	if err := db.QueryRow("SELECT COUNT(*) FROM claimgate_refresh_tokens WHERE token_hash = ?", hex.EncodeToString(sum[:])).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows with the token's hash: %d, %v", n, err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM claimgate_refresh_tokens WHERE token_hash = ? OR family_id = ?
		OR user_id = ? OR username = ? OR scope = ?`, r1, r1, r1, r1, r1).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows holding the raw token: %d, %v", n, err)
	}

	body, raw := expectToken(t, h.form(refreshForm(r1)))
	if body.Scope != "openid offline_access read:orders" || body.ExpiresIn != 3600 || body.IDToken == "" {
		t.Errorf("refresh answer %v", raw)
	}
	r2 := body.RefreshToken
	if r2 == "" || r2 == r1 {
		t.Fatalf("refresh_token not rotated: %q", r2)
	}
	_, access := h.parseJWT(body.AccessToken)
	if access["sub"] != "1" || access["aud"] != loginAPI || access["client_id"] != webClient ||
		access["scope"] != "openid offline_access read:orders" || !sameStrings(access[rolesClaim], []string{"admin", "editor"}) {
		t.Errorf("refreshed access token %v", access)
	}
	_, id := h.parseJWT(body.IDToken)
	if id["aud"] != webClient || id["sub"] != "1" {
		t.Errorf("refreshed ID token %v", id)
	}

	// An unrelated family of the same user and client.
	other := h.loginRefresh()

	body, _ = expectToken(t, h.form(refreshForm(r2)))
	r3 := body.RefreshToken
	// Reusing a rotated token revokes its whole family ...
	expectInvalidRefresh(t, h.form(refreshForm(r1)))
	expectInvalidRefresh(t, h.form(refreshForm(r3)))
	if h.logs.FilterMessageSnippet("presented again").Len() != 1 {
		t.Error("reuse not logged")
	}
	// ... and only that family.
	expectToken(t, h.form(refreshForm(other)))
}

// TestRefreshConcurrent: of several simultaneous uses of one token exactly
// one gets new tokens. The others count as reuse (the server cannot tell a
// racing client from a thief), so the family ends up revoked.
func TestRefreshConcurrent(t *testing.T) {
	h := newHarness(t, nil)
	r1 := h.loginRefresh()
	const n = 8
	start := make(chan struct{})
	answers := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers[i] = h.form(refreshForm(r1))
		}()
	}
	close(start)
	wg.Wait()
	var codes []int
	var winner *httptest.ResponseRecorder
	refused := 0
	for _, w := range answers {
		codes = append(codes, w.Code)
		switch w.Code {
		case http.StatusOK:
			winner = w
		case http.StatusBadRequest:
			refused++
		}
	}
	if winner == nil || refused != n-1 {
		t.Fatalf("answers %v: want one 200 and %d invalid_grant", codes, n-1)
	}
	body, _ := expectToken(t, winner)
	expectInvalidRefresh(t, h.form(refreshForm(body.RefreshToken)))
}

// TestRefreshFollowsTheUser: a refresh re-reads the user, roles and
// organization and re-runs the rules.
func TestRefreshFollowsTheUser(t *testing.T) {
	h := newHarness(t, nil)

	t.Run("role change", func(t *testing.T) {
		h := h.with(t)
		r := h.loginRefresh()
		var admin int64
		if err := h.db().QueryRow("SELECT id FROM roles WHERE name = 'admin'").Scan(&admin); err != nil {
			t.Fatal(err)
		}
		h.exec("DELETE FROM user_roles WHERE user_id = 1 AND role_id = ?", admin)
		body, _ := expectToken(t, h.form(refreshForm(r)))
		if _, access := h.parseJWT(body.AccessToken); !sameStrings(access[rolesClaim], []string{"editor"}) {
			t.Errorf("roles after refresh = %v", access[rolesClaim])
		}
	})
	t.Run("blocked column", func(t *testing.T) {
		h := h.with(t)
		r := h.loginRefresh()
		h.exec("UPDATE users SET blocked = 1 WHERE id = 1")
		expectInvalidRefresh(t, h.form(refreshForm(r)))
		h.exec("UPDATE users SET blocked = 0 WHERE id = 1")
		expectInvalidRefresh(t, h.form(refreshForm(r))) // the family was revoked
	})
	t.Run("organization membership", func(t *testing.T) {
		h := h.with(t)
		r := h.loginRefresh("username", bob, "password", bobPassword, "organization", "org_globex")
		body, _ := expectToken(t, h.form(refreshForm(r)))
		if _, access := h.parseJWT(body.AccessToken); access["org_id"] != "org_globex" {
			t.Errorf("org_id after refresh = %v", access["org_id"])
		}
		h.exec("DELETE FROM members WHERE user_id = 2")
		expectInvalidRefresh(t, h.form(refreshForm(body.RefreshToken)))
	})
	t.Run("user deleted", func(t *testing.T) {
		h := h.with(t)
		r := h.loginRefresh("username", "carol@example.test", "password", "carol-php-bcrypt")
		h.exec("DELETE FROM users WHERE id = 3")
		expectInvalidRefresh(t, h.form(refreshForm(r)))
	})
	t.Run("login name given to another user", func(t *testing.T) {
		h := h.with(t)
		r := h.loginRefresh("username", "dave@example.test", "password", "dave-django-pbkdf2")
		h.exec("UPDATE users SET email = 'dave-old@example.test' WHERE id = 4")
		h.exec("UPDATE users SET email = 'dave@example.test' WHERE id = 6")
		expectInvalidRefresh(t, h.form(refreshForm(r)))
	})
	t.Run("now denied by a rule", func(t *testing.T) {
		h := h.with(t)
		r := h.loginRefresh("username", bob, "password", bobPassword)
		h.exec(`UPDATE users SET app_metadata = '{"blocked":true}' WHERE id = 2`)
		expectInvalidRefresh(t, h.form(refreshForm(r)))
		h.exec(`UPDATE users SET app_metadata = NULL WHERE id = 2`)
		expectInvalidRefresh(t, h.form(refreshForm(r))) // the family was revoked
	})
}

func TestRefreshClientAndScope(t *testing.T) {
	h := newHarness(t, nil)

	t.Run("another client", func(t *testing.T) {
		h := h.with(t)
		r := h.loginRefresh()
		expectInvalidRefresh(t, h.form(refreshForm(r, "client_id", m2mClient, "client_secret", m2mSecret)))
		// The owner's token still works: another client cannot end it.
		expectToken(t, h.form(refreshForm(r)))
	})
	t.Run("narrowing", func(t *testing.T) {
		h := h.with(t)
		r := h.loginRefresh("scope", "openid offline_access read:orders write:orders", "audience", loginAPI2)
		body, raw := expectToken(t, h.form(refreshForm(r, "scope", "read:orders")))
		if body.Scope != "read:orders" || body.RefreshToken == "" {
			t.Errorf("narrowed refresh %v", raw)
		}
		if _, ok := raw["id_token"]; ok {
			t.Error("id_token without openid")
		}
		_, access := h.parseJWT(body.AccessToken)
		if access["scope"] != "read:orders" || access["aud"] != loginAPI2 {
			t.Errorf("narrowed access token scope %v aud %v", access["scope"], access["aud"])
		}
		// More than the original grant is refused, and does not spend the
		// token.
		for _, scope := range []string{"admin:all", "read:orders profile"} {
			expectError(t, h.form(refreshForm(body.RefreshToken, "scope", scope)), http.StatusBadRequest, "invalid_scope")
		}
		// The family keeps the original scope.
		body, _ = expectToken(t, h.form(refreshForm(body.RefreshToken)))
		if body.Scope != "openid offline_access read:orders write:orders" || body.IDToken == "" {
			t.Errorf("scope after a narrowed refresh = %q", body.Scope)
		}
	})
	t.Run("Basic auth and JSON", func(t *testing.T) {
		h := h.with(t)
		r := h.loginRefresh()
		expectToken(t, h.jsonPost(map[string]string{"grant_type": "refresh_token", "refresh_token": r},
			"Authorization", clientBasic(webClient, webSecret)))
	})
}

func TestRefreshLifetimes(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	h := newHarness(t, nil)
	h.useClock(clock)
	start := time.Now()

	t.Run("idle", func(t *testing.T) {
		h := h.with(t)
		clock.Set(start.Add(-361 * time.Hour))
		r := h.loginRefresh()
		clock.Set(start)
		expectInvalidRefresh(t, h.form(refreshForm(r)))
	})
	t.Run("used within the idle lifetime", func(t *testing.T) {
		h := h.with(t)
		clock.Set(start.Add(-359 * time.Hour))
		r := h.loginRefresh()
		clock.Set(start)
		expectToken(t, h.form(refreshForm(r)))
	})
	t.Run("absolute", func(t *testing.T) {
		h := h.with(t)
		clock.Set(start.Add(-721 * time.Hour))
		r := h.loginRefresh()
		for _, at := range []time.Duration{-421 * time.Hour, -121 * time.Hour} {
			clock.Set(start.Add(at))
			body, _ := expectToken(t, h.form(refreshForm(r)))
			r = body.RefreshToken
		}
		// Used 121h ago (within 360h idle), but the family began 721h ago.
		clock.Set(start)
		expectInvalidRefresh(t, h.form(refreshForm(r)))
	})
	t.Run("configured idle lifetime", func(t *testing.T) {
		clock := testkit.NewClock(start)
		h := newHarness(t, func(a *app.App) { a.RefreshTokenIdleTTL = caddy.Duration(time.Hour) })
		h.useClock(clock)
		r := h.loginRefresh()
		clock.Add(59 * time.Minute)
		body, _ := expectToken(t, h.form(refreshForm(r)))
		clock.Add(61 * time.Minute)
		expectInvalidRefresh(t, h.form(refreshForm(body.RefreshToken)))
	})
}

func TestRevokeRefreshToken(t *testing.T) {
	h := newHarness(t, nil)
	r1 := h.loginRefresh()
	body, _ := expectToken(t, h.form(refreshForm(r1)))
	r2 := body.RefreshToken

	// Another client's revocation is answered 200 but changes nothing.
	if w := h.revoke(url.Values{"token": {r2}, "client_id": {spaClient}}); w.Code != http.StatusOK {
		t.Fatalf("revoke by another client: %d", w.Code)
	}
	body, _ = expectToken(t, h.form(refreshForm(r2)))
	r3 := body.RefreshToken

	// Revoking any token of the family (here an already rotated one) ends
	// it.
	w := h.revoke(revokeForm(r1))
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("revoke: %d %q", w.Code, w.Body)
	}
	expectNoStoreOnly(t, w)
	expectInvalidRefresh(t, h.form(refreshForm(r3)))

	// Unknown tokens and access tokens: 200, empty.
	other, _ := expectToken(t, h.form(passwordForm()))
	for _, tok := range []string{"unknown", other.AccessToken} {
		if w := h.revoke(revokeForm(tok)); w.Code != http.StatusOK || w.Body.Len() != 0 {
			t.Errorf("revoke %.8s…: %d %q", tok, w.Code, w.Body)
		}
	}
}

func expectNoStoreOnly(t testing.TB, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", w.Header().Get("Cache-Control"))
	}
}

// TestManageSchemaOff: logins, refreshes and revocations fail closed (503)
// until the DBA has created the tables, then work. (That no DDL ever runs,
// and what the state worker reports, is app's TestManageSchemaOff.)
func TestManageSchemaOff(t *testing.T) {
	off := false
	h := newHarness(t, func(a *app.App) { a.Database.ManageSchema = &off })
	w := h.form(passwordForm("scope", "openid offline_access"))
	expectError(t, w, http.StatusServiceUnavailable, "temporarily_unavailable")
	retryAfter(t, w)
	expectError(t, h.form(refreshForm("anything")), http.StatusServiceUnavailable, "temporarily_unavailable")
	if w := h.revoke(revokeForm("anything")); w.Code != http.StatusServiceUnavailable {
		t.Errorf("revoke: %d", w.Code)
	}

	// The DBA runs `claimgate schema`.
	for _, stmt := range store.SchemaStatements() {
		h.exec(stmt)
	}
	r := h.loginRefresh()
	body, _ := expectToken(t, h.form(refreshForm(r)))
	if w := h.revoke(revokeForm(body.RefreshToken)); w.Code != http.StatusOK {
		t.Errorf("revoke: %d", w.Code)
	}
}

// TestDatabaseDownThenBack: started with MySQL unreachable, claimgate
// answers 503 (login, refresh, revoke) and, once the database is back,
// creates its tables and works without a restart.
func TestDatabaseDownThenBack(t *testing.T) {
	dsn := storetest.NewDemoDatabase(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testkit.NewTCPProxy(t, cfg.Addr)
	proxy.Stop() // the database is down from the start
	cfg.Addr = proxy.Addr()
	cfg.Timeout = 2 * time.Second

	h, err := provisionHarness(t, loginTestApp(cfg.FormatDSN()))
	if err != nil {
		t.Fatalf("provisioning with the database down: %v", err)
	}
	for name, w := range map[string]*httptest.ResponseRecorder{
		"login":   h.form(passwordForm()),
		"refresh": h.form(refreshForm("anything")),
		"revoke":  h.revoke(revokeForm("anything")),
	} {
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Errorf("%s with the database down: %d, Retry-After %q", name, w.Code, w.Header().Get("Retry-After"))
		}
	}

	proxy.Start()
	r := h.loginRefresh()
	expectToken(t, h.form(refreshForm(r)))
	// Failures, IP budgets, refresh tokens, rehashes, codes, sessions.
	if tables := testkit.ClaimgateTables(t, storetest.Open(t, dsn)); len(tables) != 6 {
		t.Errorf("claimgate tables after recovery: %v", tables)
	}
}

func TestDiscoveryWithoutRefreshClients(t *testing.T) {
	h := newHarness(t, func(a *app.App) {
		a.Clients = a.Clients[1:2] // the public client: password only
	})
	doc := h.login.discovery()
	if !sameStringSlices(doc.GrantTypesSupported, []string{"password", grant.TypePasswordRealm}) {
		t.Errorf("grant_types_supported = %v", doc.GrantTypesSupported)
	}
}

func sameStringSlices(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
