package demodb

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/sirupsen/logrus"
)

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func countUsers(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		t.Fatalf("counting users: %v", err)
	}
	return n
}

func TestStartReleaseSharesOneServer(t *testing.T) {
	dsn1, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	dsn2, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	if dsn1 != dsn2 {
		t.Errorf("second Start returned %q, want the first's %q", dsn2, dsn1)
	}
	cfg, err := mysql.ParseDSN(dsn1)
	if err != nil {
		t.Fatalf("DSN %q does not parse: %v", dsn1, err)
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host != "127.0.0.1" || cfg.Net != "tcp" {
		t.Errorf("DSN %q: want tcp on 127.0.0.1", dsn1)
	}
	if cfg.User != "root" || cfg.Passwd != "" || cfg.DBName != DatabaseName {
		t.Errorf("DSN %q: want root without password on %s", dsn1, DatabaseName)
	}

	db := open(t, dsn1)
	if n := countUsers(t, db); n != len(DemoUsers) {
		t.Errorf("users = %d, want %d", n, len(DemoUsers))
	}
	if _, err := db.Exec("INSERT INTO roles (name) VALUES ('temporary')"); err != nil {
		t.Fatal(err)
	}
	if err := Release(); err != nil {
		t.Fatal(err)
	}
	// One use left: still serving.
	if n := countUsers(t, db); n != len(DemoUsers) {
		t.Errorf("after one Release: users = %d, want %d", n, len(DemoUsers))
	}
	db.Close()
	if err := Release(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", cfg.Addr); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the last Release", cfg.Addr)
	}
	if err := Release(); err == nil {
		t.Error("Release without Start succeeded")
	}

	// A new Start seeds a fresh database: the row added above is gone.
	dsn3, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Release() }) // after the pools opened below are closed
	var n int
	if err := open(t, dsn3).QueryRow("SELECT COUNT(*) FROM roles WHERE name = 'temporary'").Scan(&n); err != nil || n != 0 {
		t.Errorf("restarted server: temporary roles = %d (%v), want 0", n, err)
	}
}

func TestOnlyRootWithoutPassword(t *testing.T) {
	dsn, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Release() }) // after the pools opened below are closed
	for _, tc := range []struct{ user, pass string }{
		{"root", "secret"},
		{"alice", ""},
		{"", ""},
	} {
		cfg, _ := mysql.ParseDSN(dsn)
		cfg.User, cfg.Passwd = tc.user, tc.pass
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(conn)
		err = db.Ping()
		db.Close()
		// A wrong password gets 1045; an unknown user 2012 (no
		// authentication method): refused either way.
		var myErr *mysql.MySQLError
		if !errors.As(err, &myErr) {
			t.Errorf("user %q password %q: got %v, want a refusal from the server", tc.user, tc.pass, err)
		}
	}
}

// A failing query is the client's business: the server must not log it, nor
// connections coming and going, and it must leave logrus's standard logger
// as it found it.
func TestQuietLogging(t *testing.T) {
	var buf bytes.Buffer
	std := logrus.StandardLogger()
	out, level := std.Out, std.GetLevel()
	logrus.SetOutput(&buf)
	logrus.SetLevel(logrus.TraceLevel)
	defer func() {
		logrus.SetOutput(out)
		logrus.SetLevel(level)
	}()
	var own bytes.Buffer
	serverLog.SetOutput(&own)
	defer serverLog.SetOutput(os.Stderr)

	dsn, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	db := open(t, dsn)
	if _, err := db.Exec("INSERT INTO users (id, email, password_hash) VALUES (1, 'dup@example.test', 'x')"); err == nil {
		t.Error("duplicate primary key accepted")
	}
	if _, err := db.Query("SELECT nope FROM nowhere"); err == nil {
		t.Error("query on a missing table succeeded")
	}
	db.Close()
	if err := Release(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 0 {
		t.Errorf("server logged on logrus's standard logger:\n%s", buf.String())
	}
	if own.Len() > 0 {
		t.Errorf("server logged:\n%s", own.String())
	}
	if got := std.GetLevel(); got != logrus.TraceLevel {
		t.Errorf("logrus's standard level = %v, want it left at trace", got)
	}
}

// quietHandler redoes two methods of go-mysql-server's handler; an upgrade
// must compare them with the new server/handler.go and then bump gmsVersion.
func TestQuietHandlerMatchesGMS(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command(goTool, "list", "-m", "-f",
		"{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}",
		"github.com/dolthub/go-mysql-server").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	if v := strings.TrimSpace(string(out)); v != gmsVersion {
		t.Errorf("go-mysql-server is %s; quietHandler mirrors %s's Handler.NewConnection and "+
			"Handler.ConnectionClosed: compare them with server/handler.go, then update gmsVersion", v, gmsVersion)
	}
}

// A transaction abandoned by a client that disconnects must not block
// everyone else until the lock-wait timeout.
func TestClosedConnectionReleasesLock(t *testing.T) {
	dsn, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Release() }) // after the pools opened below are closed
	ctx := context.Background()

	a := open(t, dsn)
	a.SetMaxIdleConns(0) // so that Conn.Close really hangs up
	conn, err := a.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"BEGIN", "UPDATE roles SET name = 'changed' WHERE id = 1"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close()

	ctx, cancel := context.WithTimeout(ctx, lockWaitTimeout/2)
	defer cancel()
	var name string
	if err := open(t, dsn).QueryRowContext(ctx, "SELECT name FROM roles WHERE id = 1").Scan(&name); err != nil {
		t.Fatalf("after the holder hung up: %v", err)
	}
	if name != "admin" {
		t.Errorf("uncommitted update survived the disconnect: name = %q", name)
	}
}

func TestLockWaitTimeoutError(t *testing.T) {
	h := newSerialHandler(nil)
	h.lock <- struct{}{} // held by someone else
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.acquire(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("acquire with a cancelled context = %v", err)
	}
}

func TestDemoStatementsShape(t *testing.T) {
	for _, s := range DemoStatements() {
		if strings.HasSuffix(strings.TrimSpace(s), ";") {
			t.Errorf("statement ends with a semicolon: %.40q", s)
		}
		if strings.Contains(s, `\`) {
			t.Errorf("statement contains a backslash (quote() does not escape them): %.40q", s)
		}
	}
}

func BenchmarkStartRelease(b *testing.B) {
	for b.Loop() {
		if _, err := Start(); err != nil {
			b.Fatal(err)
		}
		if err := Release(); err != nil {
			b.Fatal(err)
		}
	}
}

// Keep the time import honest if lockWaitTimeout changes type.
var _ time.Duration = lockWaitTimeout
