package store

import (
	"database/sql"
	"fmt"
	"runtime"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Pool settings. claimgate's queries are short point lookups, so a pool is
// sized for concurrency, not throughput of long queries.
const (
	// connMaxLifetime recycles connections before the usual network idle
	// cutoffs (load balancers, ProxySQL, NAT tables: often 5 min or more)
	// and well before MySQL's wait_timeout, as go-sql-driver's README
	// recommends. Each new connection re-prepares our few statements once.
	connMaxLifetime = 3 * time.Minute
	// connMaxIdleTime closes connections left over from a burst.
	connMaxIdleTime = time.Minute
	// defaultDialTimeout bounds a TCP connect when the DSN sets no
	// `timeout`. Queries carry their own (shorter) context deadline; this is
	// the backstop for callers without one.
	defaultDialTimeout = 5 * time.Second
	// defaultIOTimeout bounds one read or write on a connection when the DSN
	// sets no readTimeout/writeTimeout, so a half-open TCP connection cannot
	// hang a caller that has no deadline. Generous: DDL run at start-up
	// (manage_schema) may wait for metadata locks.
	defaultIOTimeout = 30 * time.Second
)

// ValidateDSN checks that dsn parses as a go-sql-driver DSN. It does not
// contact the server.
func ValidateDSN(dsn string) error {
	_, err := parseDSN(dsn)
	return err
}

// parseDSN parses dsn and applies claimgate's connection settings.
//
// Decisions:
//   - No global driver registry: mysql.NewConnector + sql.OpenDB.
//   - multiStatements is forced off. claimgate never sends two statements in
//     one query, and it would turn any injection into stacked queries.
//   - interpolateParams and parseTime are left as the DSN says. Store runs
//     every query through a cached prepared statement (one round trip per
//     query once a connection has it, with parameters bound by the server),
//     so interpolation would not save a round trip, and values of any
//     parseTime setting are converted by Store.
//   - timeout/readTimeout/writeTimeout get defaults when unset (see the
//     constants above).
func parseDSN(dsn string) (*mysql.Config, error) {
	if dsn == "" {
		return nil, fmt.Errorf("dsn is required")
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		// The driver's messages never echo the password.
		return nil, fmt.Errorf("parsing dsn: %w", err)
	}
	cfg.MultiStatements = false
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultDialTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = defaultIOTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = defaultIOTimeout
	}
	return cfg, nil
}

// maxOpenConns sizes the pool. A login uses one connection for user_query,
// then up to three at once (roles, permissions, organization) plus the state
// tables; password hashing, which dominates a login, is capped at the CPU
// count. Four connections per CPU keep logins from queueing on the pool while
// bounding what several claimgate instances take from the customer's
// max_connections (151 by default).
func maxOpenConns() int {
	return min(max(4*runtime.GOMAXPROCS(0), 8), 64)
}

// NewDB returns a *sql.DB for dsn, configured for claimgate's short point
// lookups. It does not contact the server. The app shares one per DSN
// across config reloads (a caddy.UsagePool); this package stays free of
// Caddy.
func NewDB(dsn string) (*sql.DB, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("configuring mysql connector: %w", err)
	}
	db := sql.OpenDB(connector)
	n := maxOpenConns()
	db.SetMaxOpenConns(n)
	// Keep every connection idle-able: reconnecting costs a TCP and an auth
	// handshake plus re-preparing statements, several round trips on the
	// login path. connMaxIdleTime trims them after a burst.
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(connMaxLifetime)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	return db, nil
}
