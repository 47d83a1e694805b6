package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/store"
)

// Refresh tokens and revocation (SPEC §3, §5), on the claimgate_ state
// tables (store.State).
//
// A login with offline_access, by a client with the refresh_token grant,
// starts a family: an opaque random token (256 bits) stored only as its
// SHA-256, valid for refresh_token_ttl from the login (rotation does not
// extend it) and refused after refresh_token_idle_ttl unused. Each use
// rotates it; presenting an already rotated token revokes the family (a
// stolen copy is in use, or a client raced itself: the server cannot tell).
//
// A refresh re-reads the user (user_query with the login name, which must
// still give the same user_id), the roles and organization, and re-runs the
// rules, so role changes take effect and a user who is gone, blocked, no
// longer a member or now denied gets invalid_grant (and the family is
// revoked). All of that, and minting, happens BEFORE the rotation: a
// database failure or a refused request leaves the presented token usable,
// and the rotation (a conditional UPDATE, so of two concurrent uses exactly
// one wins) is the last step before the answer.

// refreshRequest is what a refresh grant passed to the checks.
type refreshRequest struct {
	auth   clientAuth
	raw    string // the presented token; never logged
	grant  store.RefreshGrant
	scopes []string // granted to the new access token
}

// refreshTokensAvailable reports whether refresh tokens can be issued and
// redeemed: the state store exists (its tables may still be missing, which
// answers 503 until they are there).
func (a *App) refreshTokensAvailable() bool { return a.state != nil }

// issueRefreshToken starts a refresh-token family for this login (absolute
// lifetime RefreshTokenTTL, rotated on each use) and returns the token.
func (l *Login) issueRefreshToken(ctx context.Context, req *passwordRequest, user *store.User, now time.Time) (string, *oauthError) {
	raw, err := store.NewRefreshToken()
	if err != nil {
		return "", errUnavailable("Cannot issue a refresh token right now.", retryAfterUnavailable).withCause(err)
	}
	if err := l.app.stateReady(ctx); err != nil {
		return "", errStateUnavailable(err)
	}
	grant := store.RefreshGrant{
		UserID:          user.ID,
		Username:        req.username,
		ClientID:        req.auth.client.id,
		Audience:        req.audience,
		Scope:           strings.Join(req.scopes, " "),
		Organization:    req.organization,
		FamilyExpiresAt: now.Add(time.Duration(l.app.RefreshTokenTTL)),
	}
	if err := l.app.state.CreateRefresh(ctx, raw, grant, now); err != nil {
		return "", errUnavailable("Cannot issue a refresh token right now.", retryAfterUnavailable).withCause(err)
	}
	return raw, nil
}

// errInvalidRefresh is every refusal of a refresh token: unknown, expired,
// idle, revoked, reused, another client's, or its user is gone or denied.
func errInvalidRefresh(cause error) *oauthError {
	return newOAuthError(http.StatusBadRequest, codeInvalidGrant, "Unknown or invalid refresh token.").withCause(cause)
}

// refreshStoreError maps a state-store error of a refresh.
func refreshStoreError(err error) *oauthError {
	if errors.Is(err, store.ErrRefreshInvalid) || errors.Is(err, store.ErrRefreshReused) {
		return errInvalidRefresh(err)
	}
	return errStateUnavailable(err)
}

// refreshGrant redeems a refresh token. token() calls it after client
// authentication and the grant check.
func (l *Login) refreshGrant(r *http.Request, auth clientAuth, params map[string]string) (*tokenResponse, *oauthError) {
	ctx := r.Context()
	rr := &refreshRequest{auth: auth, raw: params["refresh_token"]}
	if rr.raw == "" {
		return nil, errInvalidRequest("Missing refresh_token.")
	}
	if err := l.app.stateReady(ctx); err != nil {
		return nil, errStateUnavailable(err)
	}
	grant, err := l.app.state.LookupRefresh(ctx, rr.raw)
	if err != nil {
		return nil, refreshStoreError(err)
	}
	if grant.ClientID != auth.client.id {
		// Refused without revoking: another client must not be able to end
		// the owner's session (RotateRefresh refuses it the same way).
		return nil, errInvalidRefresh(errors.New("refresh token of another client"))
	}
	rr.grant = grant
	var e *oauthError
	if rr.scopes, e = refreshScopes(auth.client, grant.Scope, params["scope"]); e != nil {
		return nil, e
	}
	if !auth.client.allowsAudience(grant.Audience) {
		// The client's configuration changed since the login.
		return nil, errInvalidRefresh(errors.New("audience no longer allowed for the client"))
	}

	now := l.app.now()
	resp, e := l.reissue(ctx, rr, now)
	if e != nil {
		return nil, e
	}
	newRaw, err := store.NewRefreshToken()
	if err != nil {
		return nil, errUnavailable("Cannot issue a refresh token right now.", retryAfterUnavailable).withCause(err)
	}
	if _, err := l.app.state.RotateRefresh(ctx, rr.raw, newRaw, auth.client.id, now,
		time.Duration(l.app.RefreshTokenIdleTTL)); err != nil {
		if errors.Is(err, store.ErrRefreshReused) {
			l.logger.Warn("rotated refresh token presented again; its family is revoked",
				zap.String("user_id", grant.UserID), zap.String("client_id", auth.client.id))
		}
		return nil, refreshStoreError(err)
	}
	resp.RefreshToken = newRaw
	l.logger.Debug("refresh", zap.String("user_id", grant.UserID), zap.String("client_id", auth.client.id))
	return resp, nil
}

// reissue re-reads the user, the grants and the rules for a refresh and
// mints the new access (and ID) token. A user who may no longer have tokens
// is invalid_grant, and the family is revoked.
func (l *Login) reissue(ctx context.Context, rr *refreshRequest, now time.Time) (*tokenResponse, *oauthError) {
	g := rr.grant
	req := &passwordRequest{
		auth:         rr.auth,
		grantType:    grantRefreshToken,
		username:     g.Username,
		audience:     g.Audience,
		scopes:       rr.scopes,
		organization: g.Organization,
	}
	user, err := l.app.store.FindUser(ctx, g.Username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, l.refuseFamily(ctx, rr, now, errors.New("user no longer exists"))
	case err != nil:
		return nil, errUnavailable("The user database is unavailable.", retryAfterUnavailable).withCause(err)
	case user.ID != g.UserID:
		// The login name now belongs to someone else.
		return nil, l.refuseFamily(ctx, rr, now, errors.New("login name now names another user"))
	case user.Blocked:
		return nil, l.refuseFamily(ctx, rr, now, errors.New("user is blocked"))
	}

	grants, err := l.app.store.LoadGrants(ctx, user, g.Organization)
	switch {
	case errors.Is(err, store.ErrNotMember):
		return nil, l.refuseFamily(ctx, rr, now, err)
	case err != nil:
		return nil, errUnavailable("The user database is unavailable.", retryAfterUnavailable).withCause(err)
	}

	result, e := l.evaluateRules(req, user, grants)
	if e != nil {
		var denied *enrich.DeniedError
		switch {
		case errors.As(e.cause, &denied) && denied.Cause == nil:
			return nil, l.refuseFamily(ctx, rr, now, e.cause)
		case e.code == codeAccessDenied:
			// A rule failed to evaluate: refuse (fail closed) but keep the
			// family, since a broken rule is the operator's to fix.
			return nil, errInvalidRefresh(e.cause)
		}
		return nil, e
	}
	return l.mintTokens(now, req, user, grants, result)
}

// refuseFamily revokes the presented token's family and answers
// invalid_grant. The revocation is best effort: the refusal stands even if
// it fails (and the user's next refresh is refused again).
func (l *Login) refuseFamily(ctx context.Context, rr *refreshRequest, now time.Time, cause error) *oauthError {
	if err := l.app.state.RevokeRefresh(ctx, rr.raw, rr.auth.client.id, now); err != nil {
		l.logger.Warn("revoking a refused refresh-token family failed",
			zap.String("user_id", rr.grant.UserID), zap.Error(err))
	}
	return errInvalidRefresh(cause)
}

// refreshScopes is the scope of the new access token: the family's
// original scope, or the subset the request names (RFC 6749 §6: asking for
// any scope not originally granted is invalid_scope). The family keeps its
// original scope, as Auth0 does, so a narrowed refresh does not narrow the
// next one. Scopes the client may no longer ask for are dropped.
func refreshScopes(c *client, original, requested string) ([]string, *oauthError) {
	granted := strings.Fields(original)
	if strings.TrimSpace(requested) != "" {
		var narrowed []string
		for _, s := range strings.Fields(requested) {
			if !hasScope(granted, s) {
				return nil, newOAuthError(http.StatusBadRequest, codeInvalidScope,
					"The requested scope exceeds the original grant.")
			}
			if !hasScope(narrowed, s) {
				narrowed = append(narrowed, s)
			}
		}
		granted = narrowed
	}
	scopes := make([]string, 0, len(granted))
	for _, s := range granted {
		if isStandardScope(s) || c.scopes[s] {
			scopes = append(scopes, s)
		}
	}
	return scopes, nil
}

// revokeRefreshToken revokes the family of tok when it is a refresh token
// of client c. An unknown token or another client's is not an error (RFC
// 7009 §2.2); a state-store failure is. The hint is not needed: refresh
// tokens are the only revocable tokens, and anything else is unknown.
func (l *Login) revokeRefreshToken(ctx context.Context, c *client, tok, hint string) error {
	if err := l.app.stateReady(ctx); err != nil {
		return err
	}
	return l.app.state.RevokeRefresh(ctx, tok, c.id, l.app.now())
}

// serveRevoke answers POST /oauth/revoke (RFC 7009): the client
// authenticates as at the token endpoint; the answer is 200 with an empty
// body, also for an unknown token.
func (l *Login) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeOAuthError(w, errMethodNotAllowed(http.MethodPost))
		return
	}
	params, e := readParams(w, r)
	if e != nil {
		l.answerError(w, r, e)
		return
	}
	auth, e := l.app.authenticateClient(r, params)
	if e != nil {
		l.answerError(w, r, e)
		return
	}
	tok := params["token"]
	if tok == "" {
		l.answerError(w, r, errInvalidRequest("Missing token."))
		return
	}
	if err := l.revokeRefreshToken(r.Context(), auth.client, tok, params["token_type_hint"]); err != nil {
		l.answerError(w, r, errUnavailable("Cannot revoke right now.", retryAfterUnavailable).withCause(err))
		return
	}
	setNoStore(w.Header())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}
