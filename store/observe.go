package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// QueryObserver is told how long each database query took, for the
// metrics; the store stays free of Prometheus. query is the configured
// query's name — the directive without "_query": user, user_id, roles,
// permissions, organization, rehash — or QueryState for claimgate's own
// tables. It is called for failed queries too, and must be cheap and safe
// for concurrent use.
type QueryObserver func(query string, took time.Duration)

// QueryState names the statements on claimgate's own tables (State).
const QueryState = "state"

// queryName is the name a configured query is observed under.
func queryName(directive string) string { return strings.TrimSuffix(directive, "_query") }

// observeSince reports a query of l that began at began.
func (s *Store) observeSince(l *lazyStmt, began time.Time) {
	if s.observe != nil {
		s.observe(queryName(l.directive), time.Since(began))
	}
}

// SetObserver makes every statement of s report its duration to observe.
// Call it before s is used: it is not synchronised with running
// statements.
func (s *State) SetObserver(observe QueryObserver) { s.db.observe = observe }

// observedDB is the State's pool: the statements State runs (Exec, Query,
// QueryRow) report their duration, every other method is the pool's own.
// Wrapping the pool, instead of timing each statement where it is written,
// keeps every statement observed, also those added later.
type observedDB struct {
	*sql.DB
	observe QueryObserver
}

func (d *observedDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	defer d.since(time.Now())
	return d.DB.ExecContext(ctx, query, args...)
}

func (d *observedDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	defer d.since(time.Now())
	return d.DB.QueryContext(ctx, query, args...)
}

// QueryRowContext reports the time to the first row: the server has run
// the statement by then, and Scan only reads what arrived.
func (d *observedDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	defer d.since(time.Now())
	return d.DB.QueryRowContext(ctx, query, args...)
}

func (d *observedDB) since(began time.Time) {
	if d.observe != nil {
		d.observe(QueryState, time.Since(began))
	}
}
