package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/claimgate/claimgate/demo/demodb"
)

func databaseExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	err := db.QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", name).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestNewDatabase(t *testing.T) {
	// Keeps the (embedded) server up after the subtest, to look for the
	// dropped database.
	db := Open(t, NewDatabase(t))

	var dsn string
	t.Run("inner", func(t *testing.T) {
		dsn = NewDatabase(t)
		other := NewDatabase(t)
		if dsn == other {
			t.Fatalf("two databases with one DSN %q", dsn)
		}
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatalf("DSN %q: %v", dsn, err)
		}
		if !strings.HasPrefix(cfg.DBName, Prefix) || cfg.ParseTime || cfg.MultiStatements {
			t.Errorf("DSN %q: want a %s database, parseTime and multiStatements off", dsn, Prefix)
		}
		if os.Getenv(EnvDSN) == "" && strings.Contains(dsn, "?") {
			t.Errorf("DSN %q has options", dsn)
		}
		inner := Open(t, dsn)
		var tables int
		if err := inner.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("new database has %d tables", tables)
		}
		if !databaseExists(t, db, cfg.DBName) {
			t.Errorf("database %s not found", cfg.DBName)
		}
	})
	cfg, _ := mysql.ParseDSN(dsn)
	if databaseExists(t, db, cfg.DBName) {
		t.Errorf("database %s survived its test", cfg.DBName)
	}
}

func TestNewDemoDatabase(t *testing.T) {
	db := Open(t, NewDemoDatabase(t))
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(demodb.DemoUsers) {
		t.Fatalf("users = %d, want %d", n, len(demodb.DemoUsers))
	}
}

// Parallel tests get their own databases: the same writes do not collide.
func TestParallel(t *testing.T) {
	for i := range 4 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			db := Open(t, NewDemoDatabase(t))
			if _, err := db.Exec("INSERT INTO users (email, password_hash) VALUES ('new@example.test', 'x')"); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.QueryRow("SELECT COUNT(*) FROM users").Scan(&n); err != nil || n != len(demodb.DemoUsers)+1 {
				t.Errorf("users = %d (%v), want %d", n, err, len(demodb.DemoUsers)+1)
			}
		})
	}
}

// The variable's database name is replaced and its options kept.
func TestEnvDSN(t *testing.T) {
	base := os.Getenv(EnvDSN)
	if base == "" {
		var err error
		if base, err = demodb.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { demodb.Release() })
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = "not_this_one"
	cfg.Params = map[string]string{"sql_mode": "'ANSI_QUOTES'"}
	t.Setenv(EnvDSN, cfg.FormatDSN())

	dsn := NewDatabase(t)
	got, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.DBName, Prefix) || got.Params["sql_mode"] != "'ANSI_QUOTES'" {
		t.Errorf("DSN %q: want a %s database and the variable's sql_mode", dsn, Prefix)
	}
	var mode string
	if err := Open(t, dsn).QueryRowContext(context.Background(), "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mode, "ANSI_QUOTES") {
		t.Errorf("sql_mode = %q: the variable's options were not applied", mode)
	}
}

func TestBadEnvDSN(t *testing.T) {
	t.Setenv(EnvDSN, "not a dsn")
	ft := &fakeTB{TB: t}
	func() {
		defer func() { recover() }() // Fatalf below stops the goroutine via panic
		NewDatabase(ft)
	}()
	if !strings.Contains(ft.msg, EnvDSN) {
		t.Errorf("error %q does not name %s", ft.msg, EnvDSN)
	}
}

// fakeTB records Fatalf instead of failing the real test.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f.msg)
}
