package app

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestStatePurge: the hourly purge deletes refresh-token families that
// expired more than a week ago and failure counters idle as long, and keeps
// the rest.
func TestStatePurge(t *testing.T) {
	clock := newTestClock(time.Now().Add(-1000 * time.Hour))
	h := newHarness(t, func(a *App) { a.now = clock.Now })
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
	// alice's pair and account-wide rows; ipB's budget; one token.
	for table, want := range map[string]int{
		"claimgate_refresh_tokens": 1, "claimgate_login_failures": 2, "claimgate_ip_failures": 1,
	} {
		if got := count(table); got != want {
			t.Errorf("%s: %d rows after the purge, want %d", table, got, want)
		}
	}
	if w := h.form(refreshForm(fresh)); w.Code != http.StatusOK {
		t.Errorf("live family after the purge: %d", w.Code)
	}
}
