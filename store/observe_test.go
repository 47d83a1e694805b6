package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/claimgate/claimgate/demo/demodb"
	"github.com/claimgate/claimgate/store/storetest"
)

// queryLog records what an observer is told.
type queryLog struct {
	mu    sync.Mutex
	names map[string]int
}

func (l *queryLog) observe(query string, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if took < 0 {
		panic("negative duration")
	}
	l.names[query]++
}

func (l *queryLog) count(query string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.names[query]
}

// TestQueryObserver: the configured queries report under their names (the
// directive without _query), claimgate's own statements as "state".
func TestQueryObserver(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t, storetest.NewDemoDatabase(t))
	log := &queryLog{names: map[string]int{}}
	users, err := New(db, Config{
		UserQuery:         demodb.DemoUserQuery,
		RolesQuery:        demodb.DemoRolesQuery,
		PermissionsQuery:  demodb.DemoPermissionsQuery,
		OrganizationQuery: demodb.DemoOrganizationQuery,
		Observe:           log.observe,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer users.Close()
	u, err := users.FindUser(ctx, demodb.DemoUsers[0].Email)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.LoadGrants(ctx, u, "org_acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := users.FindUser(ctx, "nobody@example.test"); err == nil {
		t.Fatal("found nobody")
	}

	state := NewState(db, time.Second)
	state.SetObserver(log.observe)
	if err := state.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := state.CheckBlocked(ctx, "subject", "192.0.2.1", time.Now(), Protection{MaxFailures: 3, IPFailuresPerDay: 10}); err != nil {
		t.Fatal(err)
	}

	for query, want := range map[string]int{"user": 2, "roles": 1, "permissions": 1, "organization": 1} {
		if got := log.count(query); got != want {
			t.Errorf("%s: observed %d times, want %d", query, got, want)
		}
	}
	if log.count(QueryState) < 2 {
		t.Errorf("state: observed %d times, want every statement", log.count(QueryState))
	}
}
