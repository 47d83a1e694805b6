package login

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/store/storetest"
)

// defaultMaxFailures is protection's documented max_failures default
// (app's TestAppDefaults checks the value).
const defaultMaxFailures = 10

// Client IPs of the brute-force tests (TEST-NET-2).
const (
	ipA = "198.51.100.1"
	ipB = "198.51.100.2"
	ipC = "198.51.100.3"
)

// retryAfter returns the Retry-After seconds of a 429 or 503.
func retryAfter(t testing.TB, w *httptest.ResponseRecorder) int {
	t.Helper()
	secs, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Fatalf("Retry-After = %q, want whole seconds >= 1", w.Header().Get("Retry-After"))
	}
	return secs
}

// expectBlocked checks a 429 too_many_attempts with a Retry-After of at
// most max seconds.
func expectBlocked(t testing.TB, w *httptest.ResponseRecorder, max int) {
	t.Helper()
	expectError(t, w, http.StatusTooManyRequests, "too_many_attempts")
	if secs := retryAfter(t, w); secs > max {
		t.Errorf("Retry-After = %d, want at most %d", secs, max)
	}
}

// failLogins sends n wrong-password logins for user from ip and checks
// each is an ordinary invalid_grant.
func failLogins(t testing.TB, h *harness, ip, user string, n int) {
	t.Helper()
	for i := range n {
		w := h.formFrom(ip, passwordForm("username", user, "password", "wrong-"+strconv.Itoa(i)))
		expectError(t, w, http.StatusBadRequest, "invalid_grant")
	}
}

func TestBruteForceBlocksUserFromIP(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	h := newHarness(t, func(a *app.App) { a.Protection = &app.ProtectionConfig{MaxFailures: 3} })
	h.useClock(clock)
	failLogins(t, h, ipA, alice, 3)

	// The right password is refused too, for block_for (1h).
	expectBlocked(t, h.formFrom(ipA, passwordForm()), 3600)
	// Another IP, and another user from this IP, are not affected.
	expectToken(t, h.formFrom(ipB, passwordForm()))
	expectToken(t, h.formFrom(ipA, passwordForm("username", bob, "password", bobPassword)))

	// 429s are not counted: one half-way through does not extend the block.
	clock.Add(30 * time.Minute)
	expectBlocked(t, h.formFrom(ipA, passwordForm()), 1800)
	clock.Add(30*time.Minute + time.Second)
	expectToken(t, h.formFrom(ipA, passwordForm()))
	if n := h.logs.FilterMessage("token request refused").FilterField(
		zap.String("error", "too_many_attempts")).Len(); n != 2 {
		t.Errorf("%d blocks logged, want 2", n)
	}
}

func TestBruteForceDefaultMaxFailures(t *testing.T) {
	h := newHarness(t, nil)
	// An unknown name is counted too (by its collation key), and costs the
	// same dummy hash as a wrong password.
	const mallory = "mallory@example.test"
	failLogins(t, h, ipA, mallory, defaultMaxFailures)
	expectBlocked(t, h.formFrom(ipA, passwordForm("username", mallory)), 3600)
	// Spellings the user table's collation treats as equal share the counter
	// (a leading space is not such a spelling: it would not find the user).
	// Whether another case is one depends on the server: MariaDB's default
	// collation ignores case, the embedded server's (utf8mb4_0900_bin) does
	// not. The user table answers which.
	var caseless int
	if err := h.db().QueryRow("SELECT COUNT(*) FROM users WHERE email = ?", "ALICE@Example.test").Scan(&caseless); err != nil {
		t.Fatal(err)
	}
	if respelt := h.formFrom(ipA, passwordForm("username", "MALLORY@Example.test")); caseless == 1 {
		expectBlocked(t, respelt, 3600)
	} else {
		expectError(t, respelt, http.StatusBadRequest, "invalid_grant")
	}
	expectError(t, h.formFrom(ipB, passwordForm("username", mallory)), http.StatusBadRequest, "invalid_grant")
}

func TestBruteForceSuccessResets(t *testing.T) {
	h := newHarness(t, func(a *app.App) { a.Protection = &app.ProtectionConfig{MaxFailures: 3} })
	for range 2 {
		failLogins(t, h, ipA, alice, 2)
		expectToken(t, h.formFrom(ipA, passwordForm()))
	}
	failLogins(t, h, ipA, alice, 2)
	expectToken(t, h.formFrom(ipA, passwordForm()))
}

func TestBruteForceAccountLockout(t *testing.T) {
	h := newHarness(t, func(a *app.App) { a.Protection = &app.ProtectionConfig{MaxFailures: 3, AccountLockout: true} })
	// Failures from several IPs add up for the account.
	failLogins(t, h, ipA, alice, 2)
	failLogins(t, h, ipB, alice, 1)
	for _, ip := range []string{ipA, ipB, ipC} {
		expectBlocked(t, h.formFrom(ip, passwordForm()), 3600)
	}
	// Other users are not affected.
	expectToken(t, h.formFrom(ipA, passwordForm("username", bob, "password", bobPassword)))
}

func TestBruteForceIPBudget(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	h := newHarness(t, func(a *app.App) { a.Protection = &app.ProtectionConfig{IPFailuresPerDay: 3} })
	h.useClock(clock)
	// Three failures for three different names spend the budget of ipA.
	failLogins(t, h, ipA, alice, 1)
	failLogins(t, h, ipA, bob, 1)
	failLogins(t, h, ipA, "nobody@example.test", 1)
	// Every login from ipA is refused now, until one failure has refilled:
	// 24h / 3 = 8h.
	w := h.formFrom(ipA, passwordForm("username", "carol@example.test", "password", "carol-php-bcrypt"))
	expectBlocked(t, w, 8*3600)
	if secs := retryAfter(t, w); secs != 8*3600 {
		t.Errorf("Retry-After = %d, want %d", secs, 8*3600)
	}
	expectToken(t, h.formFrom(ipB, passwordForm()))

	clock.Add(8 * time.Hour)
	expectToken(t, h.formFrom(ipA, passwordForm())) // a success spends nothing
	failLogins(t, h, ipA, alice, 1)
	expectBlocked(t, h.formFrom(ipA, passwordForm()), 8*3600)
}

func TestBruteForceTrustForwardedFor(t *testing.T) {
	h := newHarness(t, func(a *app.App) {
		a.Protection = &app.ProtectionConfig{MaxFailures: 3}
		a.Clients[0].TrustForwardedFor = "Auth0-Forwarded-For"
	})
	const backend = ipC // the confidential client's server
	const userIP, otherUserIP = "203.0.113.7", "2001:db8::7"

	t.Run("confidential client with trust", func(t *testing.T) {
		h := h.with(t)
		for i := range 3 {
			w := h.formFrom(backend, passwordForm("password", "wrong"+strconv.Itoa(i)), "Auth0-Forwarded-For", userIP)
			expectError(t, w, http.StatusBadRequest, "invalid_grant")
		}
		expectBlocked(t, h.formFrom(backend, passwordForm(), "Auth0-Forwarded-For", userIP), 3600)
		// The backend serves other users, who are not blocked.
		expectToken(t, h.formFrom(backend, passwordForm(), "Auth0-Forwarded-For", otherUserIP))
		// A value that is not an IP falls back to the backend's own.
		expectToken(t, h.formFrom(backend, passwordForm(), "Auth0-Forwarded-For", "not-an-ip"))
	})
	t.Run("public client", func(t *testing.T) {
		h := h.with(t)
		spa := func(pw string) url.Values {
			return passwordForm("client_id", spaClient, "client_secret", "", "username", bob, "password", pw)
		}
		// A public client cannot vouch for an IP: every attempt counts
		// against the IP it comes from, whatever the header says.
		for i := range 3 {
			w := h.formFrom(ipB, spa("wrong"), "Auth0-Forwarded-For", "203.0.113."+strconv.Itoa(10+i))
			expectError(t, w, http.StatusBadRequest, "invalid_grant")
		}
		expectBlocked(t, h.formFrom(ipB, spa(bobPassword), "Auth0-Forwarded-For", "203.0.113.99"), 3600)
	})
}

// TestBlockedLoginSpendsNoHash holds the only hashing slot: a blocked login
// still answers 429 (it never asked for a slot), while a login that is not
// blocked gets the guard's 503.
func TestBlockedLoginSpendsNoHash(t *testing.T) {
	h := newHarness(t, func(a *app.App) {
		a.Protection = &app.ProtectionConfig{MaxFailures: 3, MaxConcurrentHashes: 1, HashQueueTimeout: caddy.Duration(1)}
	})
	failLogins(t, h, ipA, alice, 3)

	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- h.app.Grants().Guard().Do(context.Background(), func() { close(inside); <-release })
	}()
	<-inside
	blocked := h.formFrom(ipA, passwordForm())
	saturated := h.formFrom(ipB, passwordForm())
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	expectBlocked(t, blocked, 3600)
	expectError(t, saturated, http.StatusServiceUnavailable, "temporarily_unavailable")
}

// TestBruteForceCountsOnlyBadCredentials: deny rules, organization
// membership and the answers of a saturated guard do not count.
func TestBruteForceCountsOnlyBadCredentials(t *testing.T) {
	h := newHarness(t, func(a *app.App) {
		a.Protection = &app.ProtectionConfig{MaxFailures: 3, MaxConcurrentHashes: 1, HashQueueTimeout: caddy.Duration(1)}
	})
	for range 3 {
		expectError(t, h.formFrom(ipA, passwordForm("username", frank, "password", frankPassword)), http.StatusForbidden, "access_denied")
		expectError(t, h.formFrom(ipA, passwordForm("organization", "org_globex")), http.StatusForbidden, "access_denied")
	}
	inside, release := make(chan struct{}), make(chan struct{})
	go func() { _ = h.app.Grants().Guard().Do(context.Background(), func() { close(inside); <-release }) }()
	<-inside
	for range 3 {
		expectError(t, h.formFrom(ipA, passwordForm("password", "wrong")), http.StatusServiceUnavailable, "temporarily_unavailable")
	}
	close(release)

	// Two failures now do not reach max_failures: nothing before counted.
	failLogins(t, h, ipA, frank, 2)
	failLogins(t, h, ipA, alice, 2)
	expectError(t, h.formFrom(ipA, passwordForm("username", frank, "password", frankPassword)), http.StatusForbidden, "access_denied")
	expectToken(t, h.formFrom(ipA, passwordForm()))
}

// TestBruteForceStateUnavailable: when claimgate's own tables cannot be
// read, logins fail closed with 503, right password or not.
func TestBruteForceStateUnavailable(t *testing.T) {
	dsn := storetest.NewDemoDatabase(t)
	h, err := provisionHarness(t, loginTestApp(dsn))
	if err != nil {
		t.Fatal(err)
	}
	expectToken(t, h.form(passwordForm())) // creates the tables
	db := storetest.Open(t, dsn)
	if _, err := db.ExecContext(context.Background(), "DROP TABLE claimgate_login_failures"); err != nil {
		t.Fatal(err)
	}
	for _, form := range []url.Values{passwordForm(), passwordForm("password", "wrong"), passwordForm("username", "nobody@example.test")} {
		w := h.form(form)
		expectError(t, w, http.StatusServiceUnavailable, "temporarily_unavailable")
		retryAfter(t, w)
	}
	if h.logs.FilterMessage("token request refused").FilterFieldKey("cause").Len() < 3 {
		t.Error("the state store error was not logged")
	}
}
