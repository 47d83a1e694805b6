// Package storetest gives tests a fresh MySQL database: on the server named
// by CLAIMGATE_TEST_MYSQL_DSN when it is set, else on the embedded server.
//
// The DSNs it returns are plain go-sql-driver DSNs built by
// mysql.Config.FormatDSN, e.g. `root@tcp(127.0.0.1:41234)/cgtest_1f0c9a7e5d3b2a10`:
// parseTime, multiStatements and the other options keep their defaults unless
// CLAIMGATE_TEST_MYSQL_DSN itself sets them.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/claimgate/claimgate/demo/demodb"
)

// EnvDSN names the environment variable with the test server's DSN (with or
// without a database name; it is replaced).
const EnvDSN = "CLAIMGATE_TEST_MYSQL_DSN"

// Prefix starts the name of every database NewDatabase creates.
const Prefix = "cgtest_"

// NewDatabase creates a uniquely named empty database, drops it when the test
// ends, and returns a DSN for it (with parseTime and multiStatements off).
func NewDatabase(t testing.TB) string {
	t.Helper()
	cfg := serverConfig(t)
	name := Prefix + randomHex(t, 8)

	admin := adminDB(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The name is ours (prefix + hex), so quoting it is enough.
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		admin.Close()
		t.Fatalf("storetest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("storetest: dropping database %s: %v", name, err)
		}
	})

	cfg.DBName = name
	return cfg.FormatDSN()
}

// NewDemoDatabase is NewDatabase seeded with the demo schema and users
// (demodb.DemoStatements; the users are demodb.DemoUsers).
func NewDemoDatabase(t testing.TB) string {
	t.Helper()
	dsn := NewDatabase(t)
	db := Open(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Exec(ctx, db, demodb.DemoStatements()...); err != nil {
		t.Fatalf("storetest: seeding demo data: %v", err)
	}
	return dsn
}

// Open opens dsn, checks the server answers, and closes the pool when the
// test ends.
func Open(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("storetest: opening %q: %v", dsn, err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("storetest: connecting to %q: %v", dsn, err)
	}
	return db
}

// Exec runs each statement in order, stopping at the first error.
func Exec(ctx context.Context, db *sql.DB, stmts ...string) error {
	// One connection for all: statements that depend on session state (the
	// current database, SET ...) see each other's effects.
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, stmt := range stmts {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%.60q: %w", stmt, err)
		}
	}
	return nil
}

// Embedded reports whether tests run on the embedded server (the variable
// is unset), for the rare test that must skip a feature it lacks.
func Embedded() bool { return os.Getenv(EnvDSN) == "" }

// serverConfig parses CLAIMGATE_TEST_MYSQL_DSN, or starts the embedded
// server (released when the test ends).
func serverConfig(t testing.TB) *mysql.Config {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		var release func() error
		var err error
		dsn, release, err = demodb.Open()
		if err != nil {
			t.Fatalf("storetest: %v", err)
		}
		// Registered before the DROP cleanup, so it runs after it (LIFO).
		t.Cleanup(func() {
			if err := release(); err != nil {
				t.Errorf("storetest: %v", err)
			}
		})
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("storetest: parsing %s: %v", EnvDSN, err)
	}
	cfg.DBName = ""
	return cfg
}

// adminDB connects without a current database, to create and drop one.
func adminDB(t testing.TB, cfg *mysql.Config) *sql.DB {
	t.Helper()
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxIdleConns(1)
	return db
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return hex.EncodeToString(b)
}
