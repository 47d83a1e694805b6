package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
)

// Failure counters of login names that match no user.
//
// A known user is counted by user_id, so every spelling that user_query's
// comparison resolves to the user ("ALICE@x", "alicé@x" on a case- and
// accent-insensitive collation) shares one counter. If unknown names were
// counted by some other folding (lower(trim(name)) before), the answer to
// "ten failures as X, then one as X'" would tell whether X is an account.
// So an unknown name is keyed by its weights under the collation that
// user_query compares with: two names share a key exactly when that
// collation calls them equal, i.e. exactly when they would find the same
// user.
//
// The weights come from the server itself, WEIGHT_STRING(name COLLATE c),
// so they follow its collation tables (expansions such as ß = ss included).
// For PAD SPACE collations, under which trailing spaces do not count, the
// name is RTRIMmed first and trailing space weights are cut from the result
// (MariaDB keeps them in WEIGHT_STRING; characters that weigh nothing can
// follow the spaces).
//
// go-mysql-server (the embedded demo server, Dolt) has no WEIGHT_STRING.
// There the weights come from the function given to
// RegisterCollationWeights — the package that provides the demo server
// registers go-mysql-server's own implementation, which is what that
// server compares with. Without one, unknown names fall back to the old
// lower(trim(name)) key, and a warning is logged once.
//
// Known limit: under a multi-level collation (accent- or case-sensitive
// UCA, e.g. utf8mb4_uca1400_as_ci) with PAD SPACE, a name whose trailing
// spaces are followed by weightless characters may get a key of its own.

// CollationWeights returns the weights of s under the named collation,
// equal for two strings exactly when the collation compares them equal.
type CollationWeights func(collation, s string) ([]byte, error)

var (
	goWeightsMu sync.RWMutex
	goWeights   CollationWeights
)

// RegisterCollationWeights installs the Go implementation of collation
// weights used on servers without WEIGHT_STRING. The demo package
// registers go-mysql-server's from an init function:
//
//	store.RegisterCollationWeights(func(collation, s string) ([]byte, error) {
//		id, err := sql.ParseCollation("", collation, false) // go-mysql-server/sql
//		if err != nil {
//			return nil, err
//		}
//		var b bytes.Buffer
//		err = id.WriteWeightString(&b, s)
//		return b.Bytes(), err
//	})
//
// A later call replaces an earlier one. It affects Stores whose key method
// is discovered afterwards.
func RegisterCollationWeights(f CollationWeights) {
	goWeightsMu.Lock()
	defer goWeightsMu.Unlock()
	goWeights = f
}

func registeredWeights() CollationWeights {
	goWeightsMu.RLock()
	defer goWeightsMu.RUnlock()
	return goWeights
}

// collationNameRE is what a collation or character-set name may contain;
// such names are spliced into SQL (they cannot be parameters), so nothing
// else is accepted.
var collationNameRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

func validCollationName(name string) bool { return collationNameRE.MatchString(name) }

// nameKeyer discovers, once, how to compute name keys on this server.
type nameKeyer struct {
	configured string // Config.NameCollation; empty: @@collation_database
	// lock is a one-slot semaphore (see lazyStmt) guarding discovery.
	lock chan struct{}
	// ready is the discovered method, read without the lock.
	ready atomic.Pointer[nameKeyMethod]
}

// nameKeyMethod is the discovered way to compute keys.
type nameKeyMethod struct {
	collation   string
	padSpace    bool      // trailing spaces do not count under collation
	spaceWeight []byte    // WEIGHT_STRING(' '), cut from the end when padSpace
	stmt        *lazyStmt // nil on servers without WEIGHT_STRING
	// inGo computes weights on servers without WEIGHT_STRING; nil there
	// means the legacy key.
	inGo CollationWeights
}

func newNameKeyer(collation string) *nameKeyer {
	return &nameKeyer{configured: collation, lock: make(chan struct{}, 1)}
}

// LoginSubject returns the subject under which a login attempt is counted
// (pass it to State.BeginAttempt and State.Unblock): for a user that
// user_query found, LoginSubject(user.ID, true, "") — the user_id, however
// the name was spelt; for a name that matched no user (user == nil), a
// hash of the name's weights under the login column's collation (see
// Config.NameCollation), so that spellings the user table treats as equal
// share a counter, exactly as they would share a user.
//
// It asks the database for the weights on every call, also for known
// users, so that a known and an unknown name cost the same round trip. On
// a database failure it returns ErrUnavailable (answer 503, never count
// under another key). The result is a hex SHA-256: no name is stored.
func (s *Store) LoginSubject(ctx context.Context, user *User, username string) (string, error) {
	key, err := s.nameKey(ctx, username)
	if err != nil {
		return "", err
	}
	if user != nil {
		return LoginSubject(user.ID, true, ""), nil
	}
	return key, nil
}

// NameCollation returns the collation that keys unknown login names
// (Config.NameCollation, or the database's default), discovering it if
// need be, and how the weights are computed: "server" (WEIGHT_STRING),
// "go" (RegisterCollationWeights, on go-mysql-server) or "legacy"
// (lower-cased name: neither is available). For a start-up log line.
func (s *Store) NameCollation(ctx context.Context) (collation, method string, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	m, err := s.nameKeys.get(ctx, s.db, s.logger)
	if err != nil {
		return "", "", err
	}
	switch {
	case m.stmt != nil:
		return m.collation, "server", nil
	case m.inGo != nil:
		return m.collation, "go", nil
	}
	return m.collation, "legacy", nil
}

// nameKey is the subject of an unknown name.
func (s *Store) nameKey(ctx context.Context, username string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	m, err := s.nameKeys.get(ctx, s.db, s.logger)
	if err != nil {
		return "", err
	}
	if m.stmt == nil && m.inGo == nil {
		return LoginSubject("", false, username), nil
	}
	weights, err := m.weights(ctx, s.db, username)
	if err != nil {
		return "", err
	}
	return hashHex("name:" + m.collation + ":" + hex.EncodeToString(weights)), nil
}

// weights returns username's collation weights, trailing spaces cut under
// PAD SPACE.
func (m *nameKeyMethod) weights(ctx context.Context, db *sql.DB, username string) ([]byte, error) {
	if m.stmt == nil {
		w, err := m.inGo(m.collation, username)
		if err != nil {
			// Malformed UTF-8 matches no user on that server either;
			// its bytes are as good a key as any.
			return []byte("raw:" + username), nil
		}
		return w, nil
	}
	stmt, err := m.stmt.get(ctx, db)
	if err != nil {
		return nil, unavailable("name key", err)
	}
	var w []byte
	if err := stmt.QueryRowContext(ctx, username).Scan(&w); err != nil {
		return nil, unavailable("name key", err)
	}
	if m.padSpace && len(m.spaceWeight) > 0 {
		for bytes.HasSuffix(w, m.spaceWeight) {
			w = w[:len(w)-len(m.spaceWeight)]
		}
	}
	return w, nil
}

// get returns the method, discovering it on first use. A failed discovery
// is not kept: the next call tries again.
func (k *nameKeyer) get(ctx context.Context, db *sql.DB, logger *zap.Logger) (*nameKeyMethod, error) {
	if m := k.ready.Load(); m != nil {
		return m, nil
	}
	select {
	case k.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, unavailable("name key", ctx.Err())
	}
	defer func() { <-k.lock }()
	if m := k.ready.Load(); m != nil {
		return m, nil
	}
	m, err := discoverNameKey(ctx, db, k.configured)
	if err != nil {
		return nil, err
	}
	if m.stmt == nil && m.inGo == nil {
		logger.Warn("the database has no WEIGHT_STRING and no Go collation weights are registered: "+
			"names that match no user are counted by their lower-cased form, which may not match "+
			"how the login column compares them", zap.String("collation", m.collation))
	}
	k.ready.Store(m)
	return m, nil
}

// close releases the prepared statement; a later call fails ("store is
// closed"), like the other statements of a closed Store.
func (k *nameKeyer) close() error {
	k.lock <- struct{}{}
	defer func() { <-k.lock }()
	m := k.ready.Load()
	if m == nil || m.stmt == nil {
		return nil
	}
	return m.stmt.close()
}

// discoverNameKey finds the collation and its character set, whether it
// pads, and whether the server has WEIGHT_STRING.
func discoverNameKey(ctx context.Context, db *sql.DB, collation string) (*nameKeyMethod, error) {
	if collation == "" {
		if err := db.QueryRowContext(ctx, `SELECT @@collation_database`).Scan(&collation); err != nil {
			return nil, unavailable("name collation", err)
		}
	}
	charset, err := collationCharset(ctx, db, collation)
	if err != nil {
		return nil, err
	}
	// Both names are checked by collationCharset, so splicing is safe.
	conv := func(expr string) string {
		return "CONVERT(" + expr + " USING " + charset + ") COLLATE " + collation
	}
	m := &nameKeyMethod{collation: collation}
	// Ask the server rather than a table of names: MariaDB's
	// information_schema has no PAD_ATTRIBUTE, and go-mysql-server ignores
	// padding whatever the collation says.
	if err := db.QueryRowContext(ctx, "SELECT "+conv("' '")+" = "+conv("''")).Scan(&m.padSpace); err != nil {
		return nil, unavailable("name collation", err)
	}
	err = db.QueryRowContext(ctx, "SELECT WEIGHT_STRING("+conv("' '")+")").Scan(&m.spaceWeight)
	switch {
	case isMissingFunction(err):
		m.inGo = registeredWeights()
		return m, nil
	case err != nil:
		return nil, unavailable("name collation", err)
	}
	arg := "?"
	if m.padSpace {
		arg = "RTRIM(?)"
	}
	m.stmt = newLazyStmt("name key", "SELECT WEIGHT_STRING("+conv(arg)+")")
	return m, nil
}

// collationCharset checks that the server knows collation and returns its
// character set.
func collationCharset(ctx context.Context, db *sql.DB, collation string) (string, error) {
	if !validCollationName(collation) {
		return "", fmt.Errorf("%w: name collation %q is not a collation name", ErrUnavailable, collation)
	}
	var charset string
	err := db.QueryRowContext(ctx, `SELECT CHARACTER_SET_NAME FROM information_schema.COLLATIONS
WHERE COLLATION_NAME = ?`, collation).Scan(&charset)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("%w: name collation %s: the server has no such collation", ErrUnavailable, collation)
	case err != nil:
		return "", unavailable("name collation", err)
	case !validCollationName(charset):
		return "", fmt.Errorf("%w: name collation %s: unexpected character set %q", ErrUnavailable, collation, charset)
	}
	return charset, nil
}

// isMissingFunction reports whether err says WEIGHT_STRING does not exist:
// MySQL's ER_SP_DOES_NOT_EXIST (1305), or go-mysql-server's generic 1105
// "function: 'weight_string' not found".
func isMissingFunction(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	msg := strings.ToLower(me.Message)
	if !strings.Contains(msg, "weight_string") {
		return false
	}
	return me.Number == 1305 || (me.Number == 1105 && strings.Contains(msg, "not found"))
}
