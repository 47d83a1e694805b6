package grant

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/claimgate/claimgate/store"
)

// Refresh tokens and revocation, on the claimgate_ state tables
// (store.State).
//
// A login with offline_access, by a client with the refresh_token grant,
// starts a family: an opaque random token (256 bits) stored only as its
// SHA-256, valid for the refresh-token TTL from the login (rotation does not
// extend it) and refused after the idle TTL unused. Each use rotates it;
// presenting an already rotated token revokes the family (a stolen copy is
// in use, or a client raced itself: the server cannot tell).
//
// A refresh re-reads the user, the roles and organization, and re-runs the
// rules, so role changes take effect and a user who is gone, blocked, no
// longer a member or now denied gets ErrInvalidRefresh (and the family is
// revoked). All of that, and minting, happens BEFORE the rotation: a
// database failure or a refused request leaves the presented token usable,
// and the rotation (a conditional UPDATE, so of two concurrent uses exactly
// one wins) is the last step before the answer.

// RefreshRequest is a refresh grant after client authentication.
type RefreshRequest struct {
	Client *Client
	// Token is the presented refresh token; never logged.
	Token string
	// Scope is the requested scope ("" keeps the family's).
	Scope string
}

// issueRefreshToken starts a refresh-token family for this login and
// returns the token.
func (s *Service) issueRefreshToken(ctx context.Context, req *PasswordRequest, user *store.User, now time.Time) (string, error) {
	raw, err := store.NewRefreshToken()
	if err != nil {
		return "", mintUnavailable("Cannot issue a refresh token right now.", err)
	}
	if err := s.cfg.StateReady(ctx); err != nil {
		return "", stateUnavailable(err)
	}
	g := store.RefreshGrant{
		UserID:          user.ID,
		Username:        req.Username,
		ClientID:        req.Client.ID,
		Audience:        req.Audience,
		Scope:           strings.Join(req.Scopes, " "),
		Organization:    req.Organization,
		FamilyExpiresAt: now.Add(s.cfg.RefreshTokenTTL),
		// A password change (the stored hash no longer this one, and not
		// claimgate's own rehash) ends the family at its next use.
		PasswordFingerprint: store.PasswordFingerprint(user.PasswordHash),
	}
	if err := s.cfg.State.CreateRefresh(ctx, raw, g, now); err != nil {
		return "", mintUnavailable("Cannot issue a refresh token right now.", err)
	}
	return raw, nil
}

// refreshStoreError maps a state-store error of a refresh.
func refreshStoreError(err error) error {
	if errors.Is(err, store.ErrRefreshInvalid) || errors.Is(err, store.ErrRefreshReused) {
		return invalidRefresh(err)
	}
	return stateUnavailable(err)
}

// Refresh redeems a refresh token: new access (and ID) token, and the
// rotated refresh token. A refusal once the token's family is known names
// its user (UserError), for the audit events.
func (s *Service) Refresh(ctx context.Context, req *RefreshRequest) (*Tokens, error) {
	if err := s.cfg.StateReady(ctx); err != nil {
		return nil, stateUnavailable(err)
	}
	g, err := s.cfg.State.LookupRefresh(ctx, req.Token)
	if err != nil {
		return nil, refreshStoreError(err)
	}
	toks, err := s.refresh(ctx, req, g)
	return toks, withUser(g.UserID, err)
}

// refresh is Refresh once the family g of the presented token is known.
func (s *Service) refresh(ctx context.Context, req *RefreshRequest, g store.RefreshGrant) (*Tokens, error) {
	if g.ClientID != req.Client.ID {
		// Refused without revoking: another client must not be able to end
		// the owner's session (RotateRefresh refuses it the same way).
		return nil, invalidRefresh(errors.New("refresh token of another client"))
	}
	scopes, err := refreshScopes(req.Client, g.Scope, req.Scope)
	if err != nil {
		return nil, err
	}
	if !req.Client.AllowsAudience(g.Audience) {
		// The client's configuration changed since the login.
		return nil, invalidRefresh(errors.New("audience no longer allowed for the client"))
	}

	now := s.cfg.Now()
	toks, user, err := s.reissue(ctx, req, g, scopes, now)
	if err != nil {
		return nil, err
	}
	newRaw, err := store.NewRefreshToken()
	if err != nil {
		return nil, mintUnavailable("Cannot issue a refresh token right now.", err)
	}
	rotation := store.Rotation{OldToken: req.Token, NewToken: newRaw, ClientID: req.Client.ID,
		PasswordHash: user.PasswordHash, Now: now, IdleTTL: s.cfg.RefreshTokenIdleTTL}
	if _, err := s.cfg.State.Rotate(ctx, rotation); err != nil {
		if errors.Is(err, store.ErrPasswordChanged) {
			s.cfg.Logger.Info("the password changed since the refresh-token family began; family revoked",
				zap.String("user_id", g.UserID), zap.String("client_id", req.Client.ID))
		}
		if errors.Is(err, store.ErrRefreshReused) {
			s.cfg.Observer.RefreshReused()
			s.cfg.Logger.Warn("rotated refresh token presented again; its family is revoked",
				zap.String("user_id", g.UserID), zap.String("client_id", req.Client.ID))
		}
		return nil, refreshStoreError(err)
	}
	toks.RefreshToken = newRaw
	s.cfg.Logger.Debug("refresh", zap.String("user_id", g.UserID), zap.String("client_id", req.Client.ID))
	return toks, nil
}

// reissue re-reads the user, the grants and the rules for a refresh and
// mints the new access (and ID) token. A user who may no longer have tokens
// is ErrInvalidRefresh, and the family is revoked.
func (s *Service) reissue(ctx context.Context, req *RefreshRequest, g store.RefreshGrant, scopes []string, now time.Time) (*Tokens, *store.User, error) {
	user, err := s.reissueUser(ctx, req, g, scopes, now)
	if err != nil {
		return nil, nil, err
	}
	return user.toks, user.user, nil
}

// reissued is what reissueUser made.
type reissued struct {
	toks *Tokens
	user *store.User
}

// reissueUser is reissue's body.
func (s *Service) reissueUser(ctx context.Context, req *RefreshRequest, g store.RefreshGrant, scopes []string, now time.Time) (*reissued, error) {
	user, err := s.rereadUser(ctx, g)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, s.refuseFamily(ctx, req, g, now, errors.New("user no longer exists"))
	case err != nil:
		return nil, unavailable(err)
	case user.ID != g.UserID:
		// The login name now belongs to someone else.
		return nil, s.refuseFamily(ctx, req, g, now, errors.New("login name now names another user"))
	case user.Blocked:
		return nil, s.refuseFamily(ctx, req, g, now, errors.New("user is blocked"))
	}

	grants, err := s.cfg.Users.LoadGrants(ctx, user, g.Organization)
	switch {
	case errors.Is(err, store.ErrNotMember):
		return nil, s.refuseFamily(ctx, req, g, now, err)
	case err != nil:
		return nil, unavailable(err)
	}

	in := ruleInput(req.Client.ID, g.Audience, TypeRefreshToken, scopes, user, grants)
	result, err := s.evaluateRules(in)
	if err != nil {
		var denied *DeniedError
		switch {
		case errors.As(err, &denied) && denied.Cause == nil:
			return nil, s.refuseFamily(ctx, req, g, now, err)
		case errors.As(err, &denied):
			// A rule failed to evaluate: refuse (fail closed) but keep the
			// family, since a broken rule is the operator's to fix.
			return nil, invalidRefresh(err)
		}
		return nil, err
	}
	toks, err := s.mint(now, mintRequest{client: req.Client, audience: g.Audience, scopes: scopes}, user, grants, result)
	if err != nil {
		return nil, err
	}
	return &reissued{toks: toks, user: user}, nil
}

// rereadUser reads the family's user again: by user_id when user_id_query
// is configured (so an email change does not end the user's sessions),
// otherwise by the login name the family was issued for.
func (s *Service) rereadUser(ctx context.Context, g store.RefreshGrant) (*store.User, error) {
	if s.cfg.Users.HasUserIDQuery() {
		return s.cfg.Users.FindUserByID(ctx, g.UserID)
	}
	return s.cfg.Users.FindUser(ctx, g.Username)
}

// refuseFamily revokes the presented token's family and answers
// ErrInvalidRefresh. The revocation is best effort: the refusal stands even
// if it fails (and the user's next refresh is refused again).
func (s *Service) refuseFamily(ctx context.Context, req *RefreshRequest, g store.RefreshGrant, now time.Time, cause error) error {
	if err := s.cfg.State.RevokeRefresh(ctx, req.Token, req.Client.ID, now); err != nil {
		s.cfg.Logger.Warn("revoking a refused refresh-token family failed",
			zap.String("user_id", g.UserID), zap.Error(err))
	}
	return invalidRefresh(cause)
}

// Revoke revokes the family of tok when it is a refresh token of client c.
// An unknown token or another client's is not an error (RFC 7009 §2.2); a
// state-store failure is. No hint is needed: refresh tokens are the only
// revocable tokens, and anything else is unknown.
func (s *Service) Revoke(ctx context.Context, c *Client, tok string) error {
	if err := s.cfg.StateReady(ctx); err != nil {
		return stateUnavailable(err)
	}
	if err := s.cfg.State.RevokeRefresh(ctx, tok, c.ID, s.cfg.Now()); err != nil {
		return stateUnavailable(err)
	}
	return nil
}
