package store

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/claimgate/claimgate/demo/demodb"
	"github.com/claimgate/claimgate/store/storetest"
)

// peopleSchema exercises column typing: booleans as TINYINT and as text,
// metadata as JSON and as TEXT, NULLs, and extra columns of several types.
var peopleSchema = []string{
	"CREATE TABLE people (" +
		"id INT NOT NULL PRIMARY KEY, login VARCHAR(100) NOT NULL, pw VARCHAR(255), " +
		"verified TINYINT(1), verified_text VARCHAR(10), blocked_flag TINYINT(1), " +
		"app_json JSON, user_text TEXT, tier VARCHAR(20), logins INT, balance DECIMAL(10,2), " +
		"score DOUBLE, updated DATETIME, big BIGINT UNSIGNED, raw_id VARBINARY(16))",
	"INSERT INTO people VALUES " +
		`(1, 'alice', '$2a$10$alice', 1, 'true', 0, '{"roles":["admin","user"],"org_id":"org_1","n":12345}', ` +
		`'{"city":"Paris"}', 'gold', 42, 12.50, 0.25, '2024-01-02 03:04:05', 18446744073709551615, X'00ff10'), ` +
		"(2, 'bob', '$2a$10$bob', 0, 'FALSE', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), " +
		"(3, 'twin', 'h3', 1, '1', 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), " +
		"(4, 'twin', 'h4', 1, '1', 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), " +
		"(5, '', 'h5', 1, '1', 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), " +
		`(6, 'broken', 'h6', 1, 'True', 1, '["not","an","object"]', '{"oops": ', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
}

const typedQuery = "SELECT id AS user_id, login AS username, pw AS password_hash, verified AS email_verified, " +
	"blocked_flag AS blocked, app_json AS app_metadata, user_text AS user_metadata, tier, logins, balance, score, " +
	"updated AS updated_at, big FROM people WHERE login = ?"

// openPeople returns a pooled *sql.DB on a fresh database with peopleSchema.
func openPeople(t *testing.T) *sql.DB {
	t.Helper()
	dsn := storetest.NewDatabase(t)
	db := openPooled(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := storetest.Exec(ctx, db, peopleSchema...); err != nil {
		t.Fatalf("creating people: %v", err)
	}
	return db
}

func openPooled(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := NewDB(dsn)
	if err != nil {
		t.Fatalf("NewDB: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("closing the pool: %v", err)
		}
	})
	return db
}

func newStore(t testing.TB, db *sql.DB, cfg Config, logger *zap.Logger) *Store {
	t.Helper()
	s, err := New(db, cfg, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFindUser(t *testing.T) {
	db := openPeople(t)
	tests := []struct {
		name     string
		query    string
		username string
		wantErr  error
		wantMsg  string // a substring of the error
		wantLog  string
		check    func(t *testing.T, u *User)
	}{
		{name: "typed columns", query: typedQuery, username: "alice", check: func(t *testing.T, u *User) {
			wantApp := map[string]any{"roles": []any{"admin", "user"}, "org_id": "org_1", "n": int64(12345)}
			wantUser := map[string]any{"city": "Paris"}
			want := &User{
				ID: "1", PasswordHash: "$2a$10$alice", Blocked: false,
				AppMetadata: wantApp, UserMetadata: wantUser,
				Attributes: map[string]any{
					"user_id": "1", "username": "alice", "email_verified": true, "blocked": false,
					"app_metadata": wantApp, "user_metadata": wantUser, "tier": "gold", "logins": int64(42),
					"balance": 12.5, "score": 0.25, "updated_at": "2024-01-02T03:04:05Z", "big": uint64(math.MaxUint64),
				},
			}
			want.columns = u.columns // the names returned, checked below
			if !reflect.DeepEqual(u, want) {
				t.Errorf("user =\n%#v\nwant\n%#v", u, want)
			}
		}},
		{name: "NULLs", query: typedQuery, username: "bob", check: func(t *testing.T, u *User) {
			want := &User{
				ID: "2", PasswordHash: "$2a$10$bob", AppMetadata: map[string]any{}, UserMetadata: map[string]any{},
				Attributes: map[string]any{
					"user_id": "2", "username": "bob", "email_verified": false,
					"app_metadata": map[string]any{}, "user_metadata": map[string]any{},
				},
			}
			// NULL columns are absent from Attributes but were returned.
			for _, c := range []string{"tier", "logins", "balance", "big"} {
				if !u.HasColumn(c) {
					t.Errorf("HasColumn(%q) = false for a NULL column", c)
				}
			}
			want.columns = u.columns
			if !reflect.DeepEqual(u, want) {
				t.Errorf("user =\n%#v\nwant\n%#v", u, want)
			}
		}},
		{name: "text booleans", username: "alice",
			query: "SELECT id AS user_id, pw AS password_hash, verified_text AS email_verified FROM people WHERE login = ?",
			check: func(t *testing.T, u *User) {
				if u.Attributes["email_verified"] != true {
					t.Errorf("email_verified = %#v, want true", u.Attributes["email_verified"])
				}
			}},
		{name: "text booleans false", username: "bob",
			query: "SELECT id AS user_id, pw AS password_hash, verified_text AS blocked FROM people WHERE login = ?",
			check: func(t *testing.T, u *User) {
				if u.Blocked || u.Attributes["blocked"] != false {
					t.Errorf("blocked = %v / %#v, want false", u.Blocked, u.Attributes["blocked"])
				}
			}},
		{name: "blocked", username: "broken",
			query: "SELECT id AS user_id, pw AS password_hash, blocked_flag AS blocked FROM people WHERE login = ?",
			check: func(t *testing.T, u *User) {
				if !u.Blocked {
					t.Error("Blocked = false, want true")
				}
			}},
		{name: "app_metadata from a text column", username: "alice",
			query: "SELECT id AS user_id, pw AS password_hash, user_text AS app_metadata FROM people WHERE login = ?",
			check: func(t *testing.T, u *User) {
				if !reflect.DeepEqual(u.AppMetadata, map[string]any{"city": "Paris"}) {
					t.Errorf("AppMetadata = %#v", u.AppMetadata)
				}
			}},
		{name: "uppercase aliases and binary id", username: "alice",
			query: "SELECT raw_id AS USER_ID, pw AS Password_Hash, login AS Login FROM people WHERE login = ?",
			check: func(t *testing.T, u *User) {
				want := map[string]any{"user_id": "00ff10", "Login": "alice"}
				if u.ID != "00ff10" || !reflect.DeepEqual(u.Attributes, want) {
					t.Errorf("ID %q, Attributes %#v; want %#v", u.ID, u.Attributes, want)
				}
			}},
		{name: "app_metadata not an object fails closed", username: "broken", query: typedQuery,
			wantErr: ErrNotFound, wantLog: "app_metadata is not a JSON object; refusing the login"},
		{name: "invalid user_metadata is empty", username: "broken",
			query:   "SELECT id AS user_id, pw AS password_hash, user_text AS user_metadata FROM people WHERE login = ?",
			wantLog: "user_metadata is not a JSON object; using an empty one",
			check: func(t *testing.T, u *User) {
				if u.UserMetadata == nil || len(u.UserMetadata) != 0 {
					t.Errorf("UserMetadata = %#v, want empty", u.UserMetadata)
				}
			}},
		{name: "missing user_id alias", username: "alice",
			query:   "SELECT id, pw AS password_hash FROM people WHERE login = ?",
			wantErr: ErrMisconfigured, wantMsg: "id AS user_id"},
		{name: "missing password_hash alias", username: "alice",
			query:   "SELECT id AS user_id, pw FROM people WHERE login = ?",
			wantErr: ErrMisconfigured, wantMsg: "AS password_hash"},
		{name: "unknown user", query: typedQuery, username: "nobody", wantErr: ErrNotFound},
		{name: "two rows", query: typedQuery, username: "twin", wantErr: ErrNotFound,
			wantLog: "user_query returned more than one row for one username; refusing the login (the query must match a unique column)"},
		{name: "empty username", query: typedQuery, username: "", wantErr: ErrNotFound},
		{name: "SQL metacharacters", query: typedQuery, username: "' OR 1=1 --", wantErr: ErrNotFound},
		{name: "SQL metacharacters with quotes", query: typedQuery, username: `alice' OR '1'='1`, wantErr: ErrNotFound},
		{name: "backslash", query: typedQuery, username: `alice\`, wantErr: ErrNotFound},
		{name: "non-UTF-8", query: typedQuery, username: "\xff\xfe'\x00", wantErr: ErrNotFound},
		{name: "table missing", username: "alice",
			query:   "SELECT id AS user_id, pw AS password_hash FROM no_such_table WHERE login = ?",
			wantErr: ErrMisconfigured, wantMsg: "user_query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			s := newStore(t, db, Config{UserQuery: tt.query}, zap.New(core))
			u, err := s.FindUser(context.Background(), tt.username)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("FindUser error = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("error %q does not contain %q", err, tt.wantMsg)
				}
			} else if err != nil {
				t.Fatalf("FindUser: %v", err)
			}
			if tt.wantLog != "" && logs.FilterMessage(tt.wantLog).Len() != 1 {
				t.Errorf("log %q missing; got %v", tt.wantLog, logs.All())
			}
			if tt.check != nil {
				tt.check(t, u)
			}
		})
	}
}

// peopleRehash is a rehash_query for peopleSchema, in the required form.
const peopleRehash = "UPDATE people SET pw = ? WHERE id = ? AND pw = ?"

// demoRehashQuery is rehash_query for the demo schema, with the verified
// hash as its third parameter.
const demoRehashQuery = "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?"

// TestRehashPasswordNeverUndoesAChange is issue 9 item 1: the lazy rehash
// must only replace the hash it verified. A password changed between the
// login's read and the rehash stays.
func TestRehashPasswordNeverUndoesAChange(t *testing.T) {
	db := openPeople(t)
	s := newStore(t, db, Config{UserQuery: typedQuery, RehashQuery: peopleRehash}, zaptest.NewLogger(t))
	ctx := context.Background()
	tests := []struct {
		name        string
		changedTo   string // set by "someone else" after the login read the hash; "" = no change
		wantUpdated bool
		wantHash    string
	}{
		{"unchanged hash is upgraded", "", true, "$argon2id$new"},
		{"concurrent password change is kept", "$2a$10$reset-by-admin", false, "$2a$10$reset-by-admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := db.ExecContext(ctx, "UPDATE people SET pw = '$2a$10$alice' WHERE id = 1"); err != nil {
				t.Fatal(err)
			}
			u, err := s.FindUser(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if tt.changedTo != "" {
				if _, err := db.ExecContext(ctx, "UPDATE people SET pw = ? WHERE id = 1", tt.changedTo); err != nil {
					t.Fatal(err)
				}
			}
			updated, err := s.RehashPassword(ctx, u.ID, u.PasswordHash, "$argon2id$new")
			if err != nil || updated != tt.wantUpdated {
				t.Fatalf("RehashPassword = %v, %v; want %v", updated, err, tt.wantUpdated)
			}
			if u, _ := s.FindUser(ctx, "alice"); u.PasswordHash != tt.wantHash {
				t.Fatalf("stored hash %q, want %q", u.PasswordHash, tt.wantHash)
			}
		})
	}

	// Without rehash_query: ErrNoQuery.
	s2 := newStore(t, db, Config{UserQuery: typedQuery}, zaptest.NewLogger(t))
	if _, err := s2.RehashPassword(ctx, "1", "$argon2id$new", "$2a$10$other"); !errors.Is(err, ErrNoQuery) {
		t.Fatalf("RehashPassword without query: %v, want ErrNoQuery", err)
	}
	if u, _ := s.FindUser(ctx, "alice"); u.PasswordHash != "$2a$10$reset-by-admin" {
		t.Fatalf("hash changed: %q", u.PasswordHash)
	}
}

func TestFindUserByID(t *testing.T) {
	db := openPeople(t)
	byID := strings.Replace(typedQuery, "WHERE login = ?", "WHERE id = ?", 1)
	s := newStore(t, db, Config{UserQuery: typedQuery, UserIDQuery: byID}, zaptest.NewLogger(t))
	ctx := context.Background()
	if !s.HasUserIDQuery() {
		t.Fatal("HasUserIDQuery = false")
	}
	byName, err := s.FindUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id      string
		wantErr error
	}{
		{"1", nil},
		{"99", ErrNotFound},
		{"", ErrNotFound},
		{"6", ErrNotFound}, // app_metadata is not an object: refused like FindUser
	}
	for _, tt := range tests {
		t.Run("id "+tt.id, func(t *testing.T) {
			u, err := s.FindUserByID(ctx, tt.id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("FindUserByID(%q) = %v, want %v", tt.id, err, tt.wantErr)
			}
			if tt.wantErr == nil && !reflect.DeepEqual(u, byName) {
				t.Fatalf("by id\n%#v\nby name\n%#v", u, byName)
			}
		})
	}
	s2 := newStore(t, db, Config{UserQuery: typedQuery}, zaptest.NewLogger(t))
	if _, err := s2.FindUserByID(ctx, "1"); !errors.Is(err, ErrNoQuery) || s2.HasUserIDQuery() {
		t.Fatalf("without user_id_query: %v, want ErrNoQuery", err)
	}
}

// demoStore is a Store with every demo query on a fresh demo database.
func demoStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	db := openPooled(t, storetest.NewDemoDatabase(t))
	return newStore(t, db, cfg, zaptest.NewLogger(t))
}

var demoConfig = Config{
	UserQuery:         demodb.DemoUserQuery,
	RolesQuery:        demodb.DemoRolesQuery,
	PermissionsQuery:  demodb.DemoPermissionsQuery,
	OrganizationQuery: demodb.DemoOrganizationQuery,
	RehashQuery:       demoRehashQuery,
}

func TestLoadGrants(t *testing.T) {
	full := demoStore(t, demoConfig)
	noGrants := newStore(t, full.db, Config{UserQuery: demodb.DemoUserQuery}, zaptest.NewLogger(t))
	ctx := context.Background()
	find := func(s *Store, email string) *User {
		t.Helper()
		u, err := s.FindUser(ctx, email)
		if err != nil {
			t.Fatalf("FindUser(%s): %v", email, err)
		}
		return u
	}
	alice := find(full, "alice@example.test")
	dave := find(full, "dave@example.test")

	tests := []struct {
		name    string
		store   *Store
		user    *User
		org     string
		want    Grants
		wantErr error
	}{
		{name: "all queries", store: full, user: alice, org: "org_acme", want: Grants{
			Roles:        []string{"admin", "editor"},
			Permissions:  []string{"delete:orders", "read:orders", "read:reports", "write:orders"},
			Organization: &Organization{ID: "org_acme", Name: demodb.DemoOrganizations["org_acme"]},
		}},
		{name: "no organization asked", store: full, user: alice, want: Grants{
			Roles:       []string{"admin", "editor"},
			Permissions: []string{"delete:orders", "read:orders", "read:reports", "write:orders"},
		}},
		{name: "no roles, no permissions", store: full, user: dave, want: Grants{Roles: []string{}, Permissions: []string{}}},
		{name: "not a member", store: full, user: alice, org: "org_globex", wantErr: ErrNotMember},
		{name: "unknown organization", store: full, user: alice, org: "' OR 1=1 --", wantErr: ErrNotMember},
		{name: "roles from app_metadata", store: noGrants, user: alice, want: Grants{Roles: []string{"admin", "editor"}}},
		{name: "no roles in app_metadata", store: noGrants, user: dave, want: Grants{Roles: []string{}}},
		{name: "organization without organization_query", store: noGrants, user: alice, org: "org_acme", wantErr: ErrNotMember},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := tt.store.LoadGrants(ctx, tt.user, tt.org)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("LoadGrants error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadGrants: %v", err)
			}
			if !reflect.DeepEqual(g, tt.want) {
				t.Errorf("LoadGrants =\n%#v\nwant\n%#v", g, tt.want)
			}
			if g.Roles == nil || (tt.store.HasPermissionsQuery() != (g.Permissions != nil)) {
				t.Errorf("nil-ness: roles %#v, permissions %#v", g.Roles, g.Permissions)
			}
		})
	}
}

func TestLoadGrantsConcurrent(t *testing.T) {
	s := demoStore(t, demoConfig)
	ctx := context.Background()
	var users []*User
	for _, du := range demodb.DemoUsers {
		u, err := s.FindUser(ctx, du.Email)
		if err != nil {
			t.Fatalf("FindUser(%s): %v", du.Email, err)
		}
		users = append(users, u)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Go(func() {
			du := demodb.DemoUsers[i%len(users)]
			g, err := s.LoadGrants(ctx, users[i%len(users)], "")
			if err != nil {
				errs <- err
				return
			}
			if !slices.Equal(g.Roles, du.Roles) && !(len(g.Roles) == 0 && len(du.Roles) == 0) {
				errs <- errors.New(du.Email + ": roles " + strings.Join(g.Roles, ",") + " want " + strings.Join(du.Roles, ","))
			}
			if !slices.Equal(g.Permissions, du.Permissions) && !(len(g.Permissions) == 0 && len(du.Permissions) == 0) {
				errs <- errors.New(du.Email + ": permissions " + strings.Join(g.Permissions, ","))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestStoreClosed(t *testing.T) {
	s := demoStore(t, demoConfig)
	if _, err := s.FindUser(context.Background(), "alice@example.test"); err != nil {
		t.Fatalf("FindUser: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.FindUser(context.Background(), "alice@example.test"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("FindUser after Close = %v, want ErrUnavailable", err)
	}
}

// TestDatabaseDown checks that New works without a server and that queries
// fail with ErrUnavailable: at once on a closed port, and within the timeout
// on a server that accepts connections but never answers.
func TestDatabaseDown(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // hold it open, say nothing
		}
	}()

	for _, tc := range []struct {
		name   string
		addr   string
		silent bool
	}{
		{"connection refused", closedAddr, false},
		{"server never answers", silent.Addr().String(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openPooled(t, "root@tcp("+tc.addr+")/claimgate")
			s := newStore(t, db, Config{
				UserQuery:        demodb.DemoUserQuery,
				RolesQuery:       demodb.DemoRolesQuery,
				PermissionsQuery: demodb.DemoPermissionsQuery,
				RehashQuery:      demoRehashQuery,
				Timeout:          200 * time.Millisecond,
			}, zaptest.NewLogger(t))
			ctx := context.Background()
			_, err := s.FindUser(ctx, "alice@example.test")
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("FindUser = %v, want ErrUnavailable", err)
			}
			if tc.silent && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("FindUser = %v, want the timeout as its cause", err)
			}
			_, err = s.LoadGrants(ctx, &User{ID: "1", AppMetadata: map[string]any{}}, "")
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("LoadGrants = %v, want ErrUnavailable", err)
			}
			if _, err := s.RehashPassword(ctx, "1", "old", "h"); !errors.Is(err, ErrUnavailable) {
				t.Errorf("RehashPassword = %v, want ErrUnavailable", err)
			}
			if _, err := s.LoginSubject(ctx, nil, "nobody"); !errors.Is(err, ErrUnavailable) {
				t.Errorf("LoginSubject = %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestNewArguments(t *testing.T) {
	if _, err := New(nil, Config{UserQuery: typedQuery}, nil); err == nil {
		t.Error("New(nil db) succeeded")
	}
	db := openPooled(t, "root@tcp(127.0.0.1:1)/x")
	if _, err := New(db, Config{UserQuery: "SELECT 1"}, nil); err == nil ||
		err.Error() != "user_query must have exactly one '?' placeholder, found 0" {
		t.Errorf("New with a bad query = %v", err)
	}
	s, err := New(db, Config{UserQuery: typedQuery + " ; \n"}, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if s.timeout != DefaultTimeout || s.HasPermissionsQuery() || strings.HasSuffix(s.user.query, ";") {
		t.Errorf("store = timeout %v, permissions %v, query %q", s.timeout, s.HasPermissionsQuery(), s.user.query)
	}
}
