package testkit

import (
	"database/sql"
	"strings"
	"testing"
)

// ClaimgateTables lists the claimgate_ tables (claimgate's own state) of
// db's database, in lower case.
func ClaimgateTables(t testing.TB, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SHOW TABLES")
	if err != nil {
		t.Fatalf("SHOW TABLES: %v", err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		if name = strings.ToLower(name); strings.HasPrefix(name, "claimgate_") {
			tables = append(tables, name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return tables
}
