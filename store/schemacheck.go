package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// A query that does not fit the customer's schema (a missing table or
// column, a syntax error, a missing user_id alias) fails every login the
// same way, forever: that is a configuration mistake, not an outage, and
// must not be answered like one (503 and "retry later"). Check finds such
// mistakes without changing anything, the app runs it at start and each time
// the database comes back, and the Store remembers the outcome (Status) so
// that health probes read it without a round trip and logins refuse at once
// with ErrMisconfigured while it lasts.

// ErrMisconfigured means a configured query cannot work against the
// database's schema. Logins answer 500 for it, not the 503 of an outage.
// Errors wrapping it are *QueryError.
var ErrMisconfigured = errors.New("user store misconfigured")

// Status is what the Store last learnt of its database.
type Status int32

// The statuses, in the order a fresh Store goes through them.
const (
	// StatusUnknown: not checked yet. Reported as unavailable: a load
	// balancer must not send logins to an instance that has not reached
	// its database yet.
	StatusUnknown Status = iota
	// StatusOK: the database answered and every query fits its schema.
	StatusOK
	// StatusUnavailable: the database could not be reached.
	StatusUnavailable
	// StatusMisconfigured: the database answered, and a query does not fit.
	StatusMisconfigured
)

// String is the status as /health reports it: ok, unavailable or
// misconfigured.
func (st Status) String() string {
	switch st {
	case StatusOK:
		return "ok"
	case StatusMisconfigured:
		return "misconfigured"
	default:
		return "unavailable"
	}
}

// healthState is one immutable snapshot, so that a status and its problem
// are always read together.
type healthState struct {
	status  Status
	problem error // set with StatusMisconfigured
}

// Status returns what the Store last learnt of its database: from Check,
// Ping, or the outcome of a query. It is one atomic load.
func (s *Store) Status() Status {
	if h := s.health.Load(); h != nil {
		return h.status
	}
	return StatusUnknown
}

// ConfigError returns the configuration problems found by the last Check
// (or by a query since), wrapping ErrMisconfigured; nil unless the Status is
// StatusMisconfigured.
func (s *Store) ConfigError() error {
	if h := s.health.Load(); h != nil && h.status == StatusMisconfigured {
		return h.problem
	}
	return nil
}

func (s *Store) setHealth(st Status, problem error) {
	s.health.Store(&healthState{status: st, problem: problem})
}

// QueryError is a configured query that does not fit the database: the
// server refused it (no such table, unknown column, syntax), or it lacks a
// column claimgate needs. Its text names the directive and says what to
// fix; it holds no data from any row.
type QueryError struct {
	// Directive is the Caddyfile directive of the query (user_query…).
	Directive string
	// Column is the column at fault, when that is the problem: a required
	// one the query does not return, or one it returns twice.
	Column string
	// Err is the server's error, when it refused the query.
	Err error
	msg string
}

func (e *QueryError) Error() string { return e.msg }

// Unwrap lets errors.Is find ErrMisconfigured and the server's error.
func (e *QueryError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrMisconfigured}
	}
	return []error{ErrMisconfigured, e.Err}
}

// missingColumn reports a required column the query does not return.
func missingColumn(directive, column, hint string) *QueryError {
	return &QueryError{Directive: directive, Column: column,
		msg: fmt.Sprintf("%s returns no %s column; alias it, e.g. %q", directive, column, hint)}
}

// refused reports a query the server refused.
func refused(directive string, me *mysql.MySQLError) *QueryError {
	return &QueryError{Directive: directive, Err: me,
		msg: fmt.Sprintf("%s is refused by the database: %s (MySQL error %d)", directive, me.Message, me.Number)}
}

// configErrorCodes are the server errors that mean the statement does not
// fit the schema or the account, whatever the database's load: retrying
// cannot help. They are recognised on every query; during Check any refusal
// of the server counts (see transientErrorCodes), because the embedded
// server answers most of these as the generic 1105.
var configErrorCodes = map[uint16]bool{
	1046: true, // ER_NO_DB_ERROR: the DSN names no database
	1052: true, // ER_NON_UNIQ_ERROR: ambiguous column
	1054: true, // ER_BAD_FIELD_ERROR: unknown column
	1064: true, // ER_PARSE_ERROR: syntax
	1142: true, // ER_TABLEACCESS_DENIED_ERROR: the account may not read the table
	1143: true, // ER_COLUMNACCESS_DENIED_ERROR
	1146: true, // ER_NO_SUCH_TABLE
	1149: true, // ER_SYNTAX_ERROR
	1305: true, // ER_SP_DOES_NOT_EXIST: unknown function or procedure
	1356: true, // ER_VIEW_INVALID: a view over a missing table or column
}

// transientErrorCodes are server errors of a statement that may well work
// the next time (load, locks, a server going down): an outage, not a
// misconfiguration, even during Check.
var transientErrorCodes = map[uint16]bool{
	1040: true, // ER_CON_COUNT_ERROR: too many connections
	1053: true, // ER_SERVER_SHUTDOWN
	1203: true, // ER_TOO_MANY_USER_CONNECTIONS
	1205: true, // ER_LOCK_WAIT_TIMEOUT
	1213: true, // ER_LOCK_DEADLOCK
	1226: true, // ER_USER_LIMIT_REACHED
	1317: true, // ER_QUERY_INTERRUPTED
	1927: true, // MariaDB ER_CONNECTION_KILLED
	1969: true, // MariaDB ER_STATEMENT_TIMEOUT
	3024: true, // MySQL ER_QUERY_TIMEOUT
}

// configShaped returns the server error when err is one of
// configErrorCodes.
func configShaped(err error) (*mysql.MySQLError, bool) {
	var me *mysql.MySQLError
	if errors.As(err, &me) && configErrorCodes[me.Number] {
		return me, true
	}
	return nil, false
}

// connectionFailure reports an error of the connection itself (refused,
// reset, dial timeout), as opposed to a statement the server answered or a
// deadline of the caller's: only those say the database is down. A query
// that merely timed out says nothing certain (the server may be slow), and
// the periodic Ping decides.
func connectionFailure(err error) bool {
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.As(err, &ne)
}

// queryFailed maps the failure of a configured query to its error, and
// records what it says of the database: a configuration-shaped refusal makes
// the Store misconfigured (logins then refuse at once, until a Check finds
// the query fixed), a broken connection makes it unavailable.
func (s *Store) queryFailed(directive string, err error) error {
	err = unavailable(directive, err)
	var qe *QueryError
	switch {
	case errors.As(err, &qe):
		s.setHealth(StatusMisconfigured, qe)
	case connectionFailure(err):
		s.setHealth(StatusUnavailable, nil)
	}
	return err
}

// checkUserColumns reports a user_query (or user_id_query) result without
// the columns every login needs, or with one twice, as buildUser would
// refuse it; nil when the columns are fine.
func checkUserColumns(directive string, cols []string) *QueryError {
	seen := make(map[string]bool, len(cols))
	for _, name := range cols {
		key := strings.ToLower(name)
		if !recognisedColumns[key] {
			key = name
		}
		if seen[key] {
			return &QueryError{Directive: directive, Column: name,
				msg: fmt.Sprintf("%s returns the column %q twice; alias one of them", directive, name)}
		}
		seen[key] = true
	}
	switch {
	case !seen["user_id"]:
		return missingColumn(directive, "user_id", "id AS user_id")
	case !seen["password_hash"]:
		return missingColumn(directive, "password_hash", "password AS password_hash")
	}
	return nil
}

// requireUserColumns is checkUserColumns on a result about to be read, so
// that a query without password_hash is a configuration error even for a
// username that matches nothing (not a wrong-password answer).
func (s *Store) requireUserColumns(directive string, rows *sql.Rows) error {
	cols, err := rows.Columns()
	if err != nil {
		return unavailable(directive, err)
	}
	if qe := checkUserColumns(directive, cols); qe != nil {
		s.setHealth(StatusMisconfigured, qe)
		return qe
	}
	return nil
}

// checkColumns checks the columns a configured SELECT returns.
func checkColumns(directive string, cols []string) *QueryError {
	switch directive {
	case "user_query", "user_id_query":
		return checkUserColumns(directive, cols)
	case "organization_query":
		if columnIndex(cols, "org_id") < 0 {
			return missingColumn(directive, "org_id", "o.id AS org_id")
		}
	default: // roles_query, permissions_query: the first column is the name
		if len(cols) == 0 {
			return &QueryError{Directive: directive,
				msg: directive + " returns no column; it must SELECT one name per row"}
		}
	}
	return nil
}

// Ping checks that the database answers, within the query timeout. A
// failure makes the Store unavailable and wraps ErrUnavailable; success
// changes nothing (only Check may say the queries fit).
func (s *Store) Ping(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.db.PingContext(pctx); err != nil {
		if ctx.Err() == nil {
			// Not the caller going away: the database did not answer in
			// time, or refused.
			s.setHealth(StatusUnavailable, nil)
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Check runs every configured query against the real schema without
// changing anything, and sets the Status from the outcome. The SELECT
// queries run in a read-only transaction that is rolled back, with NULL
// parameters (which match no row in a `col = ?` comparison), and only their
// column names are read: rows.Columns works on an empty result, so a
// missing table, a missing column or a syntax error shows whatever the
// data. rehash_query, which writes, is only prepared: the server resolves
// its table and columns then, without running it.
//
// It returns the problems found (each a *QueryError, wrapping
// ErrMisconfigured), or an error wrapping ErrUnavailable when the database
// could not be asked (the Status is then unavailable).
func (s *Store) Check(ctx context.Context) ([]*QueryError, error) {
	if err := s.Ping(ctx); err != nil {
		return nil, err
	}
	var problems []*QueryError
	columns := make(map[*lazyStmt][]string, 2)
	for _, l := range []*lazyStmt{s.user, s.userByID, s.roles, s.permissions, s.organization, s.rehash} {
		if l == nil {
			continue
		}
		var err error
		if l == s.rehash {
			err = s.checkPrepare(ctx, l)
		} else {
			columns[l], err = s.checkSelect(ctx, l)
		}
		var qe *QueryError
		switch {
		case errors.As(err, &qe):
			problems = append(problems, qe)
		case err != nil:
			if ctx.Err() == nil {
				s.setHealth(StatusUnavailable, nil)
			}
			return nil, fmt.Errorf("%w: checking %s: %w", ErrUnavailable, l.directive, err)
		}
	}
	if qe := sameUserColumns(columns[s.user], columns[s.userByID]); qe != nil {
		problems = append(problems, qe)
	}
	if len(problems) > 0 {
		errs := make([]error, len(problems))
		for i, p := range problems {
			errs[i] = p
		}
		s.setHealth(StatusMisconfigured, errors.Join(errs...))
	} else {
		s.setHealth(StatusOK, nil)
	}
	return problems, nil
}

// sameUserColumns reports a user_id_query that lacks a column user_query
// returns (nil when either query is absent or failed its own check): a
// refresh, a sign-in session, /userinfo and the management API read the
// user through user_id_query, so a column it lacks — blocked, say — would
// be missed there (a blocked user refreshing on, a PATCH writing NULL over
// a column it never read).
func sameUserColumns(byName, byID []string) *QueryError {
	if byName == nil || byID == nil {
		return nil
	}
	have := make(map[string]bool, len(byID))
	for _, c := range byID {
		have[strings.ToLower(c)] = true
	}
	var missing []string
	for _, c := range byName {
		if !have[strings.ToLower(c)] {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &QueryError{Directive: "user_id_query", Column: missing[0], msg: fmt.Sprintf(
		"user_id_query returns no %s column that user_query returns; both must return the same columns",
		strings.Join(missing, ", "))}
}

// checkSelect runs l (a SELECT) read-only, checks its columns and returns
// them.
func (s *Store) checkSelect(ctx context.Context, l *lazyStmt) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// Read-only and rolled back: even a query that is not a plain SELECT
	// (a procedure call, say) cannot change anything here.
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	n, err := countPlaceholders(l.query)
	if err != nil {
		return nil, &QueryError{Directive: l.directive, msg: fmt.Sprintf("%s: %v", l.directive, err)}
	}
	rows, err := tx.QueryContext(ctx, l.query, make([]any, n)...)
	if err != nil {
		return nil, checkFailure(l.directive, err)
	}
	cols, err := rows.Columns()
	// Close reads (and drops) whatever rows came back; none are looked at.
	_ = rows.Close()
	if err != nil {
		return nil, checkFailure(l.directive, err)
	}
	if qe := checkColumns(l.directive, cols); qe != nil {
		return nil, qe
	}
	return cols, nil
}

// checkPrepare prepares l (a statement that writes) without running it.
func (s *Store) checkPrepare(ctx context.Context, l *lazyStmt) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	stmt, err := s.db.PrepareContext(ctx, l.query)
	if err != nil {
		return checkFailure(l.directive, err)
	}
	return stmt.Close()
}

// checkFailure classifies an error met during Check: any refusal by the
// server other than a transient one is the query's fault (the server is
// there: Check pinged it first); anything else is an outage.
func checkFailure(directive string, err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && !transientErrorCodes[me.Number] {
		return refused(directive, me)
	}
	return err
}
