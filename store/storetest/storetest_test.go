package storetest

import (
	"context"
	"testing"

	"github.com/claimgate/claimgate/store/embedded"
)

func TestNewDemoDatabase(t *testing.T) {
	db := Open(t, NewDemoDatabase(t))
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(embedded.DemoUsers) {
		t.Fatalf("users = %d, want %d", n, len(embedded.DemoUsers))
	}
}
