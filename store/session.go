package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Sign-in (SSO) sessions live in claimgate_sessions: one row per browser
// sign-in, keyed by the hash of the cookie's random value, so that ending a
// session on one instance ends it on all, and a copy of the table holds no
// usable cookie.

// ErrSessionInvalid means a session is unknown, expired, idle too long or
// ended.
var ErrSessionInvalid = errors.New("sign-in session is invalid")

// Session is a sign-in session.
type Session struct {
	// SID is the session's public id (the ID token's sid): a hash of the
	// cookie value, never the value itself.
	SID    string
	UserID string
	// Username is the login name the user signed in with.
	Username string
	// PasswordFingerprint is PasswordFingerprint of the hash the user
	// signed in with: a password change ends the session.
	PasswordFingerprint string
	AuthTime            time.Time
	ExpiresAt           time.Time
}

// NewSessionID returns a random session cookie value (256 bits).
func NewSessionID() (string, error) { return NewRefreshToken() }

func sessionHash(raw string) string { return hashHex("session:" + raw) }

// SessionSID is the public id of the session raw.
func SessionSID(raw string) string { return hashHex("sid:" + raw) }

// CreateSession stores the session raw (sess.SID is set from raw).
func (s *State) CreateSession(ctx context.Context, raw string, sess Session, now time.Time) error {
	return s.exec(ctx, `INSERT INTO claimgate_sessions
(session_hash, sid, user_id, username, password_fp, created_at, last_used_at, auth_time, expires_at, revoked_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
		sessionHash(raw), SessionSID(raw), sess.UserID, sess.Username, sess.PasswordFingerprint,
		now.Unix(), now.Unix(), sess.AuthTime.Unix(), sess.ExpiresAt.Unix())
}

// UseSession returns the live session raw and records its use now: one
// conditional UPDATE refuses a session past its absolute lifetime, idle
// longer than idle (0: no idle limit) or ended, so instances agree.
func (s *State) UseSession(ctx context.Context, raw string, now time.Time, idle time.Duration) (Session, error) {
	idleSince := int64(0)
	if idle > 0 {
		idleSince = now.Add(-idle).Unix()
	}
	h := sessionHash(raw)
	if err := s.exec(ctx, `UPDATE claimgate_sessions SET last_used_at = ?
WHERE session_hash = ? AND revoked_at = 0 AND expires_at > ? AND last_used_at > ?`,
		now.Unix(), h, now.Unix(), idleSince); err != nil {
		return Session{}, err
	}
	// Read with the same conditions rather than trusting the affected-row
	// count: MySQL counts a row whose values did not change (a second use
	// within the same second) as unaffected.
	return s.loadLiveSession(ctx, h, now, idleSince)
}

func (s *State) loadLiveSession(ctx context.Context, h string, now time.Time, idleSince int64) (Session, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var sess Session
	var authTime, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT sid, user_id, username, password_fp, auth_time, expires_at
FROM claimgate_sessions
WHERE session_hash = ? AND revoked_at = 0 AND expires_at > ? AND last_used_at > ?`,
		h, now.Unix(), idleSince).Scan(&sess.SID, &sess.UserID, &sess.Username, &sess.PasswordFingerprint,
		&authTime, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrSessionInvalid
	}
	if err != nil {
		return Session{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	sess.AuthTime, sess.ExpiresAt = time.Unix(authTime, 0), time.Unix(expires, 0)
	return sess, nil
}

// EndSession ends the session raw; an unknown or ended one is no error.
func (s *State) EndSession(ctx context.Context, raw string, now time.Time) error {
	return s.exec(ctx, `UPDATE claimgate_sessions SET revoked_at = ? WHERE session_hash = ? AND revoked_at = 0`,
		now.Unix(), sessionHash(raw))
}

// SessionPasswordAccepted reports whether a session begun under the
// password fingerprinted issued may continue with the user's current hash:
// the same, or claimgate's own rehash of it (as for refresh families).
func (s *State) SessionPasswordAccepted(ctx context.Context, userID, issued, currentHash string) (bool, error) {
	return s.passwordAccepted(ctx, userID, issued, PasswordFingerprint(currentHash))
}
