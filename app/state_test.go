package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/store"
)

// TestStatePurge: the hourly purge deletes refresh-token families that
// expired more than a week ago and failure counters idle as long, and keeps
// the rest.
func TestStatePurge(t *testing.T) {
	clock := testkit.NewClock(time.Now().Add(-1000 * time.Hour))
	h := newHarness(t, nil)
	h.useClock(clock)
	h.loginRefresh()              // family expired 280h ago
	failLogins(t, h, ipA, bob, 1) // counters idle for 1000h
	clock.Set(time.Now())
	fresh := h.loginRefresh()       // live family
	failLogins(t, h, ipB, alice, 1) // fresh counters

	h.app.purgeState(context.Background())

	count := func(table string) int {
		var n int
		if err := h.db().QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// alice's pair from ipB (account-wide rows only with account_lockout);
	// the budgets of ipB and of the address the fresh login came from (a
	// success reserves a token too, then gives it back); one token.
	for table, want := range map[string]int{
		"claimgate_refresh_tokens": 1, "claimgate_login_failures": 1, "claimgate_ip_failures": 2,
	} {
		if got := count(table); got != want {
			t.Errorf("%s: %d rows after the purge, want %d", table, got, want)
		}
	}
	if _, err := h.refresh(fresh); err != nil {
		t.Errorf("live family after the purge: %v", err)
	}
}

// TestManageSchemaOff: no DDL ever, neither by the grant flows nor by the
// state worker, which reports the missing tables; the flows are
// unavailable until the DBA has created the tables, then work. (The HTTP
// answers are login's TestManageSchemaOff.)
func TestManageSchemaOff(t *testing.T) {
	off := false
	h := newHarness(t, func(a *App) { a.Database.ManageSchema = &off })
	var unavailable *grant.UnavailableError
	if _, err := h.password(ipPeer, alice, testkit.AlicePassword, "openid", "offline_access"); !errors.As(err, &unavailable) {
		t.Errorf("login without the tables: %v, want unavailable", err)
	}
	if _, err := h.refresh("anything"); !errors.As(err, &unavailable) {
		t.Errorf("refresh without the tables: %v, want unavailable", err)
	}
	if err := h.app.Grants().Revoke(context.Background(), h.client(webClient), "anything"); !errors.As(err, &unavailable) {
		t.Errorf("revoke without the tables: %v, want unavailable", err)
	}
	h.app.stopWorkers()
	h.app.workers.Wait() // nothing runs in the background now
	if tables := testkit.ClaimgateTables(t, h.db()); len(tables) != 0 {
		t.Fatalf("tables created with manage_schema off: %v", tables)
	}
	// What the worker checks at start.
	h.app.checkTables(context.Background())
	if h.logs.FilterMessageSnippet("claimgate tables are missing").Len() == 0 {
		t.Error("missing tables not reported")
	}

	// The DBA runs `claimgate schema`.
	db := h.db()
	for _, stmt := range store.SchemaStatements() {
		if _, err := db.ExecContext(context.Background(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	r := h.loginRefresh()
	toks, err := h.refresh(r)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if err := h.app.Grants().Revoke(context.Background(), h.client(webClient), toks.RefreshToken); err != nil {
		t.Errorf("revoke: %v", err)
	}
}
