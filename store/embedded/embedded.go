// Package embedded runs an in-process MySQL-compatible server (go-mysql-server)
// on a loopback port, seeded with claimgate's demo schema and users. It is for
// trying claimgate out and for tests; never for production data.
package embedded

import "errors"

// DatabaseName is the demo database's name.
const DatabaseName = "claimgate_demo"

// Start starts (once per process; later calls share it, counted) the embedded
// server and returns a go-sql-driver DSN for the seeded demo database.
// Release must be called once per Start.
func Start() (dsn string, err error) { return "", errors.New("embedded.Start: pending") }

// Release drops one use of the server; the last one stops it.
func Release() error { return nil }

// DemoStatements returns the SQL statements (one per element, no trailing
// semicolon) that create and fill the demo tables in the current database.
// They run on MariaDB/MySQL as well as on the embedded server, so tests can
// seed either.
func DemoStatements() []string { return nil }
