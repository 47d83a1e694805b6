package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/claimgate/claimgate/store"
	"github.com/claimgate/claimgate/store/storetest"
)

// collationStore returns a Store on a fresh database whose `accounts`
// table compares logins under collation, holding the given logins (ids
// from 1), with NameCollation set to nameCollation ("" leaves it to
// discovery), and the database.
func collationStore(t *testing.T, collation, nameCollation string, logins ...string) (*store.Store, *sql.DB) {
	t.Helper()
	db := storetest.Open(t, storetest.NewDatabase(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stmts := []string{"CREATE TABLE accounts (id INT NOT NULL PRIMARY KEY, " +
		"login VARCHAR(100) CHARACTER SET utf8mb4 COLLATE " + collation + " NOT NULL, pw VARCHAR(100) NOT NULL, " +
		"UNIQUE KEY accounts_login (login))"}
	for i, login := range logins {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO accounts VALUES (%d, '%s', 'h')", i+1, login))
	}
	if err := storetest.Exec(ctx, db, stmts...); err != nil {
		t.Fatalf("creating accounts: %v", err)
	}
	s, err := store.New(db, store.Config{
		UserQuery:     "SELECT id AS user_id, pw AS password_hash FROM accounts WHERE login = ?",
		NameCollation: nameCollation,
	}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, db
}

func hasCollation(t *testing.T, db *sql.DB, collation string) bool {
	t.Helper()
	var n int
	err := db.QueryRowContext(context.Background(),
		`SELECT COUNT(*) FROM information_schema.COLLATIONS WHERE COLLATION_NAME = ?`, collation).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestUnknownNameKeysFollowTheCollation is the enumeration regression of
// issue 9 item 5: with a case- and accent-insensitive login column, a
// known user's spellings share a counter (by user_id), so an unknown
// name's spellings must share one too. Before, unknown names were keyed by
// lower(trim(name)): nobody@x and nobódy@x had different counters.
func TestUnknownNameKeysFollowTheCollation(t *testing.T) {
	for _, collation := range []string{"utf8mb4_general_ci", "utf8mb4_unicode_ci"} {
		t.Run(collation, func(t *testing.T) {
			s, _ := collationStore(t, collation, collation)
			ctx := context.Background()
			key := func(name string) string {
				t.Helper()
				k, err := s.LoginSubject(ctx, nil, name)
				if err != nil {
					t.Fatalf("LoginSubject(%q): %v", name, err)
				}
				return k
			}
			base := key("nobody@x")
			for _, tt := range []struct {
				name string
				same bool
			}{
				{"nobody@x", true},
				{"NOBODY@x", true},
				{"nobódy@x", true},
				{"NOBÓDY@X", true},
				{"nobody2@x", false},
				{"nobodyx", false},
			} {
				if got := key(tt.name) == base; got != tt.same {
					t.Errorf("key(%q) == key(nobody@x) is %v, want %v", tt.name, got, tt.same)
				}
			}
		})
	}
}

// TestNameKeysMatchUserLookups checks the property itself, against the
// server: for every spelling, its key equals the key of a stored login
// exactly when user_query finds that login's row with it. Over several
// collations and awkward spellings (padding, tabs, expansions,
// weightless characters), on whatever server the tests run on.
func TestNameKeysMatchUserLookups(t *testing.T) {
	logins := []string{"nobody@x", "strasse@x", "zoë"}
	spellings := []string{
		"nobody@x", "NOBODY@x", "nobódy@x", "Nobödy@X", "nobody2@x", "nobody@x ", "nobody@x  ", " nobody@x",
		"nobody@x\t", "nobody@x \u200b", "nobody@\u200bx", "strasse@x", "straße@x", "STRASSE@X", "zoe", "ZOË",
		"zoë ", "zoe\u0308", "",
	}
	for _, collation := range []string{"utf8mb4_general_ci", "utf8mb4_unicode_ci", "utf8mb4_bin", "utf8mb4_0900_ai_ci"} {
		t.Run(collation, func(t *testing.T) {
			_, db := collationStore(t, "utf8mb4_bin", collation) // probe first: the collation may not exist
			if !hasCollation(t, db, collation) {
				t.Skipf("the server has no %s", collation)
			}
			s, _ := collationStore(t, collation, collation, logins...)
			ctx := context.Background()
			loginKeys := map[string]string{}
			for i, login := range logins {
				k, err := s.LoginSubject(ctx, nil, login)
				if err != nil {
					t.Fatal(err)
				}
				loginKeys[fmt.Sprint(i+1)] = k
			}
			for _, name := range spellings {
				u, err := s.FindUser(ctx, name)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("FindUser(%q): %v", name, err)
				}
				k, err := s.LoginSubject(ctx, nil, name)
				if err != nil {
					t.Fatalf("LoginSubject(%q): %v", name, err)
				}
				for id, lk := range loginKeys {
					found := u != nil && u.ID == id
					if (k == lk) != found {
						t.Errorf("%q: finds user %s = %v, but shares its key = %v", name, id, found, k == lk)
					}
				}
			}
		})
	}
}

func TestLoginSubjectOfKnownUser(t *testing.T) {
	s, db := collationStore(t, "utf8mb4_general_ci", "", "alice@x")
	ctx := context.Background()
	u, err := s.FindUser(ctx, "ALICÉ@x")
	if err != nil {
		t.Fatalf("FindUser: %v", err)
	}
	got, err := s.LoginSubject(ctx, u, "ALICÉ@x")
	if err != nil || got != store.LoginSubject("1", true, "") {
		t.Fatalf("LoginSubject(known) = %q, %v; want the user_id subject", got, err)
	}
	unknown, err := s.LoginSubject(ctx, nil, "1")
	if err != nil || unknown == got {
		t.Fatalf("an unknown name %q shares the key of user_id 1 (%v)", "1", err)
	}
	// The default collation is the database's.
	var want string
	if err := db.QueryRowContext(ctx, "SELECT @@collation_database").Scan(&want); err != nil {
		t.Fatal(err)
	}
	coll, method, err := s.NameCollation(ctx)
	if err != nil || coll != want {
		t.Fatalf("NameCollation = %q, %v; want %q", coll, err, want)
	}
	if want := map[bool]string{true: "go", false: "server"}[storetest.Embedded()]; method != want {
		t.Errorf("NameCollation method = %q, want %q", method, want)
	}
}

func TestNameCollationErrors(t *testing.T) {
	if err := store.ValidateConfig(store.Config{UserQuery: "SELECT 1 FROM u WHERE a = ?", NameCollation: "utf8mb4_bin; DROP"}); err == nil {
		t.Error("ValidateConfig accepted a collation name with SQL in it")
	}
	s, _ := collationStore(t, "utf8mb4_bin", "no_such_collation_ci")
	if _, err := s.LoginSubject(context.Background(), nil, "x"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("LoginSubject with an unknown collation = %v, want ErrUnavailable", err)
	}
}

// Without WEIGHT_STRING and without registered Go weights, unknown names
// keep the old lower(trim(name)) key rather than failing every login.
func TestNameKeyLegacyFallback(t *testing.T) {
	if !storetest.Embedded() {
		t.Skip("the server has WEIGHT_STRING")
	}
	store.RegisterCollationWeights(nil)
	t.Cleanup(func() { store.RegisterCollationWeights(gmsWeights) })
	s, _ := collationStore(t, "utf8mb4_general_ci", "utf8mb4_general_ci")
	ctx := context.Background()
	got, err := s.LoginSubject(ctx, nil, " Nobody@X")
	if err != nil || got != store.LoginSubject("", false, "nobody@x") {
		t.Fatalf("LoginSubject = %q, %v; want the legacy key", got, err)
	}
	if _, method, _ := s.NameCollation(ctx); method != "legacy" {
		t.Fatalf("method = %q, want legacy", method)
	}
}
