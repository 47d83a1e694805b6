package login

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap/zapcore"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/store"
	"github.com/claimgate/claimgate/store/storetest"
)

// healthInterval is how often the tests' apps ping their database.
const healthInterval = 50 * time.Millisecond

// withFastHealth makes the app check its database every healthInterval.
func withFastHealth(configure func(*app.App)) func(*app.App) {
	return func(a *app.App) {
		a.SetHealthInterval(healthInterval)
		if configure != nil {
			configure(a)
		}
	}
}

// health GETs path and decodes its body.
func (h *harness) health(path string) (int, healthBody) {
	h.t.Helper()
	w := h.do(loginRequest{method: http.MethodGet, path: path})
	var body healthBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		h.t.Fatalf("GET %s: %d %q: %v", path, w.Code, w.Body, err)
	}
	return w.Code, body
}

// waitHealth polls path until it answers status with database, or fails
// the test after a while.
func (h *harness) waitHealth(path string, status int, database string) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := h.health(path)
		if code == status && body.Database == database {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("GET %s: %d %+v; want %d with database %q", path, code, body, status, database)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHealth: both endpoints answer the three fields and nothing else,
// uncached, without authentication, to GET and HEAD only, and leave other
// paths alone.
func TestHealth(t *testing.T) {
	h := newHarness(t, withFastHealth(nil))
	h.waitHealth(pathHealthReady, http.StatusOK, "ok")
	for _, path := range []string{pathHealth, pathHealthReady} {
		w := h.do(loginRequest{method: http.MethodGet, path: path})
		if w.Code != http.StatusOK {
			t.Errorf("GET %s: %d", path, w.Code)
		}
		if got, want := strings.TrimSpace(w.Body.String()), `{"status":"ok","database":"ok","signing_key":"ok"}`; got != want {
			t.Errorf("GET %s: body %s, want %s", path, got, want)
		}
		if got := w.Header().Get("Content-Type"); got != "application/json" {
			t.Errorf("GET %s: Content-Type %q", path, got)
		}
		expectNoStoreOnly(t, w)

		if w := h.do(loginRequest{method: http.MethodHead, path: path}); w.Code != http.StatusOK {
			t.Errorf("HEAD %s: %d", path, w.Code)
		}
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			w := h.do(loginRequest{method: method, path: path})
			if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, Allow %q", method, path, w.Code, w.Header().Get("Allow"))
			}
		}
	}
	for _, path := range []string{"/health/", "/healthz", "/health/ready/x"} {
		if w := h.do(loginRequest{method: http.MethodGet, path: path}); w.Code != http.StatusTeapot {
			t.Errorf("GET %s: %d, want the next handler", path, w.Code)
		}
	}
}

// TestHealthReadyDatabaseDownAndBack: with the database cut off, /health
// stays 200 (liveness) and /health/ready turns 503 "unavailable", without
// a probe ever querying the database; once it is back, both say ok again
// and logins work.
func TestHealthReadyDatabaseDownAndBack(t *testing.T) {
	dsn := storetest.NewDemoDatabase(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testkit.NewTCPProxy(t, cfg.Addr)
	cfg.Addr = proxy.Addr()
	cfg.Timeout = 2 * time.Second

	a := loginTestApp(cfg.FormatDSN())
	withFastHealth(nil)(a)
	h, err := provisionHarness(t, a)
	if err != nil {
		t.Fatal(err)
	}
	h.waitHealth(pathHealthReady, http.StatusOK, "ok")
	expectToken(t, h.form(passwordForm()))

	proxy.Stop()
	h.waitHealth(pathHealthReady, http.StatusServiceUnavailable, "unavailable")
	if code, body := h.health(pathHealth); code != http.StatusOK || body != (healthBody{"ok", "unavailable", "ok"}) {
		t.Errorf("/health with the database down: %d %+v", code, body)
	}
	expectError(t, h.form(passwordForm()), http.StatusServiceUnavailable, "temporarily_unavailable")

	proxy.Start()
	h.waitHealth(pathHealthReady, http.StatusOK, "ok")
	expectToken(t, h.form(passwordForm()))
	if h.logs.FilterMessageSnippet("the user database is unreachable").Len() != 1 ||
		h.logs.FilterMessageSnippet("the user database is reachable again").Len() != 1 {
		t.Error("the outage and the recovery are not logged once each")
	}
}

// TestMisconfiguredQueries: a query that does not fit the schema is an
// ERROR at start naming the directive (and the column), /health/ready says
// misconfigured, and logins answer 500 server_error, not the 503 of an
// outage.
func TestMisconfiguredQueries(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*app.DatabaseConfig)
		directive string
		log       string // the ERROR's message, or its beginning
		exact     bool
	}{
		{name: "user_query without password_hash",
			configure: func(d *app.DatabaseConfig) {
				d.UserQuery = "SELECT id AS user_id, email, password_hash AS password FROM users WHERE email = ?"
			},
			directive: "user_query", exact: true,
			log: `user_query returns no password_hash column; alias it, e.g. "password AS password_hash"`},
		{name: "user_query on a missing table",
			configure: func(d *app.DatabaseConfig) {
				d.UserQuery = "SELECT id AS user_id, password_hash FROM accounts WHERE email = ?"
			},
			directive: "user_query", log: "user_query is refused by the database: "},
		{name: "roles_query with a syntax error",
			configure: func(d *app.DatabaseConfig) { d.RolesQuery = "SELEC name FROM roles WHERE id = ?" },
			directive: "roles_query", log: "roles_query is refused by the database: "},
		{name: "rehash_query on a missing column",
			configure: func(d *app.DatabaseConfig) {
				d.RehashQuery = "UPDATE users SET pw = ? WHERE id = ? AND pw = ?"
			},
			directive: "rehash_query", log: "rehash_query is refused by the database: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withFastHealth(func(a *app.App) { tt.configure(a.Database) }))
			h.waitHealth(pathHealthReady, http.StatusServiceUnavailable, "misconfigured")
			if code, body := h.health(pathHealth); code != http.StatusOK || body.Database != "misconfigured" {
				t.Errorf("/health: %d %+v", code, body)
			}

			w := h.form(passwordForm())
			e := expectError(t, w, http.StatusInternalServerError, "server_error")
			if e.Description != "The user store is misconfigured." {
				t.Errorf("error_description %q", e.Description)
			}
			if w.Header().Get("Retry-After") != "" {
				t.Error("a misconfiguration answered with Retry-After")
			}

			var found int
			for _, entry := range h.logs.FilterLevelExact(zapcore.ErrorLevel).All() {
				if entry.ContextMap()["directive"] != tt.directive {
					continue
				}
				if tt.exact && entry.Message == tt.log || !tt.exact && strings.HasPrefix(entry.Message, tt.log) {
					found++
				}
			}
			if found != 1 {
				t.Errorf("%d ERROR entries %q naming %s, want 1 (at start, not again at each check)", found, tt.log, tt.directive)
			}
		})
	}
}

// TestMisconfigurationFixedWithoutRestart: once the DBA creates the table
// the query needs, the next check notices; logins work without a restart.
func TestMisconfigurationFixedWithoutRestart(t *testing.T) {
	h := newHarness(t, withFastHealth(func(a *app.App) {
		a.Database.UserQuery = strings.Replace(demo.DemoUserQuery, "FROM users WHERE",
			"FROM users JOIN accounts ON accounts.user_id = users.id WHERE", 1)
	}))
	h.waitHealth(pathHealthReady, http.StatusServiceUnavailable, "misconfigured")
	expectError(t, h.form(passwordForm()), http.StatusInternalServerError, "server_error")

	h.exec("CREATE TABLE accounts (user_id INT NOT NULL PRIMARY KEY)")
	h.exec("INSERT INTO accounts VALUES (1)")
	h.waitHealth(pathHealthReady, http.StatusOK, "ok")
	expectToken(t, h.form(passwordForm()))
	if h.logs.FilterMessageSnippet("the configured queries fit the database now").Len() != 1 {
		t.Error("the fix is not logged")
	}
}

// TestAudienceRefusalLogged: a client asking for an audience it does not
// have is logged at INFO (not only at DEBUG), once per minute however often
// it asks.
func TestAudienceRefusalLogged(t *testing.T) {
	h := newHarness(t, nil)
	const other = "https://other.example.test"
	for range 3 {
		expectError(t, h.form(passwordForm("audience", other)), http.StatusBadRequest, "invalid_target")
	}
	logged := h.logs.FilterLevelExact(zapcore.InfoLevel).FilterMessageSnippet("audience it is not configured for").All()
	if len(logged) != 1 {
		t.Fatalf("%d INFO entries for 3 refusals, want 1", len(logged))
	}
	if f := logged[0].ContextMap(); f["client_id"] != webClient || f["audience"] != other {
		t.Errorf("fields %v", f)
	}
}

// TestHealthManageSchemaOff: with manage_schema off and claimgate's own
// tables missing, the instance is not ready (logins fail until the DBA
// creates them); once they exist it is, without a restart.
func TestHealthManageSchemaOff(t *testing.T) {
	off := false
	h := newHarness(t, withFastHealth(func(a *app.App) { a.Database.ManageSchema = &off }))
	h.waitHealth(pathHealthReady, http.StatusServiceUnavailable, "misconfigured")
	for _, stmt := range store.SchemaStatements() {
		h.exec(stmt)
	}
	h.waitHealth(pathHealthReady, http.StatusOK, "ok")
}
