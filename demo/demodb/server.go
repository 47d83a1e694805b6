package demodb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	vmysql "github.com/dolthub/vitess/go/mysql"
	"github.com/go-sql-driver/mysql"
	"github.com/sirupsen/logrus"
)

// DatabaseName is the demo database's name.
const DatabaseName = "claimgate_demo"

// User is the only account the embedded server accepts; it has no password.
const User = "root"

// servers holds the one running server under serverKey, counted: the first
// Start constructs it, the Release that drops the last use destructs it.
var servers = caddy.NewUsagePool()

const serverKey = "embedded"

// instance is one running server.
type instance struct {
	srv    *server.Server
	engine *sqle.Engine
	ln     *trackingListener
	dsn    string
	done   chan struct{} // closed when the accept loop has returned
}

// Destruct stops the server; the usage pool calls it on the last Release.
func (inst *instance) Destruct() error { return inst.stop() }

// Start starts (once per process; later calls share it, counted) the embedded
// server and returns a go-sql-driver DSN for the seeded demo database.
// Release must be called once per successful Start.
func Start() (dsn string, err error) {
	v, _, err := servers.LoadOrNew(serverKey, func() (caddy.Destructor, error) { return start() })
	if err != nil {
		return "", fmt.Errorf("starting embedded MySQL server: %w", err)
	}
	return v.(*instance).dsn, nil
}

// Release drops one use of the server; the last one stops it, and the next
// Start starts (and seeds) a new one.
func Release() error {
	if _, ok := servers.References(serverKey); !ok {
		return errors.New("demodb.Release called without a matching Start")
	}
	_, err := servers.Delete(serverKey)
	return err
}

// Open is Start returning a release function that calls Release (once,
// however often it is called). It is the opener package demo registers as
// `dsn embedded`.
func Open() (dsn string, release func() error, err error) {
	dsn, err = Start()
	if err != nil {
		return "", nil, err
	}
	return dsn, sync.OnceValue(Release), nil
}

func start() (*instance, error) {
	db := memory.NewDatabase(DatabaseName)
	// Without this the memory tables have no primary-key index, and a
	// FOREIGN KEY (which needs one on the referenced table) fails to create.
	db.BaseDatabase.EnablePrimaryKeyIndexes()
	pro := memory.NewDBProvider(db)
	// Same for databases created later (CREATE DATABASE, as storetest does).
	pro.WithOption(memory.NativeIndexProvider(true))
	engine := sqle.NewDefault(pro)
	// Seed before any account exists: once one does, privileges are
	// checked, and this internal session has no user.
	if err := seed(engine, pro); err != nil {
		engine.Close()
		return nil, fmt.Errorf("seeding %s: %w", DatabaseName, err)
	}
	// Only root@localhost without a password may connect (with no account
	// at all, any user name and password would be accepted).
	engine.Analyzer.Catalog.MySQLDb.AddRootAccount()

	// Listen ourselves on an OS-chosen loopback port: no race between picking
	// a free port and binding it, and never a non-loopback interface.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		engine.Close()
		return nil, err
	}
	ln := &trackingListener{Listener: l, conns: make(map[net.Conn]struct{})}
	var quiet *quietHandler
	srv, err := server.NewServerWithHandler(server.Config{Protocol: "tcp", Listener: ln}, engine,
		sql.NewContext, quietSessions(memory.NewSessionBuilder(pro)), nil,
		func(h vmysql.Handler) (vmysql.Handler, error) {
			quiet = &quietHandler{Handler: h, engine: engine}
			return newSerialHandler(quiet), nil
		})
	if err != nil {
		ln.Close()
		engine.Close()
		return nil, err
	}
	quiet.sessions = srv.SessionManager() // before the first connection
	inst := &instance{srv: srv, engine: engine, ln: ln, done: make(chan struct{})}
	go func() {
		defer close(inst.done)
		// Not srv.Start: it only adds log lines (server ready, a
		// secure_file_priv warning) on the global logrus logger.
		srv.Listener.Accept() // returns when the listener is closed
	}()

	cfg := mysql.NewConfig()
	cfg.User = User
	cfg.Net = "tcp"
	cfg.Addr = l.Addr().String()
	cfg.DBName = DatabaseName
	inst.dsn = cfg.FormatDSN()
	return inst, nil
}

// seed creates and fills the demo tables straight through the engine (no
// network round trips), so Start stays fast.
func seed(engine *sqle.Engine, pro *memory.DbProvider) error {
	ctx := newContext(pro)
	for _, stmt := range DemoStatements() {
		if err := execSeed(ctx, engine, stmt); err != nil {
			return err
		}
	}
	return nil
}

func newContext(pro *memory.DbProvider) *sql.Context {
	session := memory.NewSession(sql.NewBaseSession(), pro)
	session.SetLogger(logrus.NewEntry(serverLog))
	ctx := sql.NewContext(context.Background(), sql.WithSession(session))
	ctx.SetCurrentDatabase(DatabaseName)
	return ctx
}

func execSeed(ctx *sql.Context, engine *sqle.Engine, stmt string) error {
	_, iter, _, err := engine.Query(ctx, stmt)
	if err != nil {
		return fmt.Errorf("%.60s: %w", stmt, err)
	}
	// Rows must be drained for the statement to take effect.
	if _, err := sql.RowIterToRows(ctx, iter); err != nil {
		return fmt.Errorf("%.60s: %w", stmt, err)
	}
	return nil
}

func (inst *instance) stop() error {
	// Server.Close only stops accepting; also drop open client connections
	// so that nothing keeps talking to a stopped engine. Clients that have
	// just hung up get a moment to be noticed first: closing their
	// connection under the server's reader would log a spurious error.
	// Not srv.Close, which logs on the global logrus logger.
	inst.srv.Listener.Close()
	inst.ln.closeConns(time.Second)
	<-inst.done
	// Engine.Close reports the cancellation of its own background context.
	if err := inst.engine.Close(); !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// trackingListener remembers accepted connections so stop can close them.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns == nil { // already stopped
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *trackingListener) closeConns(grace time.Duration) {
	for deadline := time.Now().Add(grace); time.Now().Before(deadline); {
		l.mu.Lock()
		n := len(l.conns)
		l.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	l.mu.Lock()
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	for c := range conns {
		c.(*trackedConn).Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
