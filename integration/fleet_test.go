package integration

// Two claimgate instances sharing one MySQL database and one Caddy storage
// behave as one (README, "Running several instances"): the same
// keys, brute-force counters that add up, refresh-token rotation and
// revocation seen by both. And an instance survives its database going
// away: 503s within the configured timeout, working verification, recovery
// without a reload. The harness is in fleet_harness_test.go.

import (
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/claimgate/claimgate/internal/testkit"
)

const fleetAlice = "alice@example.test" // user_id 1, bcrypt

// TestFleetSharesKeys boots two instances at once on an empty shared
// storage: they must settle on one signing key (created under the storage
// lock), publish the same JWKS, and accept each other's tokens.
func TestFleetSharesKeys(t *testing.T) {
	f := newFleet(t)
	a, b := f.add("A", "", fleetOptions{}), f.add("B", "", fleetOptions{})
	startAll(a, b)
	alice := fleetDemoUser(t, fleetAlice)

	if ka, kb := a.jwks(t), b.jwks(t); !reflect.DeepEqual(ka, kb) {
		t.Errorf("the instances publish different JWKS: A has kids %v, B has %v",
			slices.Sorted(maps.Keys(ka)), slices.Sorted(maps.Keys(kb)))
	}
	fromA := a.login(t, alice)
	fromB := b.login(t, alice)
	b.wantVerified(t, fromA.AccessToken, alice)
	a.wantVerified(t, fromB.AccessToken, alice)
	// The verify route does check tokens: none, or a tampered one, is 401.
	if resp := b.get("/api/orders", ""); resp.status != http.StatusUnauthorized {
		t.Errorf("GET /api/orders on B without a token: got %s, want 401", resp)
	}
	if resp := b.get("/api/orders", fromA.AccessToken[:len(fromA.AccessToken)-4]+"AAAA"); resp.status != http.StatusUnauthorized {
		t.Errorf("GET /api/orders on B with a tampered token: got %s, want 401", resp)
	}
}

// TestFleetBruteForce: failures split across both instances block on both
// (the counters live in the shared claimgate_ tables), and `claimgate
// unblock` clears the block for the whole fleet.
func TestFleetBruteForce(t *testing.T) {
	const maxFailures = 4
	f := newFleet(t)
	opts := fleetOptions{MaxFailures: maxFailures}
	a, b := f.add("A", "", opts), f.add("B", "", opts)
	startAll(a, b)
	alice := fleetDemoUser(t, fleetAlice)

	a.login(t, alice) // works before, and starts from a zero count
	for i, in := range []*instance{a, b, a, b} {
		resp := in.passwordLogin(alice.email, "wrong-"+strconv.Itoa(i))
		wantOAuthError(t, "wrong password "+strconv.Itoa(i+1)+" on "+in.name, resp,
			http.StatusBadRequest, "invalid_grant", false)
	}
	for _, in := range []*instance{a, b} {
		resp := in.passwordLogin(alice.email, alice.password)
		wantOAuthError(t, "the right password on "+in.name+" after "+strconv.Itoa(maxFailures)+" failures split over A and B",
			resp, http.StatusTooManyRequests, "too_many_attempts", true)
	}
	if t.Failed() {
		t.FailNow()
	}

	out, err := f.runClaimgate("claimgate", "unblock", "--user", strconv.FormatInt(alice.id, 10), "--dsn", f.dsn)
	if err != nil {
		t.Fatalf("claimgate unblock --user %d: %v\n%s", alice.id, err, out)
	}
	a.login(t, alice)
	b.login(t, alice)
}

// TestFleetProtectionByIP fails logins on behalf of several end-user IPs
// (trust_forwarded_for): a user+IP block is per IP, account_lockout blocks
// the user from every IP, and an IP's daily budget is shared by the fleet —
// each with failures split across both instances.
func TestFleetProtectionByIP(t *testing.T) {
	alice := fleetDemoUser(t, fleetAlice)
	bob := fleetDemoUser(t, "bob@example.test")
	fail := func(t *testing.T, in *instance, ip, user string) {
		t.Helper()
		wantOAuthError(t, "wrong password for "+user+" from "+ip+" on "+in.name,
			in.passwordLoginFrom(ip, user, "wrong"), http.StatusBadRequest, "invalid_grant", false)
	}
	wantLogin := func(t *testing.T, in *instance, ip string, u fleetUser) {
		t.Helper()
		in.tokens(t, "login "+u.email+" from "+ip, in.passwordLoginFrom(ip, u.email, u.password))
	}
	wantBlocked := func(t *testing.T, ip string, u fleetUser, ins ...*instance) {
		t.Helper()
		for _, in := range ins {
			wantOAuthError(t, "the right password for "+u.email+" from "+ip+" on "+in.name,
				in.passwordLoginFrom(ip, u.email, u.password), http.StatusTooManyRequests, "too_many_attempts", true)
		}
	}

	t.Run("user and IP", func(t *testing.T) {
		f := newFleet(t)
		opts := fleetOptions{MaxFailures: 4}
		a, b := f.add("A", "", opts), f.add("B", "", opts)
		startAll(a, b)
		// Four failures, but two per IP: no pair is blocked.
		fail(t, a, "10.0.0.1", alice.email)
		fail(t, b, "10.0.0.1", alice.email)
		fail(t, a, "10.0.0.2", alice.email)
		fail(t, b, "10.0.0.2", alice.email)
		wantLogin(t, b, "10.0.0.3", alice)
		// Two more from 10.0.0.1 (on both instances) block that pair only.
		fail(t, b, "10.0.0.1", alice.email)
		fail(t, a, "10.0.0.1", alice.email)
		wantBlocked(t, "10.0.0.1", alice, a, b)
		wantLogin(t, a, "10.0.0.2", alice)
		wantLogin(t, b, "10.0.0.1", bob)
	})

	t.Run("account lockout and IP budget", func(t *testing.T) {
		f := newFleet(t)
		opts := fleetOptions{MaxFailures: 4, AccountLockout: true, IPFailuresPerDay: 6}
		a, b := f.add("A", "", opts), f.add("B", "", opts)
		startAll(a, b)

		// One failure from each of four IPs, alternating instances.
		for i, in := range []*instance{a, b, a, b} {
			fail(t, in, "10.0.1."+strconv.Itoa(i+1), alice.email)
		}
		wantBlocked(t, "10.0.1.9", alice, a, b)
		wantLogin(t, a, "10.0.1.9", bob)
		if out, err := f.runClaimgate("claimgate", "unblock", "--user", strconv.FormatInt(alice.id, 10), "--dsn", f.dsn); err != nil {
			t.Fatalf("claimgate unblock --user %d: %v\n%s", alice.id, err, out)
		}
		wantLogin(t, b, "10.0.1.9", alice)

		// Six failures from one IP, each for another (unknown) user, half
		// on each instance: the IP's budget is spent for everyone.
		const ip = "10.0.2.1"
		for i := range 6 {
			fail(t, []*instance{a, b}[i%2], ip, "nobody-"+strconv.Itoa(i)+"@example.test")
		}
		wantBlocked(t, ip, alice, a, b)
		wantBlocked(t, ip, bob, a, b)
		wantLogin(t, a, "10.0.2.2", alice)
		if out, err := f.runClaimgate("claimgate", "unblock", "--ip", ip, "--dsn", f.dsn); err != nil {
			t.Fatalf("claimgate unblock --ip %s: %v\n%s", ip, err, out)
		}
		wantLogin(t, b, ip, alice)
	})
}

// TestFleetRefreshReuse: a refresh token rotated on A and then presented
// again on B is a reuse; the whole family is revoked, so the token A handed
// out in its place is dead too.
func TestFleetRefreshReuse(t *testing.T) {
	f := newFleet(t)
	a, b := f.add("A", "", fleetOptions{}), f.add("B", "", fleetOptions{})
	startAll(a, b)
	alice := fleetDemoUser(t, fleetAlice)

	first := a.offlineLogin(t, alice)
	second := a.tokens(t, "refresh", a.refresh(first.RefreshToken))
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh on A: refresh_token %.8q… after %.8q…, want a new one (rotation)",
			second.RefreshToken, first.RefreshToken)
	}
	b.wantVerified(t, second.AccessToken, alice)

	wantOAuthError(t, "the rotated token reused on B", b.refresh(first.RefreshToken),
		http.StatusBadRequest, "invalid_grant", false)
	wantOAuthError(t, "the newer token on A after the reuse (family revoked)", a.refresh(second.RefreshToken),
		http.StatusBadRequest, "invalid_grant", false)

	// One token redeemed on A and B at once: exactly one wins (README: a
	// conditional UPDATE decides), whatever the interleaving.
	raced := a.offlineLogin(t, alice)
	answers := make([]fleetResponse, 2)
	var wg sync.WaitGroup
	for i, in := range []*instance{a, b} {
		wg.Go(func() { answers[i] = in.refresh(raced.RefreshToken) })
	}
	wg.Wait()
	won := 0
	for i, resp := range answers {
		switch code, _ := resp.oauth(); {
		case resp.status == http.StatusOK:
			won++
			[]*instance{a, b}[i].tokens(t, "concurrent refresh", resp)
		case resp.status != http.StatusBadRequest || code != "invalid_grant":
			t.Errorf("concurrent refresh on %s: got %s, want 200 or 400 invalid_grant", []string{"A", "B"}[i], resp)
		}
	}
	if won != 1 {
		t.Errorf("one refresh token redeemed on A and B at once: %d got new tokens, want exactly 1 (%s | %s)",
			won, answers[0], answers[1])
	}
}

// TestFleetRevoke: a refresh token revoked on A is refused on B.
func TestFleetRevoke(t *testing.T) {
	f := newFleet(t)
	a, b := f.add("A", "", fleetOptions{}), f.add("B", "", fleetOptions{})
	startAll(a, b)
	alice := fleetDemoUser(t, fleetAlice)

	// B redeems A's token first, so that B's later refusal cannot come from
	// B not knowing A's tokens at all.
	first := a.offlineLogin(t, alice)
	second := b.tokens(t, "refresh of A's token", b.refresh(first.RefreshToken))
	if second.RefreshToken == "" {
		t.Fatal("refresh on B: no new refresh_token")
	}

	resp := a.revoke(second.RefreshToken)
	if resp.status != http.StatusOK || len(resp.body) != 0 {
		t.Fatalf("revoke on A: got %s, want 200 with an empty body", resp)
	}
	wantOAuthError(t, "refresh on B after revocation on A", b.refresh(second.RefreshToken),
		http.StatusBadRequest, "invalid_grant", false)
}

// TestFleetDatabaseOutage cuts the database off behind a TCP proxy: logins,
// refreshes and revocations answer 503 within the configured timeout,
// verification keeps working, and everything recovers without a reload.
func TestFleetDatabaseOutage(t *testing.T) {
	// Generous: the point is "not hanging", not a timing measurement.
	const within = 10 * time.Second
	alice := fleetDemoUser(t, fleetAlice)

	// cut runs the outage checks with the database made unreachable by
	// down and back by up.
	cut := func(t *testing.T, down, up func(*testkit.TCPProxy)) {
		f := newFleet(t)
		proxy := testkit.NewTCPProxy(t, dsnAddr(t, f.dsn))
		a := f.add("A", proxiedDSN(t, f.dsn, proxy.Addr()), fleetOptions{Timeout: "2s"})
		a.start()

		kept := a.login(t, alice, "scope", "offline_access")
		refreshToken := kept.RefreshToken
		if refreshToken == "" {
			// Reported, and the outage checks still run: with the
			// database down even a token never issued needs a lookup.
			t.Errorf("login with offline_access on A: no refresh_token (scope %q)", kept.Scope)
			refreshToken = "never-issued-refresh-token"
		}
		down(proxy)

		for _, c := range []struct {
			what string
			send func() fleetResponse
		}{
			{"login", func() fleetResponse { return a.passwordLogin(alice.email, alice.password) }},
			{"refresh", func() fleetResponse { return a.refresh(refreshToken) }},
			{"revoke", func() fleetResponse { return a.revoke(refreshToken) }},
		} {
			resp := c.send()
			wantOAuthError(t, c.what+" with the database down", resp,
				http.StatusServiceUnavailable, "temporarily_unavailable", true)
			t.Logf("%s with the database down: %d in %s", c.what, resp.status, resp.elapsed.Round(time.Millisecond))
			if resp.elapsed > within {
				t.Errorf("%s with the database down took %s (timeout 2s)", c.what, resp.elapsed.Round(time.Millisecond))
			}
		}
		a.wantVerified(t, kept.AccessToken, alice)

		up(proxy)
		waitLogin(t, a, alice)
		if kept.RefreshToken != "" {
			// The refresh that failed with 503 did not use the token up.
			a.tokens(t, "refresh after recovery", a.refresh(kept.RefreshToken))
		}
	}

	t.Run("connection refused", func(t *testing.T) {
		cut(t, (*testkit.TCPProxy).Stop, (*testkit.TCPProxy).Start)
	})
	// A partition rather than a refusal: only the configured timeout ends
	// the wait.
	t.Run("no answer", func(t *testing.T) {
		cut(t, (*testkit.TCPProxy).Hang, (*testkit.TCPProxy).Resume)
	})

	// Both instances boot with the database away, then it comes back: each
	// creates the missing tables (racing each other) and serves logins.
	t.Run("down at start", func(t *testing.T) {
		f := newFleet(t)
		proxy := testkit.NewTCPProxy(t, dsnAddr(t, f.dsn))
		proxy.Stop()
		dsn := proxiedDSN(t, f.dsn, proxy.Addr())
		a, b := f.add("A", dsn, fleetOptions{Timeout: "2s"}), f.add("B", dsn, fleetOptions{Timeout: "2s"})
		if tables := f.claimgateTables(t); len(tables) != 0 {
			t.Fatalf("the fresh database already has %v", tables)
		}
		startAll(a, b)

		for _, in := range []*instance{a, b} {
			resp := in.passwordLogin(alice.email, alice.password)
			wantOAuthError(t, "login on "+in.name+" with the database down since start", resp,
				http.StatusServiceUnavailable, "temporarily_unavailable", true)
			if resp.elapsed > within {
				t.Errorf("login on %s with the database down took %s (timeout 2s)", in.name, resp.elapsed.Round(time.Millisecond))
			}
		}

		proxy.Start()
		waitLogin(t, a, alice)
		waitLogin(t, b, alice)
		want := []string{"claimgate_auth_codes", "claimgate_ip_failures", "claimgate_login_failures",
			"claimgate_password_rehashes", "claimgate_refresh_tokens", "claimgate_sessions"}
		if got := slices.Sorted(slices.Values(f.claimgateTables(t))); !slices.Equal(got, want) {
			t.Errorf("claimgate_ tables after recovery: %v, want %v", got, want)
		}
		tr := a.offlineLogin(t, alice)
		b.tokens(t, "refresh on B after recovery", b.refresh(tr.RefreshToken))
	})
}

// waitLogin polls the password grant until it succeeds (the database is
// back), for up to 15 s.
func waitLogin(t *testing.T, in *instance, u fleetUser) {
	t.Helper()
	began := time.Now()
	deadline := began.Add(15 * time.Second)
	for {
		resp := in.passwordLogin(u.email, u.password)
		if resp.status == http.StatusOK {
			in.tokens(t, "login after recovery", resp)
			t.Logf("login on %s works again after %s", in.name, time.Since(began).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("login on %s still fails 15 s after the database came back: %s", in.name, resp)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestFleetRotation runs `key_rotation 1m` (the minimum; too slow to watch a
// rotation here): both instances publish the same JWKS after starting
// together, and again after one restarts.
func TestFleetRotation(t *testing.T) {
	f := newFleet(t)
	opts := fleetOptions{Extra: "key_rotation 1m"}
	a, b := f.add("A", "", opts), f.add("B", "", opts)
	startAll(a, b)
	alice := fleetDemoUser(t, fleetAlice)

	wantSameJWKS(t, a, b)
	b.stop()
	b.start()
	wantSameJWKS(t, a, b)
	b.wantVerified(t, a.login(t, alice).AccessToken, alice)
	a.wantVerified(t, b.login(t, alice).AccessToken, alice)
}

// wantSameJWKS checks that a and b publish the same keys. A rotation may
// land between two fetches (on a slow machine close to the minute), so they
// get a few seconds to agree; they must not stay apart.
func wantSameJWKS(t *testing.T, a, b *instance) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ka, kb := a.jwks(t), b.jwks(t)
		if reflect.DeepEqual(ka, kb) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s and %s publish different JWKS: kids %v and %v", a.name, b.name,
				slices.Sorted(maps.Keys(ka)), slices.Sorted(maps.Keys(kb)))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
