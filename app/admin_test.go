package app

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/testkit"
)

// adminUnblock sends body to the unblock route of an admin router serving
// app (the running config's app when app is nil) and returns the recorded
// answer and the handler's error, which Caddy's admin server would turn
// into the status and JSON error of the response.
func adminUnblock(t *testing.T, app *App, method, body string) (*httptest.ResponseRecorder, error) {
	t.Helper()
	router := new(adminAPI)
	if app != nil {
		router.running = func() (*App, error) { return app, nil }
	}
	routes := router.Routes()
	if len(routes) != 1 || routes[0].Pattern != unblockPath {
		t.Fatalf("routes %+v, want one for %s", routes, unblockPath)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, unblockPath, strings.NewReader(body))
	return rec, routes[0].Handler.ServeHTTP(rec, req)
}

// wantAPIError checks that err is a caddy.APIError with status whose
// message mentions want.
func wantAPIError(t *testing.T, err error, status int, want string) {
	t.Helper()
	var apiErr caddy.APIError
	switch {
	case !errors.As(err, &apiErr):
		t.Errorf("error %v (%T), want a caddy.APIError", err, err)
	case apiErr.HTTPStatus != status:
		t.Errorf("status %d (%v), want %d", apiErr.HTTPStatus, err, status)
	case !strings.Contains(err.Error(), want):
		t.Errorf("error %q lacks %q", err, want)
	}
}

func TestAdminModuleRegistered(t *testing.T) {
	info, err := caddy.GetModule("admin.api.claimgate")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.New().(caddy.AdminRouter); !ok {
		t.Fatalf("admin.api.claimgate is a %T, not a caddy.AdminRouter", info.New())
	}
}

// TestAdminUnblock blocks users the way logins do, then clears the blocks
// through the admin route: by user_id and IP, by an unknown login name, and
// an IP's budget. The route works on the app's own pool, here a database
// the test made; the integration test runs it on `dsn embedded`.
func TestAdminUnblock(t *testing.T) {
	h := newHarness(t, func(a *App) {
		a.Protection = &ProtectionConfig{MaxFailures: 2, IPFailuresPerDay: 5}
	})
	const nobody = "nobody@example.test"
	wantBlocked := func(ip, user, password, reason string) {
		t.Helper()
		var blocked *grant.BlockedError
		if _, err := h.password(ip, user, password); !errors.As(err, &blocked) || blocked.Reason != reason {
			t.Fatalf("login %s from %s: %v, want a %s block", user, ip, err, reason)
		}
	}
	unblock := func(body string) int64 {
		t.Helper()
		rec, err := adminUnblock(t, h.app, http.MethodPost, body)
		if err != nil {
			t.Fatalf("POST %s: %v", body, err)
		}
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("POST %s: %d %s %s", body, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		var answer struct {
			Cleared *int64 `json:"cleared"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer.Cleared == nil {
			t.Fatalf("POST %s: answer %s (%v), want {\"cleared\":N}", body, rec.Body, err)
		}
		return *answer.Cleared
	}

	failLogins(t, h, ipA, alice, 2)
	wantBlocked(ipA, alice, testkit.AlicePassword, "user_ip")
	aliceID := strconv.FormatInt(testkit.DemoUser(t, alice).ID, 10)
	if n := unblock(`{"user":"` + aliceID + `","ip":"` + ipA + `"}`); n == 0 {
		t.Error("user and IP: cleared 0 rows")
	}
	if _, err := h.password(ipA, alice, testkit.AlicePassword); err != nil {
		t.Fatalf("alice after the unblock: %v", err)
	}

	failLogins(t, h, ipB, nobody, 2)
	wantBlocked(ipB, nobody, "wrong", "user_ip")
	if n := unblock(`{"user":"` + nobody + `"}`); n == 0 {
		t.Error("login name: cleared 0 rows")
	}
	failLogins(t, h, ipB, nobody, 1) // counted afresh: bad credentials again, not blocked

	// ipA has spent 2 of its 5 failures a day: spend the rest on other
	// names, then clear its budget.
	for i := range 3 {
		failLogins(t, h, ipA, "other-"+strconv.Itoa(i)+"@example.test", 1)
	}
	wantBlocked(ipA, alice, testkit.AlicePassword, "ip")
	if n := unblock(`{"ip":"` + ipA + `"}`); n != 1 {
		t.Errorf("IP budget: cleared %d rows, want its 1", n)
	}
	if _, err := h.password(ipA, alice, testkit.AlicePassword); err != nil {
		t.Fatalf("alice after the IP's unblock: %v", err)
	}
	if n := unblock(`{"user":"` + aliceID + `"}`); n != 0 {
		t.Errorf("nothing left to clear: cleared %d rows", n)
	}

	// The route's log line may not carry the login name the operator typed.
	entries := h.logs.FilterMessage("brute-force blocks cleared through the admin API").All()
	if len(entries) != 4 {
		t.Errorf("%d log entries, want one per unblock", len(entries))
	}
	for _, line := range testkit.EntryLines(entries) {
		if strings.Contains(line, nobody) {
			t.Errorf("log entry names the login name: %s", line)
		}
	}
}

// TestAdminUnblockErrors checks the status of every refusal: Caddy's admin
// server answers a caddy.APIError with its status and a JSON error.
func TestAdminUnblockErrors(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		name, method, body string
		status             int
		want               string
	}{
		{"GET", http.MethodGet, "", http.StatusMethodNotAllowed, "use POST"},
		{"no body", http.MethodPost, "", http.StatusBadRequest, "decoding the request body"},
		{"not JSON", http.MethodPost, "user=42", http.StatusBadRequest, "decoding the request body"},
		{"a number", http.MethodPost, `{"user":42}`, http.StatusBadRequest, "decoding the request body"},
		{"a misspelt field", http.MethodPost, `{"usr":"42"}`, http.StatusBadRequest, `unknown field "usr"`},
		{"neither user nor ip", http.MethodPost, `{}`, http.StatusBadRequest, "give user, ip or both"},
		{"two objects", http.MethodPost, `{"user":"42"}{"ip":"192.0.2.1"}`, http.StatusBadRequest, "more than one JSON value"},
		{"too long", http.MethodPost, `{"user":"` + strings.Repeat("x", maxUnblockBody) + `"}`, http.StatusBadRequest, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := adminUnblock(t, h.app, tt.method, tt.body)
			wantAPIError(t, err, tt.status, tt.want)
			if tt.status == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow %q, want POST", rec.Header().Get("Allow"))
			}
		})
	}

	t.Run("no claimgate app running", func(t *testing.T) {
		// No test of this package loads a Caddy config, so the running
		// one is empty.
		_, err := adminUnblock(t, nil, http.MethodPost, `{"user":"42"}`)
		wantAPIError(t, err, http.StatusConflict, "no claimgate app is running")
	})

	t.Run("database down", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := "root@tcp(" + l.Addr().String() + ")/claimgate"
		l.Close()
		h := newHarness(t, func(a *App) { a.Database.DSN = down })
		_, err = adminUnblock(t, h.app, http.MethodPost, `{"user":"42"}`)
		wantAPIError(t, err, http.StatusServiceUnavailable, "clearing blocks")
	})
}
