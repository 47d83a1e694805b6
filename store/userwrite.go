package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The management block's statements write the customer's user tables
// (create_user, update_user, delete_user, assign_role, remove_role,
// add_member, remove_member). Each is optional; a Writer runs those that are
// configured, with named parameters compiled once (statements.go).

// Write errors.
var (
	// ErrDuplicate is a write refused for a duplicate key (MySQL error
	// 1062): the user already exists.
	ErrDuplicate = errors.New("duplicate key")
	// ErrRejected is a write the database refused for its values (a NOT
	// NULL column left empty, a value too long, a foreign key): the
	// request's to fix, not an outage.
	ErrRejected = errors.New("the database refused the values")
)

// The management directives.
const (
	DirectiveCreateUser   = "create_user"
	DirectiveUpdateUser   = "update_user"
	DirectiveDeleteUser   = "delete_user"
	DirectiveAssignRole   = "assign_role"
	DirectiveRemoveRole   = "remove_role"
	DirectiveAddMember    = "add_member"
	DirectiveRemoveMember = "remove_member"
)

// NoStatementError is an operation whose statement is not configured.
type NoStatementError struct {
	// Directive is the directive (or query) to add.
	Directive string
}

func (e *NoStatementError) Error() string { return e.Directive + " is not configured" }

// Is makes errors.Is(err, ErrNoQuery) true.
func (e *NoStatementError) Is(target error) bool { return target == ErrNoQuery }

// ManagementConfig holds the management block's statements; each is
// optional.
type ManagementConfig struct {
	CreateUser, UpdateUser, DeleteUser string
	AssignRole, RemoveRole             string
	AddMember, RemoveMember            string
}

func (c ManagementConfig) statements() [][2]string {
	return [][2]string{
		{DirectiveCreateUser, c.CreateUser},
		{DirectiveUpdateUser, c.UpdateUser},
		{DirectiveDeleteUser, c.DeleteUser},
		{DirectiveAssignRole, c.AssignRole},
		{DirectiveRemoveRole, c.RemoveRole},
		{DirectiveAddMember, c.AddMember},
		{DirectiveRemoveMember, c.RemoveMember},
	}
}

// CompileManagement compiles every configured statement, without a
// database; a statement naming an unknown parameter is refused with the
// list of known ones.
func CompileManagement(c ManagementConfig) (map[string]NamedStatement, error) {
	out := make(map[string]NamedStatement)
	for _, s := range c.statements() {
		if strings.TrimSpace(s[1]) == "" {
			continue
		}
		ns, err := CompileNamed(s[0], s[1], ManagementParams)
		if err != nil {
			return nil, err
		}
		out[s[0]] = ns
	}
	return out, nil
}

// Writer runs the management statements on a Store's database.
type Writer struct {
	s     *Store
	stmts map[string]NamedStatement
}

// NewWriter compiles c's statements for s.
func NewWriter(s *Store, c ManagementConfig) (*Writer, error) {
	stmts, err := CompileManagement(c)
	if err != nil {
		return nil, err
	}
	return &Writer{s: s, stmts: stmts}, nil
}

// Has reports whether directive is configured.
func (w *Writer) Has(directive string) bool {
	_, ok := w.stmts[directive]
	return ok
}

// Statement returns the compiled statement of directive.
func (w *Writer) Statement(directive string) (NamedStatement, bool) {
	ns, ok := w.stmts[directive]
	return ns, ok
}

// Exec runs directive with values (parameters missing from values are
// NULL) and returns how many rows it changed.
func (w *Writer) Exec(ctx context.Context, directive string, values map[string]any) (int64, error) {
	res, err := w.exec(ctx, w.s.db, directive, values)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (w *Writer) exec(ctx context.Context, db execer, directive string, values map[string]any) (sql.Result, error) {
	ns, ok := w.stmts[directive]
	if !ok {
		return nil, &NoStatementError{Directive: directive}
	}
	ctx, cancel := context.WithTimeout(ctx, w.s.timeout)
	defer cancel()
	start := time.Now()
	res, err := db.ExecContext(ctx, ns.SQL, ns.Args(values)...)
	if w.s.observe != nil {
		w.s.observe(directive, time.Since(start))
	}
	if err != nil {
		return nil, writeFailed(directive, err)
	}
	return res, nil
}

// CreateUser runs create_user and returns the new user's id: the
// statement's LastInsertId, or values["user_id"] when the request gave one
// (or the table has no AUTO_INCREMENT column).
func (w *Writer) CreateUser(ctx context.Context, values map[string]any) (string, error) {
	res, err := w.exec(ctx, w.s.db, DirectiveCreateUser, values)
	if err != nil {
		return "", err
	}
	// The request's user_id is the new user's only when the statement
	// stored it: otherwise it names someone else (reading that user back
	// would hand their record to a caller with create:users alone).
	if id, ok := values["user_id"].(string); ok && id != "" && w.stmts[DirectiveCreateUser].Uses("user_id") {
		return id, nil
	}
	id, err := res.LastInsertId()
	if err != nil || id == 0 {
		return "", fmt.Errorf("%w: create_user: no LastInsertId and no user_id given", ErrRejected)
	}
	return strconv.FormatInt(id, 10), nil
}

// writeFailed maps a write's failure: a duplicate key, values the database
// refuses, a statement that does not fit the schema (*QueryError), or an
// outage (ErrUnavailable). Unlike a login query's failure it does not
// change the Store's health: a broken management statement must not stop
// logins.
func writeFailed(directive string, err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1062, 1586: // ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME
			return fmt.Errorf("%s: %w", directive, ErrDuplicate)
		case 1048, 1364, 1366, 1406, 1452, 1451, 1292, 1264, 3140, 4025:
			// NULL in NOT NULL, no default, bad value, too long, foreign
			// key, bad date, out of range, invalid JSON, CHECK constraint.
			return fmt.Errorf("%s: %w: %s", directive, ErrRejected, me.Message)
		}
	}
	// go-mysql-server answers a duplicate key as the generic 1105.
	if errors.As(err, &me) && strings.Contains(strings.ToLower(me.Message), "duplicate") {
		return fmt.Errorf("%s: %w", directive, ErrDuplicate)
	}
	return unavailable(directive, err)
}

// retryableTx reports a transaction the server aborted to break a deadlock
// (1213) or after a lock wait timeout (1205): running it again is correct.
func retryableTx(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

// UpdateUser reads the user userID through user_id_query with `FOR UPDATE`
// inside a transaction, calls change with it, runs update_user with the
// values change returns, and commits: a concurrent update of the same user,
// from this instance or another, waits for the row lock and then reads
// what this one wrote, so neither loses the other's change. A deadlock or
// lock-wait timeout retries the whole transaction (change runs again, on
// the fresh row). It returns the row as it was before the change.
// ErrNotFound when the user is gone; change's own error aborts.
func (w *Writer) UpdateUser(ctx context.Context, userID string, change func(*User) (map[string]any, error)) (*User, error) {
	if w.s.userByID == nil {
		return nil, &NoStatementError{Directive: "user_id_query"}
	}
	if !w.Has(DirectiveUpdateUser) {
		return nil, &NoStatementError{Directive: DirectiveUpdateUser}
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var before *User
		before, err = w.updateOnce(ctx, userID, change)
		if err == nil || !retryableTx(err) {
			return before, err
		}
	}
	return nil, err
}

func (w *Writer) updateOnce(ctx context.Context, userID string, change func(*User) (map[string]any, error)) (*User, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*w.s.timeout)
	defer cancel()
	tx, err := w.s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, unavailable(DirectiveUpdateUser, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	user, err := w.s.lockUser(ctx, tx, userID)
	if err != nil {
		return nil, err
	}
	values, err := change(user)
	if err != nil {
		return nil, err
	}
	if _, err := w.exec(ctx, tx, DirectiveUpdateUser, values); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, unavailable(DirectiveUpdateUser, err)
	}
	return user, nil
}

// lockUser runs user_id_query with FOR UPDATE in tx.
func (s *Store) lockUser(ctx context.Context, tx *sql.Tx, userID string) (*User, error) {
	const directive = "user_id_query"
	rows, err := tx.QueryContext(ctx, forUpdate(s.userByID.query), userID)
	if err != nil {
		if retryableTx(err) {
			return nil, err
		}
		return nil, unavailable(directive, err)
	}
	defer rows.Close()
	if err := s.requireUserColumns(directive, rows); err != nil {
		return nil, err
	}
	cols, vals, err := singleRow(rows)
	switch {
	case errors.Is(err, errManyRows):
		return nil, fmt.Errorf("%w: %s returned several rows", ErrNotFound, directive)
	case err != nil:
		return nil, unavailable(directive, err)
	case vals == nil:
		return nil, ErrNotFound
	}
	return s.buildUser(cols, vals)
}

// forUpdate makes a SELECT a locking read, unless it already is one. The
// clause goes on its own line, after any trailing `-- comment`.
func forUpdate(query string) string {
	upper := strings.ToUpper(query)
	if strings.Contains(upper, "FOR UPDATE") || strings.Contains(upper, "LOCK IN SHARE MODE") {
		return query
	}
	return query + "\nFOR UPDATE"
}

// RolesOf is the user's role names: roles_query's result when configured,
// else app_metadata.roles when that is a list of strings, else empty.
func (s *Store) RolesOf(ctx context.Context, user *User) ([]string, error) {
	if s.roles == nil {
		return rolesFromMetadata(user.AppMetadata), nil
	}
	return s.names(ctx, s.roles, user.ID)
}
