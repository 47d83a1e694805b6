package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/claimgate/claimgate/store/storetest"
)

// TestPoolSharing checks that one DSN gets one *sql.DB, open until its last
// release, and a fresh one after that.
func TestPoolSharing(t *testing.T) {
	dsn := storetest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	a, err := openDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("OpenDB returned two pools for one DSN")
	}
	if err := releaseDB(dsn); err != nil {
		t.Fatal(err)
	}
	if err := a.PingContext(ctx); err != nil {
		t.Fatalf("pool closed while still in use: %v", err)
	}
	if err := releaseDB(dsn); err != nil {
		t.Fatal(err)
	}
	if err := a.PingContext(ctx); err == nil || !strings.Contains(err.Error(), "database is closed") {
		t.Fatalf("Ping after the last release = %v, want database is closed", err)
	}
	if err := releaseDB(dsn); err != nil {
		t.Fatalf("releasing an unknown DSN: %v", err)
	}

	c, err := openDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer releaseDB(dsn)
	if c == a {
		t.Fatal("OpenDB returned the closed pool")
	}
	if err := c.PingContext(ctx); err != nil {
		t.Fatalf("Ping on the new pool: %v", err)
	}
}

func TestOpenDBInvalid(t *testing.T) {
	if _, err := openDB("not a dsn"); err == nil {
		t.Fatal("OpenDB accepted an invalid DSN")
	}
	if _, ok := dbPool.References("not a dsn"); ok {
		t.Fatal("a failed OpenDB left an entry in the pool")
	}
}
