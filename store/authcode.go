package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Authorization codes (RFC 6749 §4.1) live in claimgate_auth_codes, stored
// only as a hash, so that whichever instance a token request reaches can
// redeem a code another instance issued, and a copy of the table holds no
// usable code.
//
// A code is redeemed by one conditional UPDATE (used_at = 0 → now): of two
// concurrent redemptions exactly one changes the row. The loser marks the
// code reused and revokes the refresh-token family issued from it (RFC 6749
// §4.1.2): that family's id is derived from the code, so it can be revoked
// even before the winner has created it, and the winner checks the mark
// after creating it (ConfirmCodeFamily).

// ErrCodeInvalid means an authorization code is unknown, expired or
// already used. ErrCodeReused (a second redemption) wraps it.
var ErrCodeInvalid = errors.New("authorization code is invalid")

// ErrCodeReused means a code was presented after it had been redeemed: the
// refresh-token family issued from it has been revoked.
var ErrCodeReused = fmt.Errorf("%w: code used twice; tokens issued from it revoked", ErrCodeInvalid)

// AuthCode is what an authorization code stands for.
type AuthCode struct {
	ClientID      string
	RedirectURI   string
	CodeChallenge string // S256 challenge, "" when none was sent
	Nonce         string
	Scope         string
	Audience      string
	Organization  string
	UserID        string
	// Username is the login name the user signed in with: refresh tokens
	// issued from the code re-read the user by it when there is no
	// user_id_query.
	Username string
	// SessionID is the public id of the SSO session (the ID token's sid).
	SessionID string
	AuthTime  time.Time
	ExpiresAt time.Time
}

// NewCode returns a random authorization code (256 bits, base64url); it is
// NewRefreshToken's kind of value under another name.
func NewCode() (string, error) { return NewRefreshToken() }

// codeHash is how a code is stored.
func codeHash(raw string) string { return hashHex("code:" + raw) }

// CodeFamilyID is the id of the refresh-token family issued from the code
// raw: derived from it, so that a second redemption can revoke the family
// without a lookup that might race its creation.
func CodeFamilyID(raw string) string { return hashHex("code-family:" + raw) }

// CreateCode stores raw for c.
func (s *State) CreateCode(ctx context.Context, raw string, c AuthCode, now time.Time) error {
	return s.exec(ctx, `INSERT INTO claimgate_auth_codes
(code_hash, client_id, redirect_uri, code_challenge, nonce, scope, audience, organization,
 user_id, username, session_id, auth_time, created_at, expires_at, used_at, reused_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)`,
		codeHash(raw), c.ClientID, c.RedirectURI, c.CodeChallenge, c.Nonce, c.Scope, c.Audience, c.Organization,
		c.UserID, c.Username, c.SessionID, c.AuthTime.Unix(), now.Unix(), c.ExpiresAt.Unix())
}

// RedeemCode spends raw for clientID and returns what it stands for. The
// caller checks the rest (redirect_uri, PKCE) against the result: the code
// is spent either way, as a failed check may be an attacker's attempt.
// A code of another client is ErrCodeInvalid without being spent. A code
// used before is ErrCodeReused, after marking it and revoking the family
// issued from it.
func (s *State) RedeemCode(ctx context.Context, raw, clientID string, now time.Time) (AuthCode, error) {
	h := codeHash(raw)
	res, err := s.execResult(ctx, `UPDATE claimgate_auth_codes SET used_at = ?
WHERE code_hash = ? AND client_id = ? AND used_at = 0 AND expires_at > ?`,
		now.Unix(), h, clientID, now.Unix())
	if err != nil {
		return AuthCode{}, err
	}
	won, err := res.RowsAffected()
	if err != nil {
		return AuthCode{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	c, usedAt, err := s.loadCode(ctx, h)
	if err != nil {
		return AuthCode{}, err
	}
	if won == 1 {
		return c, nil
	}
	if c.ClientID != clientID || usedAt == 0 {
		// Another client's (it must not be able to burn the owner's
		// code), or expired.
		return AuthCode{}, ErrCodeInvalid
	}
	if err := s.exec(ctx, `UPDATE claimgate_auth_codes SET reused_at = ? WHERE code_hash = ? AND reused_at = 0`,
		now.Unix(), h); err != nil {
		return AuthCode{}, err
	}
	if err := s.revokeFamily(ctx, CodeFamilyID(raw), now); err != nil {
		return AuthCode{}, err
	}
	return AuthCode{}, ErrCodeReused
}

// ConfirmCodeFamily is called by a redemption after it created the
// refresh-token family of code raw: when a second redemption marked the
// code meanwhile, it may have run its revocation before the family existed,
// so the family is revoked now and ErrCodeReused returned.
func (s *State) ConfirmCodeFamily(ctx context.Context, raw string, now time.Time) error {
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var reusedAt int64
	err := s.db.QueryRowContext(qctx, `SELECT reused_at FROM claimgate_auth_codes WHERE code_hash = ?`,
		codeHash(raw)).Scan(&reusedAt)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if reusedAt == 0 {
		return nil
	}
	if err := s.revokeFamily(ctx, CodeFamilyID(raw), now); err != nil {
		return err
	}
	return ErrCodeReused
}

// CreateRefreshFamily is CreateRefresh with the family id the caller chose
// (g.FamilyID, e.g. CodeFamilyID).
func (s *State) CreateRefreshFamily(ctx context.Context, raw string, g RefreshGrant, now time.Time) error {
	if g.FamilyID == "" {
		return errors.New("CreateRefreshFamily needs a family id")
	}
	if err := s.insertRefresh(ctx, raw, g, now); err != nil {
		return err
	}
	return s.trimFamilies(ctx, g.UserID, g.ClientID, now)
}

func (s *State) loadCode(ctx context.Context, h string) (AuthCode, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var c AuthCode
	var authTime, expires, usedAt int64
	err := s.db.QueryRowContext(ctx, `SELECT client_id, redirect_uri, code_challenge, nonce, scope, audience,
organization, user_id, username, session_id, auth_time, expires_at, used_at
FROM claimgate_auth_codes WHERE code_hash = ?`, h).Scan(
		&c.ClientID, &c.RedirectURI, &c.CodeChallenge, &c.Nonce, &c.Scope, &c.Audience,
		&c.Organization, &c.UserID, &c.Username, &c.SessionID, &authTime, &expires, &usedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return AuthCode{}, 0, ErrCodeInvalid
	}
	if err != nil {
		return AuthCode{}, 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	c.AuthTime, c.ExpiresAt = time.Unix(authTime, 0), time.Unix(expires, 0)
	return c, usedAt, nil
}

// purgeBrowser deletes authorization codes and sign-in sessions that ended
// before cutoff. Used codes are kept until then so that a late second
// redemption is still recognised as reuse.
func (s *State) purgeBrowser(ctx context.Context, cutoff int64) error {
	if err := s.exec(ctx, `DELETE FROM claimgate_auth_codes WHERE expires_at < ?`, cutoff); err != nil {
		return err
	}
	return s.exec(ctx, `DELETE FROM claimgate_sessions WHERE expires_at < ? OR (revoked_at > 0 AND revoked_at < ?)`,
		cutoff, cutoff)
}

// browserSchemaStatements is the DDL of the tables of browser sign-in,
// part of SchemaStatements.
func browserSchemaStatements() []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS claimgate_auth_codes (
	code_hash CHAR(64) NOT NULL,
	client_id VARCHAR(255) NOT NULL,
	redirect_uri VARCHAR(2048) NOT NULL,
	code_challenge VARCHAR(128) NOT NULL,
	nonce VARCHAR(512) NOT NULL,
	scope VARCHAR(2048) NOT NULL,
	audience VARCHAR(1024) NOT NULL,
	organization VARCHAR(255) NOT NULL,
	user_id VARCHAR(255) NOT NULL,
	username VARCHAR(1024) NOT NULL,
	session_id CHAR(64) NOT NULL,
	auth_time BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at BIGINT NOT NULL DEFAULT 0,
	reused_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (code_hash)
)`,
		`CREATE TABLE IF NOT EXISTS claimgate_sessions (
	session_hash CHAR(64) NOT NULL,
	sid CHAR(64) NOT NULL,
	user_id VARCHAR(255) NOT NULL,
	username VARCHAR(1024) NOT NULL,
	password_fp CHAR(64) NOT NULL,
	created_at BIGINT NOT NULL,
	last_used_at BIGINT NOT NULL,
	auth_time BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	revoked_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (session_hash),
	INDEX claimgate_sessions_user (user_id)
)`,
	}
}

// browserTables are the tables of browser sign-in, for CheckSchema.
var browserTables = []string{"claimgate_auth_codes", "claimgate_sessions"}
