// Package storetest gives tests a fresh MySQL database: on the server named
// by CLAIMGATE_TEST_MYSQL_DSN when it is set, else on the embedded server.
package storetest

import "testing"

// NewDatabase creates a uniquely named empty database, drops it when the test
// ends, and returns a DSN for it (with parseTime and multiStatements off).
func NewDatabase(t testing.TB) string { t.Fatal("storetest.NewDatabase: pending"); return "" }

// NewDemoDatabase is NewDatabase seeded with the demo schema and users.
func NewDemoDatabase(t testing.TB) string {
	t.Fatal("storetest.NewDemoDatabase: pending")
	return ""
}
