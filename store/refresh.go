package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/claimgate/claimgate/internal/randtoken"
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
	// ErrPasswordChanged means the user's stored password hash is no longer
	// the one the family began under (nor one claimgate's own rehash put in
	// its place): a password change or reset ends every session. The family
	// has been revoked. errors.Is(err, ErrRefreshInvalid) holds too.
	ErrPasswordChanged = fmt.Errorf("%w: the password changed; family revoked", ErrRefreshInvalid)
)

// MaxActiveRefreshTokens is how many refresh-token families one user may
// hold for one client; the least recently used are revoked beyond it.
const MaxActiveRefreshTokens = 200

// MaxRotatedRefreshTokens is how many rotated (spent) tokens a family keeps
// for reuse detection; older ones are deleted at each rotation, so a client
// refreshing in a loop cannot grow the table without bound. A pruned token
// presented again is simply unknown (ErrRefreshInvalid).
const MaxRotatedRefreshTokens = 100

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
	// PasswordFingerprint is PasswordFingerprint(user.PasswordHash) of the
	// password the family was issued (or last rotated) under. Set it when
	// creating a family; Rotate compares it with the user's current hash.
	// Empty (families from before this field) passes one check and is then
	// set.
	PasswordFingerprint string
}

// PasswordFingerprint is what a refresh-token family stores of the user's
// password hash: its SHA-256, never the hash itself.
func PasswordFingerprint(passwordHash string) string { return hashHex("password:" + passwordHash) }

// NewRefreshToken returns a random opaque token (256 bits, base64url).
func NewRefreshToken() (string, error) { return randtoken.Secret(), nil }

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
 created_at, last_used_at, family_expires_at, rotated_at, revoked_at, password_fp)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?)`,
		refreshHash(raw), g.FamilyID, g.UserID, g.Username, g.ClientID, g.Audience, g.Scope, g.Organization,
		now.Unix(), now.Unix(), g.FamilyExpiresAt.Unix(), g.PasswordFingerprint)
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

// Rotation is one refresh-token exchange, for Rotate.
type Rotation struct {
	OldToken string // the refresh token presented
	NewToken string // from NewRefreshToken
	ClientID string // the authenticated client
	// PasswordHash is the user's stored password hash, as just re-read
	// (FindUserByID, or FindUser with the grant's Username).
	PasswordHash string
	Now          time.Time
	IdleTTL      time.Duration // 0: no idle limit
}

// Rotate exchanges r.OldToken for r.NewToken, as RotateRefresh does, and
// also ends the family when the user's password changed: if r.PasswordHash
// is neither the hash the family was issued under nor one that claimgate's
// own rehash put in its place (RecordRehash, UpgradePassword), the family
// is revoked and ErrPasswordChanged returned. Callers: LookupRefresh, re-read
// the user, check what the request asks for, then Rotate; answer
// invalid_grant to ErrRefreshInvalid (ErrPasswordChanged included) and
// ErrRefreshReused, 503 to ErrUnavailable.
//
// The new token's row records r.PasswordHash's fingerprint, so a family
// follows its user through claimgate's rehashes, and one issued before
// fingerprints existed adopts the current password at its first rotation.
// Spent tokens beyond MaxRotatedRefreshTokens are pruned.
func (s *State) Rotate(ctx context.Context, r Rotation) (RefreshGrant, error) {
	return s.rotate(ctx, r, true)
}

// RotateRefresh exchanges oldRaw for newRaw. The conditional UPDATE decides
// the winner: of two concurrent rotations of one token exactly one changes
// the row. Presenting a token that was already rotated revokes its family
// (ErrRefreshReused), as Auth0's rotation does; a token past its absolute or
// idle lifetime, revoked, or issued to another client is ErrRefreshInvalid.
//
// Deprecated: it cannot tell a changed password; use Rotate.
func (s *State) RotateRefresh(ctx context.Context, oldRaw, newRaw, clientID string, now time.Time, idle time.Duration) (RefreshGrant, error) {
	return s.rotate(ctx, Rotation{OldToken: oldRaw, NewToken: newRaw, ClientID: clientID, Now: now, IdleTTL: idle}, false)
}

func (s *State) rotate(ctx context.Context, r Rotation, checkPassword bool) (RefreshGrant, error) {
	oldHash := refreshHash(r.OldToken)
	grant, _, err := s.loadRefresh(ctx, oldHash)
	if err != nil {
		return RefreshGrant{}, err
	}
	if checkPassword {
		if err := s.checkFamilyPassword(ctx, grant, r); err != nil {
			return RefreshGrant{}, err
		}
		grant.PasswordFingerprint = PasswordFingerprint(r.PasswordHash)
	}
	won, err := s.spend(ctx, oldHash, r)
	if err != nil {
		return RefreshGrant{}, err
	}
	if !won {
		// Reread: the row changed since (rotated, revoked) or is stale.
		g, rotatedAt, err := s.loadRefresh(ctx, oldHash)
		if err != nil {
			return RefreshGrant{}, err
		}
		return RefreshGrant{}, s.refuseRefresh(ctx, g, rotatedAt, r.ClientID, r.Now)
	}
	if err := s.insertRefresh(ctx, r.NewToken, grant, r.Now); err != nil {
		return RefreshGrant{}, err
	}
	if err := s.reviveGuard(ctx, grant.FamilyID, r.Now); err != nil {
		return RefreshGrant{}, err
	}
	if err := s.pruneFamily(ctx, grant.FamilyID); err != nil {
		return RefreshGrant{}, err
	}
	return grant, nil
}

// spend marks the old token rotated if it is still usable: live, this
// client's, within its lifetimes. Of concurrent rotations one wins.
func (s *State) spend(ctx context.Context, oldHash string, r Rotation) (bool, error) {
	idleSince := int64(0)
	if r.IdleTTL > 0 {
		idleSince = r.Now.Add(-r.IdleTTL).Unix()
	}
	res, err := s.execResult(ctx, `UPDATE claimgate_refresh_tokens SET rotated_at = ?
WHERE token_hash = ? AND client_id = ? AND rotated_at = 0 AND revoked_at = 0
  AND family_expires_at > ? AND last_used_at > ?`,
		r.Now.Unix(), oldHash, r.ClientID, r.Now.Unix(), idleSince)
	if err != nil {
		return false, err
	}
	won, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return won == 1, nil
}

// checkFamilyPassword revokes g's family, with ErrPasswordChanged, when
// r.PasswordHash is not a password the family may continue under. Another
// client's token is left to spend to refuse: an unrelated client must not
// end the owner's session.
func (s *State) checkFamilyPassword(ctx context.Context, g RefreshGrant, r Rotation) error {
	if g.ClientID != r.ClientID {
		return nil
	}
	ok, err := s.passwordAccepted(ctx, g.UserID, g.PasswordFingerprint, PasswordFingerprint(r.PasswordHash))
	if err != nil || ok {
		return err
	}
	if err := s.revokeFamily(ctx, g.FamilyID, r.Now); err != nil {
		return err
	}
	return ErrPasswordChanged
}

// passwordAccepted reports whether a family issued under the password
// fingerprinted issued may continue with the user's current one: the same,
// or claimgate's own rehash of it (recorded before the rehash ran), or a
// family from before fingerprints.
func (s *State) passwordAccepted(ctx context.Context, userID, issued, current string) (bool, error) {
	if issued == "" || issued == current {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM claimgate_password_rehashes
WHERE user_id = ? AND old_fp = ? AND new_fp = ?`, userID, issued, current).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return n > 0, nil
}

// RecordRehash records that claimgate is about to replace the user's
// password hash oldHash by newHash (its own rehash, not a password change),
// so that Rotate lets the user's families continue under newHash. Call it
// BEFORE rehash_query runs — a refresh between the two then still passes —
// or use UpgradePassword, which does both in that order. A record whose
// rehash then changes nothing (the password changed meanwhile) is harmless:
// newHash, freshly salted, is never anyone's stored hash.
//
// Recording it after the rehash, or moving families' fingerprints instead,
// would leave a moment in which a refresh sees the new hash and revokes a
// family that did nothing wrong.
func (s *State) RecordRehash(ctx context.Context, userID, oldHash, newHash string, now time.Time) error {
	oldFP, newFP := PasswordFingerprint(oldHash), PasswordFingerprint(newHash)
	if err := s.exec(ctx, `INSERT IGNORE INTO claimgate_password_rehashes (user_id, old_fp, new_fp, created_at)
VALUES (?, ?, ?, ?)`, userID, oldFP, newFP, now.Unix()); err != nil {
		return err
	}
	// A family that has not rotated since an earlier rehash (X → old)
	// may continue under new too.
	return s.exec(ctx, `INSERT IGNORE INTO claimgate_password_rehashes (user_id, old_fp, new_fp, created_at)
SELECT user_id, old_fp, ?, ? FROM claimgate_password_rehashes WHERE user_id = ? AND new_fp = ?`,
		newFP, now.Unix(), userID, oldFP)
}

// UpgradePassword is claimgate's lazy rehash: it records the rehash on
// state (RecordRehash; skipped when state is nil), then runs users'
// rehash_query (RehashPassword), which stores newHash only if verifiedHash
// is still the stored hash. updated is false when a concurrent password
// change won, which is not an error. When the record cannot be written the
// rehash is not attempted: an upgrade is not worth ending sessions for.
func UpgradePassword(ctx context.Context, users *Store, state *State, userID, verifiedHash, newHash string, now time.Time) (updated bool, err error) {
	if state != nil {
		if err := state.RecordRehash(ctx, userID, verifiedHash, newHash, now); err != nil {
			return false, fmt.Errorf("recording the rehash: %w", err)
		}
	}
	return users.RehashPassword(ctx, userID, verifiedHash, newHash)
}

// pruneFamily deletes the family's spent tokens beyond the newest
// MaxRotatedRefreshTokens. The live token (rotated_at = 0) is never
// touched. Found by position and deleted by range, two statements that
// every server runs (MySQL refuses LIMIT inside IN subqueries).
func (s *State) pruneFamily(ctx context.Context, family string) error {
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var rotatedAt int64
	var tokenHash string
	err := s.db.QueryRowContext(qctx, `SELECT rotated_at, token_hash FROM claimgate_refresh_tokens
WHERE family_id = ? AND rotated_at <> 0 ORDER BY rotated_at DESC, token_hash DESC LIMIT 1 OFFSET ?`,
		family, MaxRotatedRefreshTokens).Scan(&rotatedAt, &tokenHash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return s.exec(ctx, `DELETE FROM claimgate_refresh_tokens
WHERE family_id = ? AND rotated_at <> 0 AND (rotated_at < ? OR (rotated_at = ? AND token_hash <= ?))`,
		family, rotatedAt, rotatedAt, tokenHash)
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
family_expires_at, rotated_at, password_fp FROM claimgate_refresh_tokens WHERE token_hash = ?`, tokenHash).Scan(
		&g.FamilyID, &g.UserID, &g.Username, &g.ClientID, &g.Audience, &g.Scope, &g.Organization,
		&expires, &rotatedAt, &g.PasswordFingerprint)
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
	if err := s.purgeBrowser(ctx, cutoff); err != nil {
		return err
	}
	if err := s.exec(ctx, `DELETE FROM claimgate_login_failures WHERE updated_at < ? AND blocked_until < ?`,
		cutoff, now.Unix()); err != nil {
		return err
	}
	// A rehash record is needed while a live token still carries the old
	// password; an hour's grace covers a family being created as it is
	// recorded.
	if err := s.exec(ctx, `DELETE FROM claimgate_password_rehashes WHERE created_at < ? AND (user_id, old_fp) NOT IN (
	SELECT user_id, password_fp FROM claimgate_refresh_tokens WHERE rotated_at = 0 AND revoked_at = 0)`,
		now.Add(-time.Hour).Unix()); err != nil {
		return err
	}
	return s.exec(ctx, `DELETE FROM claimgate_ip_failures WHERE updated_at < ?`, now.Add(-48*time.Hour).Unix())
}
