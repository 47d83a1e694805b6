// Package store reads users from the customer's own MySQL database with the
// queries configured in the Caddyfile, and keeps claimgate's own state in
// claimgate_ tables of that same database.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// Sentinel errors.
var (
	// ErrNotFound means user_query returned no row. It is also returned,
	// wrapped, for a row claimgate refuses to trust (user_query matched
	// several rows, user_id is NULL, app_metadata is not a JSON object), so
	// that such a login fails exactly like wrong credentials; the cause is
	// logged.
	ErrNotFound = errors.New("user not found")
	// ErrUnavailable wraps every database failure (connection refused,
	// timeout, bad query at run time). Logins answer 503 for it.
	ErrUnavailable = errors.New("user database unavailable")
	// ErrNotMember means an organization was asked for and
	// organization_query returned no row.
	ErrNotMember = errors.New("user is not a member of the organization")
	// ErrNoQuery means the method needs a query that is not configured
	// (FindUserByID without user_id_query, RehashPassword without
	// rehash_query). Callers check HasUserIDQuery/HasRehashQuery first.
	ErrNoQuery = errors.New("query not configured")
)

// DefaultTimeout bounds each query when Config.Timeout is zero.
const DefaultTimeout = 3 * time.Second

// Config holds the customer's queries. Every query is parameterised.
type Config struct {
	UserQuery         string // username in; at most one row
	RolesQuery        string // user_id in; one name per row; optional
	PermissionsQuery  string // user_id in; one name per row; optional
	OrganizationQuery string // user_id and organization in; org_id, org_name out; optional
	// RehashQuery takes the new hash, the user_id and the hash that was just
	// verified, in that order (`UPDATE users SET password_hash = ? WHERE id
	// = ? AND password_hash = ?`), so that it never overwrites a password
	// changed since the login read it; optional.
	RehashQuery string
	// UserIDQuery takes a user_id and returns the same columns as
	// user_query (at most one row); optional. See FindUserByID.
	UserIDQuery string
	// NameCollation is the collation under which user_query compares login
	// names (that of its login column), used to key failure counters of
	// names that match no user; see (*Store).LoginSubject. Empty: the
	// database's default collation (@@collation_database), which is what a
	// column gets unless its table or itself declares another. A Caddyfile
	// directive for it (e.g. `name_collation utf8mb4_unicode_ci`) lets an
	// operator name the column's own collation when it differs.
	NameCollation string
	Timeout       time.Duration
	// Observe, when set, is told the duration of every query (observe.go).
	Observe QueryObserver
}

// ValidateConfig checks the queries without touching a database: user_query
// present with exactly one `?`, user_id_query/roles/permissions with one,
// organization with two, rehash with three; NameCollation, when set, a
// plain collation name.
func ValidateConfig(c Config) error {
	if strings.TrimSpace(c.UserQuery) == "" {
		return errors.New("user_query is required")
	}
	if c.Timeout < 0 {
		return fmt.Errorf("timeout must not be negative, got %s", c.Timeout)
	}
	for _, q := range c.queries() {
		if q.sql == "" && q.directive != "user_query" {
			continue
		}
		n, err := countPlaceholders(q.sql)
		if err != nil {
			return fmt.Errorf("%s: %w", q.directive, err)
		}
		if n != q.params {
			return fmt.Errorf("%s must have exactly %s '?' %s, found %d",
				q.directive, numberWords[q.params], pluralPlaceholder(q.params), n)
		}
	}
	if c.NameCollation != "" && !validCollationName(c.NameCollation) {
		return fmt.Errorf("name collation %q is not a collation name (letters, digits and _ only)", c.NameCollation)
	}
	return nil
}

var numberWords = map[int]string{1: "one", 2: "two", 3: "three"}

func pluralPlaceholder(n int) string {
	if n == 1 {
		return "placeholder"
	}
	return "placeholders"
}

// querySpec describes one configured query.
type querySpec struct {
	directive string // the Caddyfile directive, for errors and logs
	sql       string
	params    int // how many `?` it must have
}

func (c Config) queries() []querySpec {
	return []querySpec{
		{"user_query", c.UserQuery, 1},
		{"roles_query", c.RolesQuery, 1},
		{"permissions_query", c.PermissionsQuery, 1},
		{"organization_query", c.OrganizationQuery, 2},
		{"rehash_query", c.RehashQuery, 3},
		{"user_id_query", c.UserIDQuery, 1},
	}
}

// User is one row of user_query.
type User struct {
	// ID is the user_id column as a string.
	ID string
	// PasswordHash is never exposed in claims or logs.
	PasswordHash string
	// Blocked is the `blocked` column (false when absent).
	Blocked bool
	// AppMetadata and UserMetadata are the JSON columns; never nil.
	AppMetadata  map[string]any
	UserMetadata map[string]any
	// Attributes holds every column except password_hash, by name, typed as
	// the user_query contract says (email_verified and blocked as bool, metadata as maps,
	// integers as int64, text as string); never nil. It is CEL's `user`.
	// A NULL column is absent from it.
	Attributes map[string]any

	// columns are the names the query returned, NULL or not.
	columns []string
}

// HasColumn reports whether the query returned the column name (in the
// lowercase of the recognised columns), whatever its value.
func (u *User) HasColumn(name string) bool { return slices.Contains(u.columns, name) }

// Organization is what organization_query returned.
type Organization struct {
	ID   string
	Name string // empty when the query has no org_name column
}

// Grants are the roles, permissions and organization of a user.
type Grants struct {
	// Roles is roles_query's result when configured, else app_metadata.roles
	// when that is a list of strings, else empty (never nil).
	Roles []string
	// Permissions is nil when permissions_query is not configured.
	Permissions []string
	// Organization is nil when none was requested.
	Organization *Organization
}

// Store runs the customer's queries on a pooled *sql.DB.
//
// Each query is a prepared statement, prepared on first use. Once a pooled
// connection has it, a query is one round trip with the parameters bound by
// the server; an unprepared query with arguments would cost two (prepare and
// execute) unless the DSN turned on client-side interpolation. A failed
// prepare is not kept, so the next call tries again; database/sql itself
// re-prepares a kept statement on every new connection, so a server restart
// needs nothing from us.
type Store struct {
	db      *sql.DB
	logger  *zap.Logger
	timeout time.Duration

	user, roles, permissions, organization, rehash, userByID *lazyStmt // nil when not configured

	// nameKeys computes failure-counter keys of login names; see
	// LoginSubject in namekey.go.
	nameKeys *nameKeyer
	// observe is Config.Observe.
	observe QueryObserver

	// health is what Check, Ping and query outcomes learnt of the
	// database (schemacheck.go).
	health atomic.Pointer[healthState]
}

// New prepares a Store on db. It must not fail when the database is down:
// statements are prepared on first use (and again after a failure).
func New(db *sql.DB, cfg Config, logger *zap.Logger) (*Store, error) {
	if db == nil {
		return nil, errors.New("store: nil database")
	}
	if err := ValidateConfig(cfg); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	s := &Store{db: db, logger: logger, timeout: cfg.Timeout, nameKeys: newNameKeyer(cfg.NameCollation), observe: cfg.Observe}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	stmts := []**lazyStmt{&s.user, &s.roles, &s.permissions, &s.organization, &s.rehash, &s.userByID}
	for i, q := range cfg.queries() {
		if q.sql != "" {
			*stmts[i] = newLazyStmt(q.directive, q.sql)
		}
	}
	return s, nil
}

// HasPermissionsQuery reports whether permissions_query is configured.
func (s *Store) HasPermissionsQuery() bool { return s.permissions != nil }

// HasUserIDQuery reports whether user_id_query is configured (FindUserByID
// works).
func (s *Store) HasUserIDQuery() bool { return s.userByID != nil }

// Close releases prepared statements (not the *sql.DB, which is pooled).
func (s *Store) Close() error {
	var errs []error
	for _, l := range []*lazyStmt{s.user, s.roles, s.permissions, s.organization, s.rehash, s.userByID} {
		if l != nil {
			errs = append(errs, l.close())
		}
	}
	errs = append(errs, s.nameKeys.close())
	return errors.Join(errs...)
}

// FindUser runs user_query for username. An empty username finds nobody
// without a query: it must not match rows whose login column is empty.
func (s *Store) FindUser(ctx context.Context, username string) (*User, error) {
	if username == "" {
		return nil, ErrNotFound
	}
	return s.findOne(ctx, s.user, "username", username)
}

// FindUserByID runs user_id_query: the user whose user_id is userID, read
// fresh (for /userinfo, a refresh, the management API). It answers like
// FindUser: ErrNotFound when the user is gone (or the row is untrustworthy),
// ErrUnavailable on database failures. Without user_id_query it returns
// ErrNoQuery; callers then fall back to FindUser with the login name.
func (s *Store) FindUserByID(ctx context.Context, userID string) (*User, error) {
	if s.userByID == nil {
		return nil, fmt.Errorf("%w: user_id_query", ErrNoQuery)
	}
	if userID == "" {
		return nil, ErrNotFound
	}
	return s.findOne(ctx, s.userByID, "user_id", userID)
}

// findOne runs a user query that must return at most one row for its
// argument (argName, for the log).
func (s *Store) findOne(ctx context.Context, l *lazyStmt, argName, arg string) (*User, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.query(ctx, l, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if err := s.requireUserColumns(l.directive, rows); err != nil {
		return nil, err
	}
	cols, vals, err := singleRow(rows)
	switch {
	case errors.Is(err, errManyRows):
		s.logger.Error(l.directive+" returned more than one row for one "+argName+"; refusing the login "+
			"(the query must match a unique column)", zap.String("directive", l.directive))
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	case err != nil:
		return nil, unavailable(l.directive, err)
	case vals == nil:
		return nil, ErrNotFound
	}
	return s.buildUser(cols, vals)
}

// LoadGrants runs the roles, permissions and organization queries
// concurrently (organization only when org is not empty). The first failure
// cancels the others. ErrNotMember is returned when organization_query finds
// no row, and also (wrapped) when an organization is asked for but no
// organization_query is configured: membership that cannot be checked is
// refused.
func (s *Store) LoadGrants(ctx context.Context, user *User, org string) (Grants, error) {
	if user == nil {
		return Grants{}, errors.New("store: LoadGrants without a user")
	}
	if org != "" && s.organization == nil {
		// Asking for an organization that cannot be checked must not
		// silently succeed.
		return Grants{}, fmt.Errorf("%w: organization requested but organization_query is not configured", ErrNotMember)
	}
	// The first failure cancels the other queries (errgroup's context).
	group, ctx := errgroup.WithContext(ctx)
	var g Grants
	if s.roles != nil {
		group.Go(func() (err error) {
			g.Roles, err = s.names(ctx, s.roles, user.ID)
			return err
		})
	} else {
		g.Roles = rolesFromMetadata(user.AppMetadata)
	}
	if s.permissions != nil {
		group.Go(func() (err error) {
			g.Permissions, err = s.names(ctx, s.permissions, user.ID)
			return err
		})
	}
	if org != "" {
		group.Go(func() (err error) {
			g.Organization, err = s.findOrganization(ctx, user.ID, org)
			return err
		})
	}
	if err := group.Wait(); err != nil {
		return Grants{}, err
	}
	return g, nil
}

// RehashPassword runs rehash_query with (newHash, userID, verifiedHash): it
// stores newHash only if the user's stored hash is still verifiedHash, the
// one the login just checked. updated is false when the query changed no
// row — the password was changed or reset meanwhile (never undone), or the
// user is gone — which is not an error. Without rehash_query it returns
// ErrNoQuery.
//
// Callers that issue refresh tokens use UpgradePassword instead, which
// records the rehash first so that it does not end the user's sessions.
func (s *Store) RehashPassword(ctx context.Context, userID, verifiedHash, newHash string) (updated bool, err error) {
	if s.rehash == nil {
		return false, fmt.Errorf("%w: rehash_query", ErrNoQuery)
	}
	if err := s.ConfigError(); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	stmt, err := s.rehash.get(ctx, s.db)
	if err != nil {
		return false, s.queryFailed("rehash_query", err)
	}
	res, err := stmt.ExecContext(ctx, newHash, userID, verifiedHash)
	if err != nil {
		return false, s.queryFailed("rehash_query", err)
	}
	// The matched row always changes (newHash differs from verifiedHash),
	// so affected rows mean the same with or without clientFoundRows.
	n, err := res.RowsAffected()
	if err != nil {
		return false, unavailable("rehash_query", err)
	}
	return n > 0, nil
}

// names runs a roles/permissions query and returns the first column of each
// row, skipping NULLs. The result is never nil.
func (s *Store) names(ctx context.Context, l *lazyStmt, userID string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.query(ctx, l, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, unavailable(l.directive, err)
	}
	vals, ptrs := scanTargets(len(cols))
	names := []string{}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, unavailable(l.directive, err)
		}
		if name, ok := idString(vals[0]); ok {
			names = append(names, name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(l.directive, err)
	}
	return names, nil
}

// findOrganization runs organization_query; its first row's org_id and
// org_name columns (read by name) are the organization.
func (s *Store) findOrganization(ctx context.Context, userID, org string) (*Organization, error) {
	const directive = "organization_query"
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.query(ctx, s.organization, userID, org)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, unavailable(directive, err)
	}
	idCol, nameCol := columnIndex(cols, "org_id"), columnIndex(cols, "org_name")
	if idCol < 0 {
		qe := missingColumn(directive, "org_id", "o.id AS org_id")
		s.setHealth(StatusMisconfigured, qe)
		return nil, qe
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, unavailable(directive, err)
		}
		return nil, ErrNotMember
	}
	vals, ptrs := scanTargets(len(cols))
	if err := rows.Scan(ptrs...); err != nil {
		return nil, unavailable(directive, err)
	}
	id, ok := idString(vals[idCol])
	if !ok {
		return nil, ErrNotMember // NULL org_id: no membership to speak of
	}
	o := &Organization{ID: id}
	if nameCol >= 0 {
		o.Name, _ = idString(vals[nameCol])
	}
	return o, nil
}

// query prepares (once) and runs l with args. While a query is known not to
// fit the schema it refuses at once (ConfigError): every login would fail
// the same way, and the app's checks lift it once the query works.
func (s *Store) query(ctx context.Context, l *lazyStmt, args ...any) (*sql.Rows, error) {
	if err := s.ConfigError(); err != nil {
		return nil, err
	}
	defer s.observeSince(l, time.Now())
	stmt, err := l.get(ctx, s.db)
	if err != nil {
		return nil, s.queryFailed(l.directive, err)
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, s.queryFailed(l.directive, err)
	}
	return rows, nil
}

// unavailable wraps a database failure so that errors.Is finds both
// ErrUnavailable and the cause (context.DeadlineExceeded, a driver error).
// A refusal that means the query does not fit the schema (no such table,
// unknown column, syntax) is a *QueryError (ErrMisconfigured) instead:
// retrying cannot fix it.
func unavailable(directive string, err error) error {
	if me, ok := configShaped(err); ok {
		return refused(directive, me)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, directive, err)
}

var errManyRows = errors.New("more than one row")

// singleRow reads the only row of rows. vals is nil when there is none;
// errManyRows is returned when there are several.
func singleRow(rows *sql.Rows) ([]*sql.ColumnType, []any, error) {
	cols, err := rows.ColumnTypes()
	if err != nil {
		return nil, nil, err
	}
	if !rows.Next() {
		return nil, nil, rows.Err()
	}
	vals, ptrs := scanTargets(len(cols))
	if err := rows.Scan(ptrs...); err != nil {
		return nil, nil, err
	}
	if rows.Next() {
		return nil, nil, errManyRows
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return cols, vals, nil
}

func scanTargets(n int) (vals []any, ptrs []any) {
	vals = make([]any, n)
	ptrs = make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	return vals, ptrs
}

// columnIndex finds name among cols; MySQL column names are case-insensitive.
func columnIndex(cols []string, name string) int {
	for i, c := range cols {
		if strings.EqualFold(c, name) {
			return i
		}
	}
	return -1
}

// rolesFromMetadata is app_metadata.roles when it is a list of strings, else
// an empty list.
func rolesFromMetadata(m map[string]any) []string {
	list, ok := m["roles"].([]any)
	if !ok {
		return []string{}
	}
	roles := make([]string, 0, len(list))
	for _, r := range list {
		name, ok := r.(string)
		if !ok {
			return []string{}
		}
		roles = append(roles, name)
	}
	return roles
}

// lazyStmt is a statement prepared on first use. A failed prepare is not
// cached.
type lazyStmt struct {
	directive string
	query     string
	// lock is a one-slot semaphore rather than a mutex so that a caller
	// waiting for another's slow prepare still honours its own deadline.
	lock   chan struct{}
	stmt   *sql.Stmt // guarded by lock
	closed bool      // guarded by lock
	// ready is stmt once prepared, read without the lock on the hot path.
	ready atomic.Pointer[sql.Stmt]
}

func newLazyStmt(directive, query string) *lazyStmt {
	// A trailing semicolon, common in pasted queries, is not part of a
	// prepared statement.
	query = strings.TrimRight(strings.TrimSpace(query), "; \t\r\n")
	return &lazyStmt{directive: directive, query: query, lock: make(chan struct{}, 1)}
}

func (l *lazyStmt) get(ctx context.Context, db *sql.DB) (*sql.Stmt, error) {
	if stmt := l.ready.Load(); stmt != nil {
		return stmt, nil
	}
	select {
	case l.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-l.lock }()
	if l.closed {
		return nil, errors.New("store is closed")
	}
	if l.stmt == nil {
		stmt, err := db.PrepareContext(ctx, l.query)
		if err != nil {
			return nil, fmt.Errorf("preparing: %w", err)
		}
		l.stmt = stmt
		l.ready.Store(stmt)
	}
	return l.stmt, nil
}

func (l *lazyStmt) close() error {
	l.lock <- struct{}{}
	defer func() { <-l.lock }()
	l.closed = true
	l.ready.Store(nil)
	if l.stmt == nil {
		return nil
	}
	err := l.stmt.Close()
	l.stmt = nil
	return err
}
