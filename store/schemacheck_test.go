package store

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap/zaptest"

	"github.com/claimgate/claimgate/demo/demodb"
	"github.com/claimgate/claimgate/store/storetest"
)

// problem is one QueryError a check should find.
type problem struct {
	directive string
	column    string // the missing column, if that is the problem
	// msg is the whole message when exact, else a part of it.
	msg   string
	exact bool
	// server: the server refused the query (its error is wrapped).
	server bool
}

// TestCheck runs Check on the demo schema with one query broken at a time
// (a missing table, a missing column, a syntax error, a bad rehash_query),
// and finds each problem named by its directive, without changing a row.
func TestCheck(t *testing.T) {
	db := openPooled(t, storetest.NewDemoDatabase(t))
	with := func(change func(*Config)) Config {
		c := demoConfig
		change(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want []problem
	}{
		{name: "every demo query fits", cfg: demoConfig},
		{name: "only user_query", cfg: Config{UserQuery: demodb.DemoUserQuery}},
		{name: "user_query without password_hash",
			cfg: with(func(c *Config) {
				c.UserQuery = "SELECT id AS user_id, email, password_hash AS password FROM users WHERE email = ?"
			}),
			want: []problem{{directive: "user_query", column: "password_hash", exact: true,
				msg: `user_query returns no password_hash column; alias it, e.g. "password AS password_hash"`}}},
		{name: "user_query without user_id",
			cfg:  with(func(c *Config) { c.UserQuery = "SELECT id, password_hash FROM users WHERE email = ?" }),
			want: []problem{{directive: "user_query", column: "user_id", msg: `alias it, e.g. "id AS user_id"`}}},
		{name: "user_query with a column twice",
			cfg: with(func(c *Config) {
				c.UserQuery = "SELECT id AS user_id, password_hash, email, email AS EMAIL FROM users WHERE email = ?"
			}),
			want: []problem{{directive: "user_query", column: "EMAIL", msg: `returns the column "EMAIL" twice`}}},
		{name: "user_query on a missing table",
			cfg:  with(func(c *Config) { c.UserQuery = "SELECT id AS user_id, password_hash FROM accounts WHERE email = ?" }),
			want: []problem{{directive: "user_query", server: true, msg: "accounts"}}},
		{name: "user_query on a missing column",
			cfg:  with(func(c *Config) { c.UserQuery = "SELECT id AS user_id, password_hash FROM users WHERE login = ?" }),
			want: []problem{{directive: "user_query", server: true, msg: "login"}}},
		{name: "user_id_query without password_hash",
			cfg:  with(func(c *Config) { c.UserIDQuery = "SELECT id AS user_id, email FROM users WHERE id = ?" }),
			want: []problem{{directive: "user_id_query", column: "password_hash", msg: "user_id_query returns no password_hash column"}}},
		// Before, a user_id_query without blocked passed: a user blocked in
		// the table kept refreshing (refresh reads by id), and a management
		// PATCH wrote blocked = 0 over it.
		{name: "user_id_query without a column of user_query",
			cfg: with(func(c *Config) {
				c.UserIDQuery = "SELECT id AS user_id, email, email_verified, username, name, nickname, picture, " +
					"password_hash, app_metadata, user_metadata FROM users WHERE id = ?"
			}),
			want: []problem{{directive: "user_id_query", column: "blocked", msg: "user_id_query returns no blocked column that user_query returns"}}},
		{name: "user_id_query with the same columns",
			cfg: with(func(c *Config) {
				c.UserIDQuery = strings.Replace(demodb.DemoUserQuery, "WHERE email = ?", "WHERE id = ?", 1)
			})},
		{name: "roles_query with a syntax error",
			cfg:  with(func(c *Config) { c.RolesQuery = "SELEC r.name FROM roles r WHERE r.id = ?" }),
			want: []problem{{directive: "roles_query", server: true, msg: "roles_query is refused by the database"}}},
		{name: "permissions_query on a missing table",
			cfg:  with(func(c *Config) { c.PermissionsQuery = "SELECT name FROM perms WHERE user_id = ?" }),
			want: []problem{{directive: "permissions_query", server: true, msg: "perms"}}},
		{name: "organization_query without org_id",
			cfg: with(func(c *Config) {
				c.OrganizationQuery = "SELECT o.id, o.name AS org_name FROM members m JOIN organizations o ON o.id = m.org_id WHERE m.user_id = ? AND o.id = ?"
			}),
			want: []problem{{directive: "organization_query", column: "org_id", msg: `alias it, e.g. "o.id AS org_id"`}}},
		{name: "rehash_query on a missing column",
			cfg:  with(func(c *Config) { c.RehashQuery = "UPDATE users SET pw = ? WHERE id = ? AND pw = ?" }),
			want: []problem{{directive: "rehash_query", server: true, msg: "pw"}}},
		{name: "rehash_query on a missing table",
			cfg: with(func(c *Config) {
				c.RehashQuery = "UPDATE accounts SET password_hash = ? WHERE id = ? AND password_hash = ?"
			}),
			want: []problem{{directive: "rehash_query", server: true, msg: "accounts"}}},
		{name: "rehash_query with a syntax error",
			cfg: with(func(c *Config) {
				c.RehashQuery = "UPDAT users SET password_hash = ? WHERE id = ? AND password_hash = ?"
			}),
			want: []problem{{directive: "rehash_query", server: true, msg: "rehash_query is refused by the database"}}},
		{name: "two problems at once",
			cfg: with(func(c *Config) {
				c.UserQuery = "SELECT id AS user_id FROM users WHERE email = ?"
				c.RolesQuery = "SELECT name FROM no_roles WHERE user_id = ?"
			}),
			want: []problem{
				{directive: "user_query", column: "password_hash", msg: "user_query returns no password_hash column"},
				{directive: "roles_query", server: true, msg: "no_roles"},
			}},
	}
	hashesBefore := passwordHashes(t, db)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, db, tt.cfg, zaptest.NewLogger(t))
			if got := s.Status(); got != StatusUnknown || got.String() != "unavailable" {
				t.Errorf("Status before Check = %v (%q)", got, got)
			}
			problems, err := s.Check(context.Background())
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if len(problems) != len(tt.want) {
				t.Fatalf("Check found %d problems, want %d: %v", len(problems), len(tt.want), problems)
			}
			for i, w := range tt.want {
				p := problems[i]
				if p.Directive != w.directive || p.Column != w.column {
					t.Errorf("problem %d: directive %q column %q, want %q %q", i, p.Directive, p.Column, w.directive, w.column)
				}
				if w.exact && p.Error() != w.msg || !strings.Contains(p.Error(), w.msg) {
					t.Errorf("problem %d: %q, want %q", i, p.Error(), w.msg)
				}
				if !strings.HasPrefix(p.Error(), w.directive+" ") {
					t.Errorf("problem %d: %q does not begin with its directive", i, p.Error())
				}
				var me *mysql.MySQLError
				if errors.As(p, &me) != w.server {
					t.Errorf("problem %d: server error %v, want one: %v", i, me, w.server)
				}
				if !errors.Is(p, ErrMisconfigured) || errors.Is(p, ErrUnavailable) {
					t.Errorf("problem %d: not ErrMisconfigured alone: %v", i, p)
				}
			}
			wantStatus := StatusOK
			if len(tt.want) > 0 {
				wantStatus = StatusMisconfigured
			}
			if got := s.Status(); got != wantStatus {
				t.Errorf("Status = %v, want %v", got, wantStatus)
			}
			if err := s.ConfigError(); (err != nil) != (len(tt.want) > 0) || err != nil && !errors.Is(err, ErrMisconfigured) {
				t.Errorf("ConfigError = %v", err)
			}
		})
	}
	if after := passwordHashes(t, db); after != hashesBefore {
		t.Error("Check changed the users' password hashes")
	}
}

// passwordHashes is every user's hash, to see that Check wrote nothing.
func passwordHashes(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query("SELECT id, password_hash FROM users ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var all []string
	for rows.Next() {
		var id, hash string
		if err := rows.Scan(&id, &hash); err != nil {
			t.Fatal(err)
		}
		all = append(all, id+"="+hash)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(all, "\n")
}

// TestMisconfiguredUntilFixed: once a check has found a problem, the
// queries refuse at once with ErrMisconfigured (every login would fail the
// same way); the next check after the DBA's fix lifts it.
func TestMisconfiguredUntilFixed(t *testing.T) {
	db := openPooled(t, storetest.NewDemoDatabase(t))
	cfg := demoConfig
	cfg.UserQuery = "SELECT u.id AS user_id, u.password_hash FROM users u JOIN accounts a ON a.user_id = u.id WHERE u.email = ?"
	s := newStore(t, db, cfg, zaptest.NewLogger(t))
	ctx := context.Background()
	if problems, err := s.Check(ctx); err != nil || len(problems) != 1 {
		t.Fatalf("Check = %v, %v; want the missing table", problems, err)
	}
	if _, err := s.FindUser(ctx, demodb.DemoUsers[0].Email); !errors.Is(err, ErrMisconfigured) {
		t.Errorf("FindUser while misconfigured = %v, want ErrMisconfigured", err)
	}
	if _, err := s.LoadGrants(ctx, &User{ID: "1"}, ""); !errors.Is(err, ErrMisconfigured) {
		t.Errorf("LoadGrants while misconfigured = %v, want ErrMisconfigured", err)
	}
	if _, err := s.RehashPassword(ctx, "1", "old", "new"); !errors.Is(err, ErrMisconfigured) {
		t.Errorf("RehashPassword while misconfigured = %v, want ErrMisconfigured", err)
	}

	if err := storetest.Exec(ctx, db,
		"CREATE TABLE accounts (user_id INT NOT NULL PRIMARY KEY)",
		"INSERT INTO accounts VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if problems, err := s.Check(ctx); err != nil || len(problems) != 0 {
		t.Fatalf("Check after the fix = %v, %v", problems, err)
	}
	if s.Status() != StatusOK || s.ConfigError() != nil {
		t.Errorf("after the fix: Status %v, ConfigError %v", s.Status(), s.ConfigError())
	}
	u, err := s.FindUser(ctx, demodb.DemoUsers[0].Email)
	if err != nil || u.ID != "1" {
		t.Fatalf("FindUser after the fix = %+v, %v", u, err)
	}
}

// TestQueryOutcomeMisconfigures: without any check, a query the server
// refuses for a missing table, or a user_query without password_hash, is
// ErrMisconfigured (not an outage, not an unknown user) and makes the store
// misconfigured.
func TestQueryOutcomeMisconfigures(t *testing.T) {
	db := openPooled(t, storetest.NewDemoDatabase(t))
	for _, tc := range []struct {
		name, query, column string
	}{
		{name: "missing table", query: "SELECT id AS user_id, password_hash FROM accounts WHERE email = ?"},
		{name: "no password_hash for an unknown user", column: "password_hash",
			query: "SELECT id AS user_id, email FROM users WHERE email = ?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, db, Config{UserQuery: tc.query}, zaptest.NewLogger(t))
			_, err := s.FindUser(context.Background(), "nobody@example.test")
			var qe *QueryError
			if !errors.As(err, &qe) || !errors.Is(err, ErrMisconfigured) || errors.Is(err, ErrUnavailable) {
				t.Fatalf("FindUser = %v, want ErrMisconfigured", err)
			}
			if qe.Directive != "user_query" || qe.Column != tc.column {
				t.Errorf("QueryError directive %q column %q", qe.Directive, qe.Column)
			}
			if s.Status() != StatusMisconfigured || !errors.Is(s.ConfigError(), ErrMisconfigured) {
				t.Errorf("Status %v, ConfigError %v", s.Status(), s.ConfigError())
			}
		})
	}
}

// TestCheckDatabaseDown: with the server unreachable, Check and Ping say
// unavailable (never misconfigured), and so does the Status.
func TestCheckDatabaseDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	db := openPooled(t, "root@tcp("+addr+")/claimgate")
	s := newStore(t, db, Config{UserQuery: demodb.DemoUserQuery, Timeout: time.Second}, zaptest.NewLogger(t))
	ctx := context.Background()
	if err := s.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ping = %v, want ErrUnavailable", err)
	}
	problems, err := s.Check(ctx)
	if !errors.Is(err, ErrUnavailable) || problems != nil {
		t.Errorf("Check = %v, %v; want ErrUnavailable", problems, err)
	}
	if s.Status() != StatusUnavailable || s.Status().String() != "unavailable" || s.ConfigError() != nil {
		t.Errorf("Status %v, ConfigError %v", s.Status(), s.ConfigError())
	}
	// A failed connection at query time says the same.
	s2 := newStore(t, db, Config{UserQuery: demodb.DemoUserQuery, Timeout: time.Second}, zaptest.NewLogger(t))
	if _, err := s2.FindUser(ctx, "nobody@example.test"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("FindUser = %v, want ErrUnavailable", err)
	}
	if s2.Status() != StatusUnavailable {
		t.Errorf("Status after a refused connection = %v", s2.Status())
	}
}
