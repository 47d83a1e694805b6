package demodb_test

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/claimgate/claimgate/demo/demodb"
	"github.com/claimgate/claimgate/store/storetest"
)

// verify checks password against hash with golang.org/x/crypto and the
// standard library directly (not claimgate's password package).
func verify(t *testing.T, scheme, hash, password string) bool {
	t.Helper()
	switch scheme {
	case "bcrypt":
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	case "argon2id":
		var m, it uint32
		var p uint8
		parts := strings.Split(hash, "$") // "", argon2id, v=19, m=..,t=..,p=.., salt, key
		if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
			t.Fatalf("malformed argon2id hash %q", hash)
		}
		if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &it, &p); err != nil {
			t.Fatalf("argon2id parameters %q: %v", parts[3], err)
		}
		salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
		key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("argon2id hash %q: %v", hash, err)
		}
		got := argon2.IDKey([]byte(password), salt, it, m, p, uint32(len(key)))
		return subtle.ConstantTimeCompare(got, key) == 1
	case "pbkdf2_sha256":
		parts := strings.Split(hash, "$") // pbkdf2_sha256, iterations, salt, base64 key
		if len(parts) != 4 || parts[0] != "pbkdf2_sha256" {
			t.Fatalf("malformed Django hash %q", hash)
		}
		iter, err := strconv.Atoi(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		key, err := base64.StdEncoding.DecodeString(parts[3])
		if err != nil {
			t.Fatal(err)
		}
		got, err := pbkdf2.Key(sha256.New, password, []byte(parts[2]), iter, len(key))
		if err != nil {
			t.Fatal(err)
		}
		return subtle.ConstantTimeCompare(got, key) == 1
	}
	t.Fatalf("unknown scheme %q", scheme)
	return false
}

func TestDemoPasswords(t *testing.T) {
	for _, u := range demodb.DemoUsers {
		t.Run(u.Email, func(t *testing.T) {
			if !verify(t, u.Scheme, u.PasswordHash, u.Password) {
				t.Errorf("documented password does not match the %s hash", u.Scheme)
			}
			if verify(t, u.Scheme, u.PasswordHash, u.Password+"x") {
				t.Errorf("a wrong password matches the %s hash", u.Scheme)
			}
		})
	}
}

// TestDemoCoverage checks the demo has every kind of user the other
// packages' tests and the README rely on.
func TestDemoCoverage(t *testing.T) {
	has := func(what string, ok func(u demodb.DemoUser) bool) {
		t.Helper()
		if !slices.ContainsFunc(demodb.DemoUsers, ok) {
			t.Errorf("no demo user %s", what)
		}
	}
	has("is an admin with a bcrypt cost-10 $2a$/$2b$ hash", func(u demodb.DemoUser) bool {
		cost, err := bcrypt.Cost([]byte(u.PasswordHash))
		return slices.Contains(u.Roles, "admin") && err == nil && cost == 10 &&
			(strings.HasPrefix(u.PasswordHash, "$2a$") || strings.HasPrefix(u.PasswordHash, "$2b$"))
	})
	has("has an argon2id m=19456,t=2,p=1 hash", func(u demodb.DemoUser) bool {
		return strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$")
	})
	has("has a $2y$ bcrypt hash", func(u demodb.DemoUser) bool { return strings.HasPrefix(u.PasswordHash, "$2y$") })
	has("has a Django pbkdf2_sha256 hash with 600000 iterations", func(u demodb.DemoUser) bool {
		return strings.HasPrefix(u.PasswordHash, "pbkdf2_sha256$600000$")
	})
	has("is blocked", func(u demodb.DemoUser) bool { return u.Blocked })
	has("has NULL metadata", func(u demodb.DemoUser) bool { return u.AppMetadata == "" && u.UserMetadata == "" })
	has("has the documented rich metadata", func(u demodb.DemoUser) bool {
		return jsonEqual(u.AppMetadata, `{"roles":["admin","editor"],"org_id":"org_acme","plan":"pro"}`) &&
			jsonEqual(u.UserMetadata, `{"city":"Lisbon","theme":"dark"}`)
	})
	for _, u := range demodb.DemoUsers {
		for _, s := range []string{u.Email, u.Username, u.Name, u.Nickname, u.Picture, u.PasswordHash, u.AppMetadata, u.UserMetadata} {
			if strings.Contains(s, `\`) {
				t.Errorf("%s: %q has a backslash, which the statements do not escape", u.Email, s)
			}
		}
	}
}

func jsonEqual(a, b string) bool {
	var va, vb any
	return json.Unmarshal([]byte(a), &va) == nil && json.Unmarshal([]byte(b), &vb) == nil && reflect.DeepEqual(va, vb)
}

// TestDemoDatabase checks that the rows behind DemoUsers are what the Go
// table says, through go-sql-driver with server-side prepared statements:
// on a storetest database (MariaDB when CLAIMGATE_TEST_MYSQL_DSN is set) and
// on the embedded server's own seeded claimgate_demo.
func TestDemoDatabase(t *testing.T) {
	t.Run("storetest", func(t *testing.T) {
		checkDemo(t, storetest.Open(t, storetest.NewDemoDatabase(t)))
	})
	t.Run("embedded", func(t *testing.T) {
		dsn, err := demodb.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { demodb.Release() })
		checkDemo(t, storetest.Open(t, dsn))
	})
}

func checkDemo(t *testing.T, db *sql.DB) {
	ctx := context.Background()
	prepare := func(q string) *sql.Stmt {
		t.Helper()
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			t.Fatalf("preparing %q: %v", q, err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	userQ := prepare(demodb.DemoUserQuery)
	rolesQ := prepare(demodb.DemoRolesQuery)
	permsQ := prepare(demodb.DemoPermissionsQuery)
	orgQ := prepare(demodb.DemoOrganizationQuery)
	// The specification's example organization_query joins `orgs`.
	specOrgQ := prepare("SELECT o.id AS org_id, o.name AS org_name FROM members m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = ? AND o.id = ?")

	for _, u := range demodb.DemoUsers {
		t.Run(u.Email, func(t *testing.T) {
			var (
				id, verified, blocked     int64
				email, hash               string
				username, name, nick, pic sql.NullString
				appMetadata, userMetadata []byte // JSON columns arrive as text
			)
			err := userQ.QueryRowContext(ctx, u.Email).Scan(&id, &email, &verified, &username, &name, &nick, &pic,
				&hash, &blocked, &appMetadata, &userMetadata)
			if err != nil {
				t.Fatal(err)
			}
			got := []any{id, email, verified == 1, username.String, name.String, nick.String, pic.String, hash, blocked == 1}
			want := []any{u.ID, u.Email, u.EmailVerified, u.Username, u.Name, u.Nickname, u.Picture, u.PasswordHash, u.Blocked}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("row = %v\nwant %v", got, want)
			}
			checkJSON(t, "app_metadata", appMetadata, u.AppMetadata)
			checkJSON(t, "user_metadata", userMetadata, u.UserMetadata)

			if roles := column(t, rolesQ, u.ID); !slices.Equal(roles, u.Roles) {
				t.Errorf("roles = %q, want %q", roles, u.Roles)
			}
			if perms := column(t, permsQ, u.ID); !slices.Equal(perms, u.Permissions) {
				t.Errorf("permissions = %q, want %q", perms, u.Permissions)
			}
			for org, orgName := range demodb.DemoOrganizations {
				for _, q := range []*sql.Stmt{orgQ, specOrgQ} {
					var gotID, gotName string
					err := q.QueryRowContext(ctx, u.ID, org).Scan(&gotID, &gotName)
					switch member := slices.Contains(u.Orgs, org); {
					case member && (err != nil || gotID != org || gotName != orgName):
						t.Errorf("organization %s: got %q %q %v, want %q", org, gotID, gotName, err, orgName)
					case !member && !errors.Is(err, sql.ErrNoRows):
						t.Errorf("organization %s: got %q %v for a non-member, want no row", org, gotID, err)
					}
				}
			}
		})
	}
	var missing []byte
	if err := userQ.QueryRowContext(ctx, "nobody@example.test").Scan(&missing); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("unknown email: %v, want sql.ErrNoRows", err)
	}
}

// checkJSON: a JSON column scanned into []byte is valid JSON text equal to
// the documented value (key order and spacing may differ: go-mysql-server
// normalises JSON, MariaDB keeps the text), and NULL scans as nil.
func checkJSON(t *testing.T, col string, got []byte, want string) {
	t.Helper()
	if want == "" {
		if got != nil {
			t.Errorf("%s = %q, want NULL", col, got)
		}
		return
	}
	if !json.Valid(got) || !jsonEqual(string(got), want) {
		t.Errorf("%s = %q, want JSON equal to %s", col, got, want)
	}
}

func column(t *testing.T, st *sql.Stmt, args ...any) []string {
	t.Helper()
	rows, err := st.QueryContext(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
