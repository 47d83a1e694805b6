package store

import (
	"slices"
	"strings"
	"testing"
)

func TestCompileNamed(t *testing.T) {
	tests := []struct {
		name, query string
		wantSQL     string
		wantNames   []string
		wantErr     string
	}{
		{name: "insert", query: "INSERT INTO users (email, password_hash) VALUES (:email, :password_hash);",
			wantSQL: "INSERT INTO users (email, password_hash) VALUES (?, ?)", wantNames: []string{"email", "password_hash"}},
		{name: "repeated", query: "UPDATE t SET a = :email WHERE b = :email",
			wantSQL: "UPDATE t SET a = ? WHERE b = ?", wantNames: []string{"email", "email"}},
		{name: "colon in string", query: "INSERT INTO t (a, b) VALUES (:email, '10:30 :user_id')",
			wantSQL: "INSERT INTO t (a, b) VALUES (?, '10:30 :user_id')", wantNames: []string{"email"}},
		{name: "escaped quote", query: `SELECT 'it''s :x', 'a\':y' FROM t WHERE id = :user_id`,
			wantSQL: `SELECT 'it''s :x', 'a\':y' FROM t WHERE id = ?`, wantNames: []string{"user_id"}},
		{name: "double quotes and backticks", query: "SELECT \"a:b\", `c:d` FROM t WHERE id=:user_id",
			wantSQL: "SELECT \"a:b\", `c:d` FROM t WHERE id=?", wantNames: []string{"user_id"}},
		{name: "comments", query: "DELETE FROM t -- by :nobody\nWHERE id = :user_id /* :org_x */ # :y",
			wantSQL: "DELETE FROM t -- by :nobody\nWHERE id = ? /* :org_x */ # :y", wantNames: []string{"user_id"}},
		{name: "executable comment is code", query: "DELETE /*! IGNORE */ FROM t WHERE id = :user_id",
			wantSQL: "DELETE /*! IGNORE */ FROM t WHERE id = ?", wantNames: []string{"user_id"}},
		{name: "assignment and double colon", query: "SET @a := :role, @b = 'x'::text",
			wantSQL: "SET @a := ?, @b = 'x'::text", wantNames: []string{"role"}},
		{name: "name ends at punctuation", query: "VALUES(:user_id,:org_id)",
			wantSQL: "VALUES(?,?)", wantNames: []string{"user_id", "org_id"}},
		{name: "unknown", query: "DELETE FROM t WHERE id = :id", wantErr: "unknown parameter :id (known: :user_id :email"},
		{name: "positional", query: "DELETE FROM t WHERE id = ?", wantErr: "not '?'"},
		{name: "question mark in string is data", query: "SELECT '?' FROM t WHERE id = :user_id",
			wantSQL: "SELECT '?' FROM t WHERE id = ?", wantNames: []string{"user_id"}},
		{name: "bare colon", query: "SELECT : FROM t", wantErr: "without a parameter name"},
		{name: "unterminated", query: "SELECT 'x FROM t", wantErr: "unterminated ' quote"},
		{name: "empty", query: " ; ", wantErr: "empty statement"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CompileNamed("create_user", tt.query, ManagementParams)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "create_user: ") {
					t.Errorf("err %q does not name the directive", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.SQL != tt.wantSQL || !slices.Equal(got.Names, tt.wantNames) {
				t.Errorf("got %q %v, want %q %v", got.SQL, got.Names, tt.wantSQL, tt.wantNames)
			}
			if n, err := countPlaceholders(got.SQL); err != nil || n != len(got.Names) {
				t.Errorf("compiled SQL has %d placeholders (%v), want %d", n, err, len(got.Names))
			}
		})
	}
}

func TestNamedStatementArgs(t *testing.T) {
	s, err := CompileNamed("x", "UPDATE t SET a = :email, b = :name WHERE id = :user_id", ManagementParams)
	if err != nil {
		t.Fatal(err)
	}
	args := s.Args(map[string]any{"user_id": "7", "email": "'; DROP TABLE users; --"})
	want := []any{"'; DROP TABLE users; --", nil, "7"}
	if !slices.Equal(args, want) {
		t.Errorf("args = %v, want %v", args, want)
	}
}
