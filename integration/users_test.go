package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/claimgate/claimgate/internal/testkit"
	"github.com/claimgate/claimgate/store/storetest"
)

// Users the tests add to the demo data (ids after demo.DemoUsers).
const (
	// mallory's user_metadata.city holds CR/LF (user-editable data trying to
	// split headers); she logs in with alice's password.
	mallory     = "mallory@example.test"
	malloryID   = "7"
	malloryCity = "Lisbon\r\nX-User-Id: 0"
	// longpw's password is exactly 72 bytes, bcrypt's limit: a 73-byte
	// password that starts with it must be refused, not truncated.
	longpw = "longpw@example.test"
	// plain's password_hash is in no known format (a plain-text password).
	plain         = "plain@example.test"
	plainPassword = "plain-text-password"
	// errdeny trips the deny rule that fails to evaluate (configTemplate):
	// her app_metadata has no plan. She logs in with alice's password.
	errdeny = "errdeny@example.test"
	// bigclaims's user_metadata.city is 17 KiB, over the 16 KiB custom
	// claims limit. He logs in with alice's password.
	bigclaims = "bigclaims@example.test"
)

// longPassword is longpw's 72-byte password.
var longPassword = strings.Repeat("0123456789abcdef", 5)[:72]

// extraUsersDatabase is a demo database plus the users above.
func extraUsersDatabase(t testing.TB) string {
	t.Helper()
	dsn := storetest.NewDemoDatabase(t)
	db := storetest.Open(t, dsn)

	// bcrypt.MinCost: only the format matters here, and the tests stay fast.
	longHash, err := bcrypt.GenerateFromPassword([]byte(longPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	city, err := json.Marshal(map[string]string{"city": malloryCity})
	if err != nil {
		t.Fatal(err)
	}
	bigCity, err := json.Marshal(map[string]string{"city": strings.Repeat("x", 17<<10)})
	if err != nil {
		t.Fatal(err)
	}
	users := []struct {
		id                             int
		email, hash, appMeta, userMeta string
	}{
		{7, mallory, testkit.DemoUser(t, alice).PasswordHash, `{"org_id":"org_acme"}`, string(city)},
		{8, longpw, string(longHash), `{}`, `{}`},
		{9, plain, plainPassword, `{}`, `{}`},
		{10, errdeny, testkit.DemoUser(t, alice).PasswordHash, `{}`, `{}`},
		{11, bigclaims, testkit.DemoUser(t, alice).PasswordHash, `{}`, string(bigCity)},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, u := range users {
		_, err := db.ExecContext(ctx, "INSERT INTO users (id, email, email_verified, password_hash, blocked, app_metadata, user_metadata) "+
			"VALUES (?, ?, 1, ?, 0, ?, ?)", u.id, u.email, u.hash, u.appMeta, u.userMeta)
		if err != nil {
			t.Fatalf("inserting %s: %v", u.email, err)
		}
	}
	return dsn
}
