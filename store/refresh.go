package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// Refresh-token errors. Both answer invalid_grant.
var (
	// ErrRefreshInvalid means the token is unknown, expired, idle too long,
	// revoked, or belongs to another client.
	ErrRefreshInvalid = errors.New("refresh token is invalid")
	// ErrRefreshReused means an already rotated token was presented: its
	// whole family has been revoked, since either the client or an attacker
	// holds a stolen copy.
	ErrRefreshReused = errors.New("rotated refresh token reused; family revoked")
)

// MaxActiveRefreshTokens is how many refresh-token families one user may
// hold for one client; the least recently used are revoked beyond it.
const MaxActiveRefreshTokens = 200

// RefreshGrant is what a refresh token stands for: enough to re-read the
// user and mint a new access token with the same audience and scope.
type RefreshGrant struct {
	FamilyID     string
	UserID       string
	Username     string
	ClientID     string
	Audience     string
	Scope        string
	Organization string
	// FamilyExpiresAt is the absolute end of the family; rotation keeps it.
	FamilyExpiresAt time.Time
}

// NewRefreshToken returns a random opaque token (256 bits, base64url).
func NewRefreshToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating refresh token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// refreshHash is how a token is stored: its SHA-256, so a copy of the table
// does not hold usable tokens.
func refreshHash(raw string) string { return hashHex("refresh:" + raw) }

// CreateRefresh stores raw as the first token of a new family for grant
// (FamilyID is set here), then revokes the user's least recently used
// families for this client beyond MaxActiveRefreshTokens.
func (s *State) CreateRefresh(ctx context.Context, raw string, grant RefreshGrant, now time.Time) error {
	grant.FamilyID = refreshHash("family:" + raw)
	if err := s.insertRefresh(ctx, raw, grant, now); err != nil {
		return err
	}
	return s.trimFamilies(ctx, grant.UserID, grant.ClientID, now)
}

func (s *State) insertRefresh(ctx context.Context, raw string, g RefreshGrant, now time.Time) error {
	return s.exec(ctx, `INSERT INTO claimgate_refresh_tokens
(token_hash, family_id, user_id, username, client_id, audience, scope, organization,
 created_at, last_used_at, family_expires_at, rotated_at, revoked_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)`,
		refreshHash(raw), g.FamilyID, g.UserID, g.Username, g.ClientID, g.Audience, g.Scope, g.Organization,
		now.Unix(), now.Unix(), g.FamilyExpiresAt.Unix())
}

// trimFamilies revokes the active tokens beyond the newest
// MaxActiveRefreshTokens of one user and client (one active token per
// family, so this counts families).
func (s *State) trimFamilies(ctx context.Context, userID, clientID string, now time.Time) error {
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.QueryContext(qctx, `SELECT family_id FROM claimgate_refresh_tokens
WHERE user_id = ? AND client_id = ? AND rotated_at = 0 AND revoked_at = 0 AND family_expires_at > ?
ORDER BY last_used_at DESC, token_hash LIMIT 1000 OFFSET ?`,
		userID, clientID, now.Unix(), MaxActiveRefreshTokens)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var stale []string
	for rows.Next() {
		var family string
		if err := rows.Scan(&family); err != nil {
			rows.Close()
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		stale = append(stale, family)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	for _, family := range stale {
		if err := s.revokeFamily(ctx, family, now); err != nil {
			return err
		}
	}
	return nil
}

func (s *State) revokeFamily(ctx context.Context, family string, now time.Time) error {
	return s.exec(ctx, `UPDATE claimgate_refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at = 0`,
		now.Unix(), family)
}

// RotateRefresh exchanges oldRaw for newRaw. The conditional UPDATE decides
// the winner: of two concurrent rotations of one token exactly one changes
// the row. Presenting a token that was already rotated revokes its family
// (ErrRefreshReused), as Auth0's rotation does; a token past its absolute or
// idle lifetime, revoked, or issued to another client is ErrRefreshInvalid.
func (s *State) RotateRefresh(ctx context.Context, oldRaw, newRaw, clientID string, now time.Time, idle time.Duration) (RefreshGrant, error) {
	oldHash := refreshHash(oldRaw)
	idleSince := int64(0)
	if idle > 0 {
		idleSince = now.Add(-idle).Unix()
	}
	res, err := s.execResult(ctx, `UPDATE claimgate_refresh_tokens SET rotated_at = ?
WHERE token_hash = ? AND client_id = ? AND rotated_at = 0 AND revoked_at = 0
  AND family_expires_at > ? AND last_used_at > ?`,
		now.Unix(), oldHash, clientID, now.Unix(), idleSince)
	if err != nil {
		return RefreshGrant{}, err
	}
	won, err := res.RowsAffected()
	if err != nil {
		return RefreshGrant{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	grant, rotatedAt, err := s.loadRefresh(ctx, oldHash)
	if err != nil {
		return RefreshGrant{}, err
	}
	if won != 1 {
		return RefreshGrant{}, s.refuseRefresh(ctx, grant, rotatedAt, clientID, now)
	}
	if err := s.insertRefresh(ctx, newRaw, grant, now); err != nil {
		return RefreshGrant{}, err
	}
	if err := s.reviveGuard(ctx, grant.FamilyID, now); err != nil {
		return RefreshGrant{}, err
	}
	return grant, nil
}

// reviveGuard closes the race between a rotation and a revocation of the
// same family: a revocation (reuse detected by a concurrent loser, or
// RFC 7009) that ran after this rotation's UPDATE but before its INSERT did
// not see the new token. Revocation marks every row it finds, the rotated
// one included, so a marked row after the INSERT means the family is dead:
// revoke again, which now covers the new token. The rotation still counts
// as the one winner; its new token is simply revoked with its family.
func (s *State) reviveGuard(ctx context.Context, family string, now time.Time) error {
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var revoked int
	err := s.db.QueryRowContext(qctx, `SELECT COUNT(*) FROM claimgate_refresh_tokens
WHERE family_id = ? AND revoked_at <> 0`, family).Scan(&revoked)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if revoked == 0 {
		return nil
	}
	return s.revokeFamily(ctx, family, now)
}

// refuseRefresh explains a lost rotation, revoking the family on reuse.
func (s *State) refuseRefresh(ctx context.Context, g RefreshGrant, rotatedAt int64, clientID string, now time.Time) error {
	if g.ClientID != clientID {
		// Another client's token: refuse, but do not let an unrelated
		// client revoke the owner's session.
		return ErrRefreshInvalid
	}
	if rotatedAt != 0 {
		if err := s.revokeFamily(ctx, g.FamilyID, now); err != nil {
			return err
		}
		return ErrRefreshReused
	}
	return ErrRefreshInvalid
}

// LookupRefresh returns the grant raw stands for without using the token,
// so that a refresh request can be checked (its scope against the family's,
// the user re-read) before RotateRefresh spends the token. It does not say
// whether the token is still usable: RotateRefresh decides that atomically.
// An unknown token is ErrRefreshInvalid.
func (s *State) LookupRefresh(ctx context.Context, raw string) (RefreshGrant, error) {
	g, _, err := s.loadRefresh(ctx, refreshHash(raw))
	return g, err
}

// loadRefresh reads a token's grant; an unknown token is ErrRefreshInvalid.
func (s *State) loadRefresh(ctx context.Context, tokenHash string) (RefreshGrant, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var g RefreshGrant
	var expires, rotatedAt int64
	err := s.db.QueryRowContext(ctx, `SELECT family_id, user_id, username, client_id, audience, scope, organization,
family_expires_at, rotated_at FROM claimgate_refresh_tokens WHERE token_hash = ?`, tokenHash).Scan(
		&g.FamilyID, &g.UserID, &g.Username, &g.ClientID, &g.Audience, &g.Scope, &g.Organization,
		&expires, &rotatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return RefreshGrant{}, 0, ErrRefreshInvalid
	}
	if err != nil {
		return RefreshGrant{}, 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	g.FamilyExpiresAt = time.Unix(expires, 0)
	return g, rotatedAt, nil
}

// RevokeRefresh revokes the family of raw when it was issued to clientID
// (RFC 7009 §2.1: a client may only revoke its own tokens). Unknown tokens
// and other clients' tokens are ignored, as the caller answers 200 anyway.
func (s *State) RevokeRefresh(ctx context.Context, raw, clientID string, now time.Time) error {
	g, _, err := s.loadRefresh(ctx, refreshHash(raw))
	if errors.Is(err, ErrRefreshInvalid) {
		return nil
	}
	if err != nil {
		return err
	}
	if g.ClientID != clientID {
		return nil
	}
	return s.revokeFamily(ctx, g.FamilyID, now)
}

// RevokeUser revokes every refresh token of a user (all clients), e.g. when
// a deny rule now refuses them.
func (s *State) RevokeUser(ctx context.Context, userID string, now time.Time) error {
	return s.exec(ctx, `UPDATE claimgate_refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at = 0`,
		now.Unix(), userID)
}

// Purge deletes refresh tokens whose family expired before now-grace and
// failure rows idle for longer than keep, so the tables stay small.
func (s *State) Purge(ctx context.Context, now time.Time, keep time.Duration) error {
	cutoff := now.Add(-keep).Unix()
	if err := s.exec(ctx, `DELETE FROM claimgate_refresh_tokens WHERE family_expires_at < ?`, cutoff); err != nil {
		return err
	}
	if err := s.exec(ctx, `DELETE FROM claimgate_login_failures WHERE updated_at < ? AND blocked_until < ?`,
		cutoff, now.Unix()); err != nil {
		return err
	}
	return s.exec(ctx, `DELETE FROM claimgate_ip_failures WHERE updated_at < ?`, now.Add(-48*time.Hour).Unix())
}
