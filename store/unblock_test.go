package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/claimgate/claimgate/store"
	"github.com/claimgate/claimgate/store/storetest"
)

// TestClearBlocks clears each way a user may be counted, then an IP's
// budget, as `claimgate unblock` and the admin API do.
func TestClearBlocks(t *testing.T) {
	const ip = "192.0.2.7"
	db := storetest.Open(t, storetest.NewDatabase(t))
	st := store.NewState(db, 5*time.Second)
	// ClearBlocks asks the store for name keys only, never for a user.
	users, err := store.New(db, store.Config{UserQuery: "SELECT NULL AS user_id, NULL AS password_hash FROM DUAL WHERE ? IS NULL"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { users.Close() })
	ctx := context.Background()
	if err := st.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	p := store.Protection{MaxFailures: 1, BlockFor: time.Hour, IPFailuresPerDay: 1}
	now := time.Now()
	blocked := func(subject string) store.Block {
		t.Helper()
		b, err := st.CheckBlocked(ctx, subject, ip, now, p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	known := store.LoginSubject("42", true, "")
	// A name that matched nobody, counted as the server counts it (whether
	// another spelling shares its key depends on the database's collation,
	// which namekey_test covers).
	unknown, err := users.LoginSubject(ctx, nil, "Nobody@example.test")
	if err != nil {
		t.Fatal(err)
	}
	// A name counted lower-cased, as claimgate did before it keyed names
	// by their collation weights.
	legacy := store.LoginSubject("", false, "Old@example.test")
	for _, subject := range []string{known, unknown, legacy} {
		if err := st.RecordFailure(ctx, subject, ip, now, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, subject := range []string{known, unknown, legacy} {
		if b := blocked(subject); !b.Blocked || b.Reason != "user_ip" {
			t.Fatalf("setup: %+v, want a user_ip block", b)
		}
	}
	steps := []struct {
		name, user, ip, subject string
	}{
		{"user_id and IP", "42", ip, known},
		{"login name, every IP", "Nobody@example.test", "", unknown},
		{"legacy login name", "old@example.test", ip, legacy},
	}
	for _, step := range steps {
		n, err := store.ClearBlocks(ctx, users, st, step.user, step.ip)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if n == 0 {
			t.Errorf("%s: cleared 0 rows", step.name)
		}
		if b := blocked(step.subject); b.Reason == "user_ip" {
			t.Fatalf("%s: still blocked: %+v", step.name, b)
		}
	}
	if b := blocked(known); !b.Blocked || b.Reason != "ip" {
		t.Fatalf("setup: IP budget not spent: %+v", b)
	}
	if _, err := store.ClearBlocks(ctx, users, st, "", ip); err != nil {
		t.Fatal(err)
	}
	if b := blocked(known); b.Blocked {
		t.Fatalf("IP still blocked: %+v", b)
	}
}
