// Package demo is claimgate's demo database: an in-process MySQL-compatible
// server (go-mysql-server) on a loopback port, seeded with a demo schema and
// users, for trying claimgate out and for tests; never for production data.
//
// Importing it makes `dsn embedded` open that server: its init function
// registers the name with store.RegisterNamedDSN, and go-mysql-server's
// collation weights (it has no WEIGHT_STRING) with
// store.RegisterCollationWeights. The claimgate command and the tests import
// it; the root claimgate package, which `xcaddy build --with
// github.com/claimgate/claimgate` compiles in, does not, so a production
// build carries neither go-mysql-server nor `dsn embedded`
// (TestProductionBuildHasNoDemoDatabase checks).
//
// The database itself is package demodb; this package adds the registration
// and gives its API under the demo name. Store's own tests and
// store/storetest use demodb directly, because this package imports store.
package demo

import (
	"github.com/claimgate/claimgate/demo/demodb"
	"github.com/claimgate/claimgate/store"
)

// DSNName is the `dsn` value that opens the demo database.
const DSNName = "embedded"

func init() {
	store.RegisterNamedDSN(DSNName, demodb.Open)
	store.RegisterCollationWeights(demodb.CollationWeights)
}

// DatabaseName is the demo database's name.
const DatabaseName = demodb.DatabaseName

// User is the only account the demo server accepts; it has no password.
const User = demodb.User

// Queries that fit the demo schema, as a Caddyfile's database block would
// configure them.
const (
	DemoUserQuery         = demodb.DemoUserQuery
	DemoRolesQuery        = demodb.DemoRolesQuery
	DemoPermissionsQuery  = demodb.DemoPermissionsQuery
	DemoOrganizationQuery = demodb.DemoOrganizationQuery
	DemoRehashQuery       = demodb.DemoRehashQuery
)

// DemoUser is one seeded user, with its clear-text password; see
// demodb.DemoUser for the list.
type DemoUser = demodb.DemoUser

var (
	// DemoUsers are the seeded users, in id order.
	DemoUsers = demodb.DemoUsers
	// DemoOrganizations maps the organization ids to their names.
	DemoOrganizations = demodb.DemoOrganizations
)

// DemoStatements returns the statements that create and fill the demo
// tables in the current database.
func DemoStatements() []string { return demodb.DemoStatements() }

// Start starts the demo server, or shares the running one, and returns a
// go-sql-driver DSN for the seeded demo database. Release must be called
// once per successful Start; the last Release stops the server.
func Start() (dsn string, err error) { return demodb.Start() }

// Release drops one use of the server started by Start.
func Release() error { return demodb.Release() }

// Open is Start with a release function: what `dsn embedded` calls.
func Open() (dsn string, release func() error, err error) { return demodb.Open() }
