package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// State keeps claimgate's own state — login-failure counters and refresh
// tokens — in claimgate_ tables of the customer's database, so that several
// claimgate instances sharing one database act as one. Every change is a
// single atomic statement (an upsert or a conditional UPDATE), never a
// read-modify-write in Go, so concurrent instances cannot lose updates.
type State struct {
	db      *observedDB
	timeout time.Duration
}

// NewState returns a State on db; every statement runs under timeout
// (3 s when 0). It does not contact the database.
func NewState(db *sql.DB, timeout time.Duration) *State {
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	return &State{db: &observedDB{DB: db}, timeout: timeout}
}

// SchemaStatements returns the DDL of claimgate's own tables, for
// EnsureSchema and for DBAs who forbid runtime DDL (`claimgate schema`).
// Times are Unix seconds in BIGINT columns, and 0 means "not set", so the
// same statements behave alike on MySQL, MariaDB and the embedded server
// whatever their time-zone settings.
func SchemaStatements() []string {
	return append([]string{
		`CREATE TABLE IF NOT EXISTS claimgate_login_failures (
	subject CHAR(64) NOT NULL,
	ip VARCHAR(64) NOT NULL,
	failures INT NOT NULL DEFAULT 0,
	blocked_until BIGINT NOT NULL DEFAULT 0,
	updated_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (subject, ip)
)`,
		`CREATE TABLE IF NOT EXISTS claimgate_ip_failures (
	ip VARCHAR(64) NOT NULL,
	tokens DOUBLE NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (ip)
)`,
		`CREATE TABLE IF NOT EXISTS claimgate_refresh_tokens (
	token_hash CHAR(64) NOT NULL,
	family_id CHAR(64) NOT NULL,
	user_id VARCHAR(255) NOT NULL,
	username VARCHAR(1024) NOT NULL,
	client_id VARCHAR(255) NOT NULL,
	audience VARCHAR(1024) NOT NULL,
	scope VARCHAR(2048) NOT NULL,
	organization VARCHAR(255) NOT NULL,
	created_at BIGINT NOT NULL,
	last_used_at BIGINT NOT NULL,
	family_expires_at BIGINT NOT NULL,
	rotated_at BIGINT NOT NULL DEFAULT 0,
	revoked_at BIGINT NOT NULL DEFAULT 0,
	password_fp CHAR(64) NOT NULL DEFAULT '',
	PRIMARY KEY (token_hash),
	INDEX claimgate_refresh_family (family_id),
	INDEX claimgate_refresh_user_client (user_id, client_id)
)`,
		`CREATE TABLE IF NOT EXISTS claimgate_password_rehashes (
	user_id VARCHAR(255) NOT NULL,
	old_fp CHAR(64) NOT NULL,
	new_fp CHAR(64) NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, old_fp, new_fp)
)`,
	}, browserSchemaStatements()...)
}

// schemaUpgrade is a column that tables created by an earlier version
// lack, and the DDL that adds it.
type schemaUpgrade struct {
	table, column, ddl string
}

// schemaUpgrades are run by EnsureSchema when their column is missing.
var schemaUpgrades = []schemaUpgrade{
	// Refresh-token families remember the password they began under
	// (a password change ends them); rows from before have '' and are adopted at their next
	// rotation.
	{"claimgate_refresh_tokens", "password_fp",
		`ALTER TABLE claimgate_refresh_tokens ADD COLUMN password_fp CHAR(64) NOT NULL DEFAULT ''`},
}

// SchemaUpgradeStatements returns the DDL that brings claimgate_ tables
// created by an earlier version up to date, for DBAs who run DDL by hand
// (after SchemaStatements, which creates missing tables but leaves existing
// ones alone). Each statement must run once: MySQL has no ADD COLUMN IF NOT
// EXISTS. EnsureSchema runs them itself when their column is missing.
func SchemaUpgradeStatements() []string {
	stmts := make([]string, len(schemaUpgrades))
	for i, u := range schemaUpgrades {
		stmts[i] = u.ddl
	}
	return stmts
}

// EnsureSchema creates the claimgate_ tables that are missing and adds the
// columns that tables created by an earlier version lack. It is safe to run
// from several instances at once.
func (s *State) EnsureSchema(ctx context.Context) error {
	for _, stmt := range SchemaStatements() {
		if err := s.exec(ctx, stmt); err != nil {
			return fmt.Errorf("creating claimgate tables: %w", err)
		}
	}
	for _, u := range schemaUpgrades {
		if err := s.upgrade(ctx, u); err != nil {
			return fmt.Errorf("upgrading claimgate tables: %w", err)
		}
	}
	return nil
}

// CheckSchema reports the first claimgate_ table or column that is missing
// (ErrSchema, naming it), without changing anything: for `manage_schema off`,
// where a DBA runs SchemaStatements and SchemaUpgradeStatements.
func (s *State) CheckSchema(ctx context.Context) error {
	for _, table := range []string{"claimgate_login_failures", "claimgate_ip_failures",
		"claimgate_refresh_tokens", "claimgate_password_rehashes", browserTables[0], browserTables[1]} {
		if ok, err := s.hasColumn(ctx, table, ""); err != nil || !ok {
			return errors.Join(err, missing(ok, "table "+table))
		}
	}
	for _, u := range schemaUpgrades {
		if ok, err := s.hasColumn(ctx, u.table, u.column); err != nil || !ok {
			return errors.Join(err, missing(ok, "column "+u.table+"."+u.column))
		}
	}
	return nil
}

// ErrSchema means a claimgate_ table or column is missing.
var ErrSchema = errors.New("claimgate schema is not up to date")

func missing(ok bool, what string) error {
	if ok {
		return nil
	}
	return fmt.Errorf("%w: %s is missing", ErrSchema, what)
}

// upgrade adds u's column unless it exists. Two instances starting at once
// may both try; the loser's error is ignored once the column is there.
func (s *State) upgrade(ctx context.Context, u schemaUpgrade) error {
	ok, err := s.hasColumn(ctx, u.table, u.column)
	if err != nil || ok {
		return err
	}
	if err := s.exec(ctx, u.ddl); err != nil {
		if ok, _ := s.hasColumn(ctx, u.table, u.column); ok {
			return nil
		}
		return err
	}
	return nil
}

// hasColumn reports whether table (in the current database) has column, or
// exists at all when column is empty.
func (s *State) hasColumn(ctx context.Context, table, column string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND (? = '' OR COLUMN_NAME = ?)`,
		table, column, column).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("%w: reading information_schema: %w", ErrUnavailable, err)
	}
	return n > 0, nil
}

func (s *State) exec(ctx context.Context, query string, args ...any) error {
	_, err := s.execResult(ctx, query, args...)
	return err
}

func (s *State) execResult(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return res, nil
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// LoginSubject names whose failures are counted. A known user is counted by
// user_id, so that spelling the login name differently ("Alice@x",
// "alice@x ") cannot reset an attacker's budget; an unknown name is counted by
// its lower-cased form. The result is a hash: no login name is stored.
//
// For a login, use (*Store).LoginSubject, which keys unknown names by the
// login column's collation; this function remains right for a known user
// (LoginSubject(userID, true, "")).
func LoginSubject(userID string, found bool, username string) string {
	if found {
		return hashHex("user:" + userID)
	}
	return hashHex("name:" + strings.ToLower(strings.TrimSpace(username)))
}

// accountWideIP is the ip column of the account-lockout row (all IPs).
const accountWideIP = ""

// Protection holds the brute-force settings.
type Protection struct {
	// MaxFailures consecutive failures for one subject from one IP block
	// that pair; 0 disables.
	MaxFailures int
	// BlockFor is how long a block lasts.
	BlockFor time.Duration
	// IPFailuresPerDay is the per-IP failure budget, refilled evenly over
	// 24 h; 0 disables.
	IPFailuresPerDay int
	// AccountLockout also blocks the subject from every IP.
	AccountLockout bool
}

// Block says whether a login attempt is refused before its password is
// checked, and for how long.
type Block struct {
	Blocked    bool
	RetryAfter time.Duration
	// Reason is "user_ip", "account" or "ip", for logs.
	Reason string
}

// CheckBlocked reports whether subject may try to log in from ip now.
//
// Deprecated: checking before the hash and recording after it lets
// concurrent guesses through; use BeginAttempt.
func (s *State) CheckBlocked(ctx context.Context, subject, ip string, now time.Time, p Protection) (Block, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	block, err := s.checkSubjectBlock(ctx, subject, ip, now, p)
	if err != nil || block.Blocked {
		return block, err
	}
	return s.checkIPBudget(ctx, ip, now, p)
}

func (s *State) checkSubjectBlock(ctx context.Context, subject, ip string, now time.Time, p Protection) (Block, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT ip, blocked_until FROM claimgate_login_failures WHERE subject = ? AND (ip = ? OR ip = ?)`,
		subject, ip, accountWideIP)
	if err != nil {
		return Block{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer rows.Close()
	var block Block
	for rows.Next() {
		var rowIP string
		var until int64
		if err := rows.Scan(&rowIP, &until); err != nil {
			return Block{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		if rowIP == accountWideIP && !p.AccountLockout {
			continue
		}
		if wait := time.Unix(until, 0).Sub(now); wait > block.RetryAfter {
			block = Block{Blocked: true, RetryAfter: wait, Reason: "user_ip"}
			if rowIP == accountWideIP {
				block.Reason = "account"
			}
		}
	}
	if err := rows.Err(); err != nil {
		return Block{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return block, nil
}

func (s *State) checkIPBudget(ctx context.Context, ip string, now time.Time, p Protection) (Block, error) {
	if p.IPFailuresPerDay <= 0 || ip == "" {
		return Block{}, nil
	}
	var tokens float64
	var updated int64
	err := s.db.QueryRowContext(ctx,
		`SELECT tokens, updated_at FROM claimgate_ip_failures WHERE ip = ?`, ip).Scan(&tokens, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Block{}, nil
	}
	if err != nil {
		return Block{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	rate := float64(p.IPFailuresPerDay) / (24 * time.Hour).Seconds()
	refilled := min(float64(p.IPFailuresPerDay), tokens+float64(now.Unix()-updated)*rate)
	if refilled >= 1 {
		return Block{}, nil
	}
	wait := time.Duration((1 - refilled) / rate * float64(time.Second))
	return Block{Blocked: true, RetryAfter: wait, Reason: "ip"}, nil
}

// RecordFailure counts one failed login of subject from ip. The pair is
// blocked for p.BlockFor once it reaches p.MaxFailures consecutive failures;
// a failure after an expired block starts a new count.
//
// Deprecated: use BeginAttempt and Attempt.Failed.
func (s *State) RecordFailure(ctx context.Context, subject, ip string, now time.Time, p Protection) error {
	if p.MaxFailures > 0 {
		if err := s.countFailure(ctx, subject, ip, now, p); err != nil {
			return err
		}
		if err := s.countFailure(ctx, subject, accountWideIP, now, p); err != nil {
			return err
		}
	}
	if p.IPFailuresPerDay > 0 && ip != "" {
		return s.spendIPBudget(ctx, ip, now, p)
	}
	return nil
}

// countFailure is one upsert. In the UPDATE part, blocked_until is assigned
// before failures and both read the row's old values, which holds on MySQL
// (left-to-right assignment) and on servers that evaluate against the old row.
func (s *State) countFailure(ctx context.Context, subject, ip string, now time.Time, p Protection) error {
	nowUnix := now.Unix()
	until := now.Add(p.BlockFor).Unix()
	firstUntil := int64(0)
	if p.MaxFailures <= 1 {
		firstUntil = until
	}
	// An expired block (0 < blocked_until <= now) restarts the count at 1.
	return s.exec(ctx, `INSERT INTO claimgate_login_failures (subject, ip, failures, blocked_until, updated_at)
VALUES (?, ?, 1, ?, ?)
ON DUPLICATE KEY UPDATE
	blocked_until = CASE
		WHEN blocked_until > 0 AND blocked_until <= ? THEN ?
		WHEN failures + 1 >= ? THEN ?
		ELSE blocked_until END,
	failures = CASE WHEN blocked_until > 0 AND blocked_until <= ? THEN 1 ELSE failures + 1 END,
	updated_at = ?`,
		subject, ip, firstUntil, nowUnix,
		nowUnix, firstUntil,
		p.MaxFailures, until,
		nowUnix,
		nowUnix)
}

// spendIPBudget takes one token from ip's bucket, refilling it first for the
// time elapsed since its last update. The bucket stops at zero: failures
// past the budget are refused by BeginAttempt, not owed.
func (s *State) spendIPBudget(ctx context.Context, ip string, now time.Time, p Protection) error {
	capacity := float64(p.IPFailuresPerDay)
	rate := capacity / (24 * time.Hour).Seconds()
	nowUnix := now.Unix()
	return s.exec(ctx, `INSERT INTO claimgate_ip_failures (ip, tokens, updated_at) VALUES (?, ?, ?)
ON DUPLICATE KEY UPDATE
	tokens = GREATEST(0, LEAST(?, tokens + (? - updated_at) * ?) - 1),
	updated_at = ?`,
		ip, capacity-1, nowUnix,
		capacity, nowUnix, rate,
		nowUnix)
}

// RecordSuccess clears subject's failure counts from ip and account-wide. The
// per-IP budget is left alone: it counts failures only, and refills by time.
// (Attempt.Succeeded calls it, and also gives back the IP token its
// reservation took.)
func (s *State) RecordSuccess(ctx context.Context, subject, ip string) error {
	return s.exec(ctx, `DELETE FROM claimgate_login_failures WHERE subject = ? AND (ip = ? OR ip = ?)`,
		subject, ip, accountWideIP)
}

// Unblock clears blocks and counts: of subject from ip, of subject from every
// IP when ip is empty, or of ip's per-IP budget when subject is empty. It
// returns how many rows it removed.
func (s *State) Unblock(ctx context.Context, subject, ip string) (int64, error) {
	var res sql.Result
	var err error
	switch {
	case subject != "" && ip != "":
		res, err = s.execResult(ctx, `DELETE FROM claimgate_login_failures WHERE subject = ? AND (ip = ? OR ip = ?)`,
			subject, ip, accountWideIP)
	case subject != "":
		res, err = s.execResult(ctx, `DELETE FROM claimgate_login_failures WHERE subject = ?`, subject)
	case ip != "":
		res, err = s.execResult(ctx, `DELETE FROM claimgate_ip_failures WHERE ip = ?`, ip)
	default:
		return 0, errors.New("unblock needs a user, an IP or both")
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
