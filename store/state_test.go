package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/claimgate/claimgate/store/storetest"
)

func newTestState(t *testing.T) *State {
	t.Helper()
	db := storetest.Open(t, storetest.NewDatabase(t))
	st := NewState(db, 5*time.Second)
	if err := st.EnsureSchema(context.Background()); err != nil {
		t.Fatalf("EnsureSchema: %v", err)
	}
	// A second call must be a no-op (tables exist).
	if err := st.EnsureSchema(context.Background()); err != nil {
		t.Fatalf("EnsureSchema again: %v", err)
	}
	return st
}

var testProtection = Protection{MaxFailures: 3, BlockFor: time.Hour, IPFailuresPerDay: 100}

func TestLoginSubject(t *testing.T) {
	tests := []struct {
		name   string
		a, b   string
		aFound bool
		bFound bool
		same   bool
	}{
		{"unknown names fold case and spaces", "Alice@X.test ", "alice@x.test", false, false, true},
		{"known user counted by id", "42", "42", true, true, true},
		{"id and name differ", "42", "42", true, false, false},
		{"different ids", "42", "43", true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := LoginSubject(tt.a, tt.aFound, tt.a)
			b := LoginSubject(tt.b, tt.bFound, tt.b)
			if (a == b) != tt.same {
				t.Fatalf("LoginSubject(%q)=%s, (%q)=%s; same=%v want %v", tt.a, a, tt.b, b, a == b, tt.same)
			}
			if len(a) != 64 {
				t.Fatalf("subject %q is not a hex SHA-256", a)
			}
		})
	}
}

func TestBlockAfterMaxFailures(t *testing.T) {
	st := newTestState(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	subject := LoginSubject("7", true, "")

	for i := 1; i <= testProtection.MaxFailures; i++ {
		b, err := st.CheckBlocked(ctx, subject, "192.0.2.1", now, testProtection)
		if err != nil || b.Blocked {
			t.Fatalf("attempt %d: blocked=%v err=%v, want allowed", i, b.Blocked, err)
		}
		if err := st.RecordFailure(ctx, subject, "192.0.2.1", now, testProtection); err != nil {
			t.Fatalf("RecordFailure: %v", err)
		}
	}
	b, err := st.CheckBlocked(ctx, subject, "192.0.2.1", now, testProtection)
	if err != nil || !b.Blocked || b.Reason != "user_ip" {
		t.Fatalf("after %d failures: %+v err=%v, want a user_ip block", testProtection.MaxFailures, b, err)
	}
	if b.RetryAfter <= 59*time.Minute || b.RetryAfter > time.Hour {
		t.Fatalf("RetryAfter = %v, want about 1h", b.RetryAfter)
	}
	// Another IP is not blocked without account lockout; it is with it.
	if b, _ := st.CheckBlocked(ctx, subject, "192.0.2.2", now, testProtection); b.Blocked {
		t.Fatalf("other IP blocked without account lockout: %+v", b)
	}
	lockout := testProtection
	lockout.AccountLockout = true
	if b, _ := st.CheckBlocked(ctx, subject, "192.0.2.2", now, lockout); !b.Blocked || b.Reason != "account" {
		t.Fatalf("other IP with account lockout: %+v, want an account block", b)
	}
	// The block ends by itself, and the next failure starts a new count.
	later := now.Add(time.Hour + time.Second)
	if b, _ := st.CheckBlocked(ctx, subject, "192.0.2.1", later, testProtection); b.Blocked {
		t.Fatalf("still blocked after block_for: %+v", b)
	}
	if err := st.RecordFailure(ctx, subject, "192.0.2.1", later, testProtection); err != nil {
		t.Fatal(err)
	}
	if b, _ := st.CheckBlocked(ctx, subject, "192.0.2.1", later, testProtection); b.Blocked {
		t.Fatalf("one failure after an expired block blocked again: %+v", b)
	}
}

func TestSuccessResetsAndUnblock(t *testing.T) {
	st := newTestState(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	subject := LoginSubject("8", true, "")
	fail := func(n int) {
		for range n {
			if err := st.RecordFailure(ctx, subject, "198.51.100.1", now, testProtection); err != nil {
				t.Fatal(err)
			}
		}
	}
	fail(testProtection.MaxFailures - 1)
	if err := st.RecordSuccess(ctx, subject, "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	fail(testProtection.MaxFailures - 1)
	if b, _ := st.CheckBlocked(ctx, subject, "198.51.100.1", now, testProtection); b.Blocked {
		t.Fatal("a success did not reset the count")
	}
	fail(1)
	if b, _ := st.CheckBlocked(ctx, subject, "198.51.100.1", now, testProtection); !b.Blocked {
		t.Fatal("not blocked after consecutive failures")
	}
	n, err := st.Unblock(ctx, subject, "198.51.100.1")
	if err != nil || n == 0 {
		t.Fatalf("Unblock: n=%d err=%v", n, err)
	}
	if b, _ := st.CheckBlocked(ctx, subject, "198.51.100.1", now, testProtection); b.Blocked {
		t.Fatal("still blocked after Unblock")
	}
	if _, err := st.Unblock(ctx, "", ""); err == nil {
		t.Fatal("Unblock with neither user nor IP succeeded")
	}
}

func TestIPBudgetRefillsEvenly(t *testing.T) {
	st := newTestState(t)
	ctx := context.Background()
	p := Protection{MaxFailures: 1000, BlockFor: time.Hour, IPFailuresPerDay: 24}
	now := time.Unix(1_800_000_000, 0)
	ip := "203.0.113.9"
	for i := range p.IPFailuresPerDay {
		// Different subjects: the per-IP budget counts them all.
		subject := LoginSubject("", false, "user"+string(rune('a'+i)))
		if err := st.RecordFailure(ctx, subject, ip, now, p); err != nil {
			t.Fatal(err)
		}
	}
	b, err := st.CheckBlocked(ctx, LoginSubject("", false, "fresh"), ip, now, p)
	if err != nil || !b.Blocked || b.Reason != "ip" {
		t.Fatalf("after the daily budget: %+v err=%v, want an ip block", b, err)
	}
	// 24 a day refill one an hour.
	if b.RetryAfter < 59*time.Minute || b.RetryAfter > 61*time.Minute {
		t.Fatalf("RetryAfter = %v, want about 1h", b.RetryAfter)
	}
	if b, _ := st.CheckBlocked(ctx, LoginSubject("", false, "fresh"), ip, now.Add(61*time.Minute), p); b.Blocked {
		t.Fatalf("budget did not refill after an hour: %+v", b)
	}
	if b, _ := st.CheckBlocked(ctx, LoginSubject("", false, "fresh"), "203.0.113.10", now, p); b.Blocked {
		t.Fatal("another IP is blocked")
	}
	if _, err := st.Unblock(ctx, "", ip); err != nil {
		t.Fatal(err)
	}
	if b, _ := st.CheckBlocked(ctx, LoginSubject("", false, "fresh"), ip, now, p); b.Blocked {
		t.Fatal("IP still blocked after Unblock")
	}
}

func TestConcurrentFailuresAreAllCounted(t *testing.T) {
	st := newTestState(t)
	ctx := context.Background()
	p := Protection{MaxFailures: 8, BlockFor: time.Hour}
	now := time.Unix(1_800_000_000, 0)
	subject := LoginSubject("9", true, "")
	var wg sync.WaitGroup
	errs := make(chan error, p.MaxFailures)
	for range p.MaxFailures {
		wg.Go(func() { errs <- st.RecordFailure(ctx, subject, "192.0.2.50", now, p) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := st.CheckBlocked(ctx, subject, "192.0.2.50", now, p); !b.Blocked {
		t.Fatal("concurrent failures were lost: no block after MaxFailures")
	}
}

func newRefresh(t *testing.T, st *State, grant RefreshGrant, now time.Time) string {
	t.Helper()
	raw, err := NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRefresh(context.Background(), raw, grant, now); err != nil {
		t.Fatalf("CreateRefresh: %v", err)
	}
	return raw
}

func TestRefreshRotationAndReuse(t *testing.T) {
	st := newTestState(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	grant := RefreshGrant{UserID: "1", Username: "alice@example.test", ClientID: "web", Audience: "https://api",
		Scope: "openid offline_access", Organization: "org_acme", FamilyExpiresAt: now.Add(30 * 24 * time.Hour)}
	first := newRefresh(t, st, grant, now)
	if len(first) < 43 {
		t.Fatalf("refresh token %d chars, want >= 256 bits", len(first))
	}

	second, _ := NewRefreshToken()
	got, err := st.RotateRefresh(ctx, first, second, "web", now.Add(time.Minute), 15*24*time.Hour)
	if err != nil {
		t.Fatalf("RotateRefresh: %v", err)
	}
	if got.UserID != "1" || got.Username != grant.Username || got.Audience != grant.Audience ||
		got.Scope != grant.Scope || got.Organization != "org_acme" || !got.FamilyExpiresAt.Equal(grant.FamilyExpiresAt) {
		t.Fatalf("rotated grant = %+v, want the original's fields and absolute expiry", got)
	}
	// Reusing the rotated token revokes the whole family, second included.
	third, _ := NewRefreshToken()
	if _, err := st.RotateRefresh(ctx, first, third, "web", now.Add(2*time.Minute), 0); !errors.Is(err, ErrRefreshReused) {
		t.Fatalf("reuse: err=%v, want ErrRefreshReused", err)
	}
	if _, err := st.RotateRefresh(ctx, second, third, "web", now.Add(3*time.Minute), 0); !errors.Is(err, ErrRefreshInvalid) {
		t.Fatalf("sibling after reuse: err=%v, want ErrRefreshInvalid", err)
	}
}

func TestRefreshRefusals(t *testing.T) {
	st := newTestState(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	grant := RefreshGrant{UserID: "2", Username: "bob", ClientID: "web", FamilyExpiresAt: now.Add(time.Hour)}
	next := func() string { raw, _ := NewRefreshToken(); return raw }

	tests := []struct {
		name   string
		client string
		at     time.Time
		idle   time.Duration
		revoke bool
	}{
		{"other client", "mobile", now, 0, false},
		{"past absolute lifetime", "web", now.Add(time.Hour + time.Second), 0, false},
		{"idle too long", "web", now.Add(31 * time.Minute), 30 * time.Minute, false},
		{"revoked", "web", now, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := newRefresh(t, st, grant, now)
			if tt.revoke {
				if err := st.RevokeRefresh(ctx, raw, "web", now); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.RotateRefresh(ctx, raw, next(), tt.client, tt.at, tt.idle); !errors.Is(err, ErrRefreshInvalid) {
				t.Fatalf("err = %v, want ErrRefreshInvalid", err)
			}
		})
	}
	if _, err := st.RotateRefresh(ctx, "never-issued", next(), "web", now, 0); !errors.Is(err, ErrRefreshInvalid) {
		t.Fatalf("unknown token: err = %v", err)
	}
	// Revoking an unknown token or another client's token is a silent no-op.
	if err := st.RevokeRefresh(ctx, "never-issued", "web", now); err != nil {
		t.Fatal(err)
	}
	raw := newRefresh(t, st, grant, now)
	if err := st.RevokeRefresh(ctx, raw, "mobile", now); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RotateRefresh(ctx, raw, next(), "web", now, 0); err != nil {
		t.Fatalf("another client's revoke took effect: %v", err)
	}
}

func TestConcurrentRotationHasOneWinner(t *testing.T) {
	st := newTestState(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	raw := newRefresh(t, st, RefreshGrant{UserID: "3", Username: "carol", ClientID: "web",
		FamilyExpiresAt: now.Add(time.Hour)}, now)
	const racers = 6
	type result struct {
		next string
		err  error
	}
	var wg sync.WaitGroup
	results := make(chan result, racers)
	for range racers {
		wg.Go(func() {
			next, _ := NewRefreshToken()
			_, err := st.RotateRefresh(ctx, raw, next, "web", now, 0)
			results <- result{next, err}
		})
	}
	wg.Wait()
	close(results)
	wins := 0
	var winner string
	for r := range results {
		switch err := r.err; {
		case err == nil:
			wins++
			winner = r.next
		case errors.Is(err, ErrRefreshReused), errors.Is(err, ErrRefreshInvalid):
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d rotations won, want exactly 1", wins)
	}
	// The losers presented a rotated token: whatever the interleaving, the
	// family is revoked, the winner's new token included.
	next, _ := NewRefreshToken()
	if _, err := st.RotateRefresh(ctx, winner, next, "web", now, 0); !errors.Is(err, ErrRefreshInvalid) {
		t.Fatalf("winner's token after the race: err=%v, want ErrRefreshInvalid", err)
	}
}

func TestRefreshFamiliesPerUserAreBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("creates over 200 tokens")
	}
	st := newTestState(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	grant := RefreshGrant{UserID: "4", Username: "dave", ClientID: "web", FamilyExpiresAt: now.Add(time.Hour)}
	oldest := newRefresh(t, st, grant, now)
	for i := 1; i <= MaxActiveRefreshTokens; i++ {
		newRefresh(t, st, grant, now.Add(time.Duration(i)*time.Second))
	}
	next, _ := NewRefreshToken()
	if _, err := st.RotateRefresh(ctx, oldest, next, "web", now.Add(time.Hour-time.Second), 0); !errors.Is(err, ErrRefreshInvalid) {
		t.Fatalf("oldest of %d families: err=%v, want it revoked", MaxActiveRefreshTokens+1, err)
	}
}

func TestRevokeUserAndPurge(t *testing.T) {
	st := newTestState(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	raw := newRefresh(t, st, RefreshGrant{UserID: "5", Username: "erin", ClientID: "web",
		FamilyExpiresAt: now.Add(time.Hour)}, now)
	if err := st.RevokeUser(ctx, "5", now); err != nil {
		t.Fatal(err)
	}
	next, _ := NewRefreshToken()
	if _, err := st.RotateRefresh(ctx, raw, next, "web", now, 0); !errors.Is(err, ErrRefreshInvalid) {
		t.Fatalf("after RevokeUser: %v", err)
	}
	if err := st.Purge(ctx, now.Add(48*time.Hour), time.Hour); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if _, _, err := st.loadRefresh(ctx, refreshHash(raw)); !errors.Is(err, ErrRefreshInvalid) {
		t.Fatalf("expired family not purged: %v", err)
	}
}

func TestStateUnavailable(t *testing.T) {
	db, err := NewDB("root@tcp(127.0.0.1:1)/nothing?timeout=500ms")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st := NewState(db, time.Second)
	ctx := context.Background()
	if _, err := st.CheckBlocked(ctx, "s", "ip", time.Now(), testProtection); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("CheckBlocked on a dead database: %v", err)
	}
	if err := st.RecordFailure(ctx, "s", "ip", time.Now(), testProtection); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("RecordFailure on a dead database: %v", err)
	}
	if _, err := st.RotateRefresh(ctx, "a", "b", "c", time.Now(), 0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("RotateRefresh on a dead database: %v", err)
	}
}
