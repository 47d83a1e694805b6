package login

// Issue 9 items 1 (the lazy rehash never undoes a password change), 5 and
// 12 (unknown users and unusable stored hashes cost what the rehash target
// costs) and 10 (keyed username fingerprints in logs), over HTTP on a real
// database.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/demo"
	"github.com/claimgate/claimgate/password"
	"github.com/claimgate/claimgate/store/storetest"
)

// onStack reports whether a function whose name contains fn is on the
// calling goroutine's stack.
func onStack(fn string) bool {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if strings.Contains(f.Function, fn) {
			return true
		}
		if !more {
			return false
		}
	}
}

// TestRehashKeepsConcurrentPasswordChange is issue 9 item 1 end to end:
// after a login on a weak hash, rehash_query stores an argon2id hash in the
// background — only over the hash that was verified. Before the fix it
// overwrote whatever was stored, so a password reset landing between the
// login and the rehash was silently reverted (10 of 10 trials).
//
// The reset is made deterministic by the flows' clock: the background
// rehash reads it once, after hashing and right before it writes, and the
// clock then changes the password as an admin would.
func TestRehashKeepsConcurrentPasswordChange(t *testing.T) {
	reset, err := password.HashBcrypt([]byte("a password set by a reset"), 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, change := range []bool{false, true} {
		t.Run(fmt.Sprintf("changed meanwhile %v", change), func(t *testing.T) {
			h := newHarness(t, func(a *app.App) { a.Database.RehashQuery = demo.DemoRehashQuery })
			db := h.db()
			var hooked atomic.Int32
			var changeErr atomic.Pointer[error]
			h.app.Grants().SetClock(func() time.Time {
				if onStack("maybeRehash") && hooked.Add(1) == 1 && change {
					if _, err := db.ExecContext(context.Background(), "UPDATE users SET password_hash = ? WHERE id = 1", reset); err != nil {
						changeErr.Store(&err)
					}
				}
				return time.Now()
			})

			expectToken(t, h.form(passwordForm())) // alice, bcrypt
			h.app.Grants().WaitBackground()
			if hooked.Load() == 0 {
				t.Fatal("the background rehash never read the clock, so this test changed nothing: adapt its hook")
			}
			if p := changeErr.Load(); p != nil {
				t.Fatalf("changing the password: %v", *p)
			}

			stored := storedHash(t, h, 1)
			if !change {
				if password.Kind(stored) != password.KindArgon2id {
					t.Fatalf("alice's hash is %s, want it upgraded to argon2id", password.Kind(stored))
				}
				expectToken(t, h.form(passwordForm()))
				return
			}
			if stored != reset {
				t.Fatalf("the rehash overwrote the password set meanwhile (stored %s hash)", password.Kind(stored))
			}
			if h.logs.FilterMessageSnippet("password changed during the rehash").Len() != 1 {
				t.Error("the kept password change was not logged")
			}
			expectError(t, h.form(passwordForm()), http.StatusBadRequest, "invalid_grant")
			expectToken(t, h.form(passwordForm("password", "a password set by a reset")))
		})
	}
}

// allocatedBy returns the bytes the process allocated while fn ran.
func allocatedBy(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestFailuresSpendTheRehashTargetsDummy is issue 9 items 5 and 12,
// without timing: argon2id at the rehash target allocates its memory
// parameter (19 MiB) on every verification, bcrypt almost nothing. With
// rehash_query the users end up on argon2id, so an unknown user, and an
// account whose stored hash is NULL or unreadable, must be checked against
// an argon2id dummy with those parameters. Before the fix all three were
// checked against a bcrypt cost-10 dummy (≈ 64 ms against ≈ 29 ms for a
// real user: one sample told them apart).
func TestFailuresSpendTheRehashTargetsDummy(t *testing.T) {
	dsn := storetest.NewDemoDatabase(t)
	db := storetest.Open(t, dsn)
	for _, stmt := range []string{
		"INSERT INTO users (email, password_hash) VALUES ('nullhash@example.test', 'null')",
		"INSERT INTO users (email, password_hash) VALUES ('md5@example.test', 'md5$5f4dcc3b5aa765d61d8327deb882cf99')",
	} {
		if _, err := db.ExecContext(context.Background(), stmt); err != nil {
			t.Fatal(err)
		}
	}
	// The demo column is NOT NULL: the query turns 'null' into NULL.
	userQuery := strings.Replace(demo.DemoUserQuery, "password_hash,", "NULLIF(password_hash, 'null') AS password_hash,", 1)
	argon2Memory := uint64(password.DefaultArgon2.Memory) * 1024

	a := loginTestApp(dsn)
	a.Database.UserQuery = userQuery
	a.Database.RehashQuery = demo.DemoRehashQuery
	h, err := provisionHarness(t, a)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, h.form(passwordForm("password", "warm-up")), http.StatusBadRequest, "invalid_grant")

	tests := []struct {
		name     string
		username string
	}{
		{"argon2id user, wrong password", bob}, // the reference: what a real user costs
		{"unknown user", "nobody@example.test"},
		{"NULL password_hash", "nullhash@example.test"},
		{"unreadable password_hash", "md5@example.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h.with(t)
			var w int
			n := allocatedBy(func() { w = h.form(passwordForm("username", tt.username, "password", "wrong")).Code })
			if w != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", w)
			}
			t.Logf("allocated %.1f MiB", float64(n)/(1<<20))
			if n < argon2Memory {
				t.Errorf("the failure allocated %.1f MiB, less than one argon2id verification at the rehash target (%d MiB): no argon2id dummy was verified",
					float64(n)/(1<<20), argon2Memory>>20)
			}
		})
	}
}

// TestLogFingerprintIsKeyed is issue 9 item 10: usernames appear in logs
// only as a fingerprint, and it was a plain SHA-256 prefix, so a password
// typed into the username field was recovered from the log by dictionary.
// It is an HMAC with a per-install key now: not the plain hash, the same
// for the same name within an install (failures can be correlated), and
// different in another install.
func TestLogFingerprintIsKeyed(t *testing.T) {
	const typedPassword = "Tr0ub4dor&3"
	fingerprints := func(h *harness, names ...string) []string {
		t.Helper()
		var out []string
		for _, name := range names {
			expectError(t, h.form(passwordForm("username", name, "password", "wrong")), http.StatusBadRequest, "invalid_grant")
			entries := h.logs.FilterMessage("login failed").All()
			fp, _ := entries[len(entries)-1].ContextMap()["username_sha256"].(string)
			if fp == "" {
				t.Fatalf("no username fingerprint in %v", entries[len(entries)-1].ContextMap())
			}
			out = append(out, fp)
		}
		return out
	}

	h := newHarness(t, nil)
	got := fingerprints(h, typedPassword, typedPassword, alice, alice)
	if got[0] != got[1] || got[2] != got[3] {
		t.Errorf("one name logged as different fingerprints: %v", got)
	}
	if got[0] == got[2] {
		t.Errorf("two names logged as one fingerprint %s", got[0])
	}
	for i, name := range []string{typedPassword, alice} {
		for _, variant := range []string{name, strings.ToLower(name)} {
			sum := sha256.Sum256([]byte(variant))
			if plain := hex.EncodeToString(sum[:]); strings.HasPrefix(plain, got[2*i]) {
				t.Errorf("the fingerprint of %q is a plain SHA-256 prefix (%s)", name, got[2*i])
			}
		}
	}

	other := newHarness(t, nil) // another install: its own storage, its own key
	if fp := fingerprints(other, typedPassword)[0]; fp == got[0] {
		t.Errorf("two installs log %q as the same fingerprint %s: it is not keyed per install", typedPassword, fp)
	}
}
