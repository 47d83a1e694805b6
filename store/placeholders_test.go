package store

import (
	"strings"
	"testing"
	"time"
)

func TestCountPlaceholders(t *testing.T) {
	tests := []struct {
		query   string
		want    int
		wantErr string
	}{
		{"SELECT 1", 0, ""},
		{"SELECT * FROM users WHERE email = ?", 1, ""},
		{"SELECT * FROM m WHERE user_id = ? AND org = ?", 2, ""},
		{"SELECT '?' FROM t WHERE a = ?", 1, ""},
		{`SELECT "?" FROM t WHERE a = ?`, 1, ""},
		{"SELECT `a?b` FROM t WHERE a = ?", 1, ""},
		{"SELECT 'it''s ?' FROM t WHERE a = ?", 1, ""},
		{`SELECT 'it\'s ?' FROM t WHERE a = ?`, 1, ""},
		{`SELECT 'ends in backslash \\' , ? FROM t`, 1, ""},
		{"SELECT `we``ird?` FROM t WHERE a = ?", 1, ""},
		{"SELECT a FROM t WHERE a = ? -- and b = ?", 1, ""},
		{"SELECT a FROM t WHERE a = ? -- and b = ?\n AND c = ?", 2, ""},
		{"SELECT a FROM t WHERE a = ? # b = ?", 1, ""},
		{"SELECT a FROM t /* b = ? */ WHERE a = ?", 1, ""},
		{"SELECT a FROM t WHERE a = 1--?", 1, ""},    // `--` without a space is minus minus
		{"SELECT a FROM t WHERE a = ? --", 1, ""},    // `--` at the end is a comment
		{"SELECT a FROM t WHERE a = ? --\t?", 1, ""}, // tab after -- starts a comment
		{"SELECT /*! STRAIGHT_JOIN */ a FROM t WHERE a = ?", 1, ""},
		{"SELECT a FROM t WHERE a = ? /*!50700 AND b = ? */", 2, ""},
		{"SELECT a FROM t WHERE a = ? /*M!100100 AND b = ? */", 2, ""},
		{"SELECT /*+ MAX_EXECUTION_TIME(1000) ? */ a FROM t WHERE a = ?", 1, ""},
		{"SELECT a FROM t WHERE a = ?;", 1, ""},
		{"SELECT 'oops FROM t WHERE a = ?", 0, "unterminated ' quote"},
		{"SELECT `oops FROM t WHERE a = ?", 0, "unterminated ` quote"},
		{"SELECT a FROM t WHERE a = ? /* oops", 1, "unterminated /* comment"},
		{"SELECT a FROM t WHERE a = ? /*! oops", 1, "unterminated /*! comment"},
		{"", 0, ""},
	}
	for _, tt := range tests {
		got, err := countPlaceholders(tt.query)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("countPlaceholders(%q) error = %v, want %q", tt.query, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("countPlaceholders(%q) = %d, %v; want %d", tt.query, got, err, tt.want)
		}
	}
}

// FuzzCountPlaceholders checks that the scanner never panics and never
// counts more markers than there are question marks.
func FuzzCountPlaceholders(f *testing.F) {
	for _, seed := range []string{
		"SELECT * FROM users WHERE email = ?", "SELECT '?''?' -- ?\n?", "/*!?*/", "/*M!1", "`?``", `'\`,
		"SELECT a FROM t WHERE a = 1--?", "#?\n?",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, q string) {
		n, _ := countPlaceholders(q)
		if n < 0 || n > strings.Count(q, "?") {
			t.Fatalf("countPlaceholders(%q) = %d with %d question marks", q, n, strings.Count(q, "?"))
		}
	})
}

func TestValidateConfig(t *testing.T) {
	const user = "SELECT id AS user_id, password_hash FROM users WHERE email = ?"
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"minimal", Config{UserQuery: user}, ""},
		{"full", Config{
			UserQuery:         user,
			RolesQuery:        "SELECT name FROM roles WHERE user_id = ?",
			PermissionsQuery:  "SELECT name FROM perms WHERE user_id = ?",
			OrganizationQuery: "SELECT id AS org_id FROM m WHERE user_id = ? AND org_id = ?",
			RehashQuery:       "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
			UserIDQuery:       "SELECT id AS user_id, password_hash FROM users WHERE id = ?",
			NameCollation:     "utf8mb4_unicode_ci",
			Timeout:           time.Second,
		}, ""},
		{"no user_query", Config{}, "user_query is required"},
		{"blank user_query", Config{UserQuery: "  \n"}, "user_query is required"},
		{"user_query without placeholder", Config{UserQuery: "SELECT 1"},
			"user_query must have exactly one '?' placeholder, found 0"},
		{"user_query with two", Config{UserQuery: "SELECT * FROM u WHERE a = ? OR b = ?"},
			"user_query must have exactly one '?' placeholder, found 2"},
		{"quoted marker does not count", Config{UserQuery: "SELECT * FROM u WHERE a = '?'"},
			"user_query must have exactly one '?' placeholder, found 0"},
		{"unterminated", Config{UserQuery: "SELECT * FROM u WHERE a = ? AND b = 'x"},
			"user_query: unterminated ' quote"},
		{"roles", Config{UserQuery: user, RolesQuery: "SELECT name FROM roles"},
			"roles_query must have exactly one '?' placeholder, found 0"},
		{"permissions", Config{UserQuery: user, PermissionsQuery: "SELECT name FROM p WHERE a = ? AND b = ?"},
			"permissions_query must have exactly one '?' placeholder, found 2"},
		{"organization", Config{UserQuery: user, OrganizationQuery: "SELECT id AS org_id FROM m WHERE user_id = ?"},
			"organization_query must have exactly two '?' placeholders, found 1"},
		{"rehash", Config{UserQuery: user, RehashQuery: "UPDATE users SET password_hash = ? WHERE id = 1"},
			"rehash_query must have exactly three '?' placeholders, found 1"},
		// The form rehash_query had before: it would overwrite a password
		// changed after the login verified the old one.
		{"rehash without the verified hash", Config{UserQuery: user, RehashQuery: "UPDATE users SET password_hash = ? WHERE id = ?"},
			"rehash_query must have exactly three '?' placeholders, found 2"},
		{"rehash with a quoted marker", Config{UserQuery: user,
			RehashQuery: "UPDATE users SET password_hash = ? WHERE id = ? /* AND password_hash = ? */ AND note <> '?'"},
			"rehash_query must have exactly three '?' placeholders, found 2"},
		{"user_id_query", Config{UserQuery: user, UserIDQuery: "SELECT id AS user_id, password_hash FROM users"},
			"user_id_query must have exactly one '?' placeholder, found 0"},
		{"name collation", Config{UserQuery: user, NameCollation: "utf8mb4_bin COLLATE x"},
			`name collation "utf8mb4_bin COLLATE x" is not a collation name (letters, digits and _ only)`},
		{"negative timeout", Config{UserQuery: user, Timeout: -time.Second},
			"timeout must not be negative, got -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateConfig(tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ValidateConfig: %v", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Fatalf("ValidateConfig error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
