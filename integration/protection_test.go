package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/claimgate/claimgate/internal/testkit"
)

// TestAuth0Errors runs `errors auth0`: bad credentials answer 403, as Auth0
// does, with the same uniform body.
func TestAuth0Errors(t *testing.T) {
	e := start(t, options{Extra: "errors auth0"})
	alicePW := testkit.DemoUser(t, alice).Password
	{
		var first []byte
		for _, c := range []struct{ user, pw string }{
			{"nobody@example.test", alicePW},
			{eve, testkit.DemoUser(t, eve).Password},
			{bob, "wrong"},
		} {
			resp := e.postForm(passwordForm(c.user, c.pw))
			if resp.status != http.StatusForbidden {
				t.Fatalf("%s: got %s, want 403", c.user, resp)
			}
			if got := resp.oauthError(t); got.Error != "invalid_grant" || got.Description != wrongCredentials {
				t.Errorf("%s: got %s", c.user, resp.body)
			}
			if first == nil {
				first = resp.body
			} else if !bytes.Equal(first, resp.body) {
				t.Errorf("%s: body %q differs from %q", c.user, resp.body, first)
			}
		}
		// Other errors keep their RFC 6749 status.
		(errorCase{name: "deny rule", send: func() response {
			return e.postForm(passwordForm(frank, testkit.DemoUser(t, frank).Password))
		}, status: 403, code: "access_denied", desc: denyMessage}).check(t)
		(errorCase{name: "bad scope", send: func() response {
			return e.postForm(passwordForm(alice, alicePW, "scope", "nope"))
		}, status: 400, code: "invalid_scope"}).check(t)
	}
}

// TestBruteForce runs `max_failures 3` (with `errors auth0`, so failures are
// 403): the fourth attempt for one user from one IP is blocked with 429, even
// with the right password; past `ip_failures_per_day 12` the IP is blocked
// for every user.
func TestBruteForce(t *testing.T) {
	const ipBudget = 12
	e := start(t, options{MaxFailures: 3, IPFailuresPerDay: ipBudget, Extra: "errors auth0"})
	alicePW := testkit.DemoUser(t, alice).Password

	t.Run("blocked after max_failures", func(t *testing.T) {
		for i := 1; i <= 3; i++ {
			resp := e.postForm(passwordForm(alice, fmt.Sprintf("wrong-%d", i)))
			if resp.status != http.StatusForbidden {
				t.Fatalf("failure %d: got %s, want 403 invalid_grant", i, resp)
			}
		}
		for _, pw := range []string{alicePW, "wrong-4"} {
			resp := e.postForm(passwordForm(alice, pw))
			if resp.status != http.StatusTooManyRequests {
				t.Fatalf("after 3 failures (password %.5q…): got %s, want 429", pw, resp)
			}
			wantTooMany(t, resp)
		}
		// Respelling the username must not escape the block: on MariaDB the
		// demo collation is case-insensitive, so these find alice (on the
		// embedded server they are unknown users: 403).
		for _, name := range []string{"ALICE@EXAMPLE.TEST", "Alice@example.test", "alice@example.test "} {
			resp := e.postForm(passwordForm(name, alicePW))
			if resp.status == http.StatusOK {
				t.Errorf("blocked alice got a token by logging in as %q", name)
			}
		}
		// The block is per user and IP: bob still logs in from this IP.
		e.login(t, bob, testkit.DemoUser(t, bob).Password)
	})

	t.Run("a success resets the count", func(t *testing.T) {
		carolPW := testkit.DemoUser(t, carol).Password
		for round := range 2 {
			for i := 1; i <= 2; i++ {
				if resp := e.postForm(passwordForm(carol, "wrong")); resp.status != http.StatusForbidden {
					t.Fatalf("round %d failure %d: got %s", round, i, resp)
				}
			}
			e.login(t, carol, carolPW)
		}
	})

	t.Run("IP over its daily budget", func(t *testing.T) {
		// Fewer than ipBudget failures came before; each unknown user fails
		// once, so only the IP budget can block.
		blocked := false
		for i := range ipBudget + 1 {
			resp := e.postForm(passwordForm(fmt.Sprintf("nobody-%d@example.test", i), "x"))
			if resp.status == http.StatusTooManyRequests {
				blocked = true
				break
			}
			if resp.status != http.StatusForbidden {
				t.Fatalf("attempt %d: got %s", i, resp)
			}
		}
		if !blocked {
			t.Fatalf("no 429 after more than %d failures from one IP", ipBudget)
		}
		// A user who never failed is refused too, with the right password.
		resp := e.postForm(passwordForm(dave, testkit.DemoUser(t, dave).Password))
		if resp.status != http.StatusTooManyRequests {
			t.Fatalf("dave from the blocked IP: got %s, want 429", resp)
		}
		wantTooMany(t, resp)
	})
}

// wantTooMany checks a brute-force block answer.
func wantTooMany(t testing.TB, resp response) {
	t.Helper()
	wantNoStore(t, resp)
	if got := resp.oauthError(t); got.Error != "too_many_attempts" {
		t.Errorf("error = %q, want too_many_attempts", got.Error)
	}
	if secs, err := strconv.Atoi(resp.header.Get("Retry-After")); err != nil || secs <= 0 {
		t.Errorf("Retry-After = %q, want a positive number of seconds", resp.header.Get("Retry-After"))
	}
}

// TestDatabaseDown starts claimgate with its database unreachable: the
// config loads, logins answer 503 with Retry-After, and the endpoints that
// need no database keep working.
func TestDatabaseDown(t *testing.T) {
	port := freePorts(t, 1)[0] // nothing listens there
	e := startOn(t, fmt.Sprintf("root@tcp(127.0.0.1:%d)/claimgate?timeout=1s", port), options{})

	resp := e.postForm(passwordForm(alice, testkit.DemoUser(t, alice).Password))
	if resp.status != http.StatusServiceUnavailable {
		t.Fatalf("login: got %s, want 503", resp)
	}
	wantNoStore(t, resp)
	if got := resp.oauthError(t); got.Error != "temporarily_unavailable" {
		t.Errorf("error = %q, want temporarily_unavailable", got.Error)
	}
	if secs, err := strconv.Atoi(resp.header.Get("Retry-After")); err != nil || secs <= 0 {
		t.Errorf("Retry-After = %q", resp.header.Get("Retry-After"))
	}
	// Checks that need no database still answer first; client
	// authentication is counted against the IP's budget before the secret
	// is compared, so while that count cannot be kept it fails closed too
	// (otherwise secrets could be guessed without limit during an outage).
	(errorCase{name: "unknown grant", send: func() response {
		return e.postForm(form("grant_type", "magic", "client_id", "nobody"))
	}, status: 400, code: "unsupported_grant_type"}).check(t)
	(errorCase{name: "bad client", send: func() response {
		return e.postForm(form("grant_type", "password", "client_id", "nobody", "username", alice, "password", "x"))
	}, status: 503, code: "temporarily_unavailable"}).check(t)

	e.fetchJWKS(t)
	resp, calls, _ := e.call(e.base, "/api/orders", "", "X-User-Id", forged)
	wantUnauthorized(t, resp, calls, "")
	x := e.external
	resp, calls, got := e.call(e.base, "/external/orders", x.sign(t, externalClaims(e, nil)))
	if resp.status != http.StatusOK || calls != 1 || got.Get("X-User-Id") != "auth0|42" {
		t.Errorf("verifying with the database down: got %s", resp)
	}
}
