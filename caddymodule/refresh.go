package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/claimgate/claimgate/store"
)

// Refresh tokens and revocation (SPEC §3, issue 5).
//
// TODO(issue 5): refresh tokens need the claimgate_ state tables
// (store.State). Until they are wired in:
//   - refreshTokensAvailable is false, so the refresh_token grant is
//     answered unsupported_grant_type, offline_access is accepted (for a
//     client with the refresh_token grant) but left out of the granted
//     scopes, and discovery lists neither;
//   - issueRefreshToken is never reached;
//   - revocation accepts and authenticates the request but has nothing to
//     revoke: no refresh token has been issued, so every token it is given
//     is invalid, which RFC 7009 §2.2 answers with 200.

// errNoRefreshTokens means refresh tokens cannot be issued yet.
var errNoRefreshTokens = errors.New("refresh tokens are not available (no state store)")

// refreshTokensAvailable reports whether refresh tokens can be issued and
// redeemed.
func (a *App) refreshTokensAvailable() bool { return false }

// issueRefreshToken starts a refresh-token family for this login (absolute
// lifetime RefreshTokenTTL, rotated on each use) and returns the token.
func (l *Login) issueRefreshToken(req *passwordRequest, user *store.User, now time.Time) (string, error) {
	return "", errNoRefreshTokens
}

// refreshGrant redeems a refresh token (rotation; reuse of a rotated token
// revokes the family). token() calls it after client authentication and the
// grant check.
func (l *Login) refreshGrant(r *http.Request, auth clientAuth, params map[string]string) (*tokenResponse, *oauthError) {
	return nil, newOAuthError(http.StatusBadRequest, codeUnsupportedGrantType,
		"The refresh_token grant is not available.")
}

// revokeRefreshToken revokes the family of tok when it is a live refresh
// token of client c. An unknown or invalid token is not an error (RFC 7009
// §2.2); a state-store failure is.
func (l *Login) revokeRefreshToken(ctx context.Context, c *client, tok, hint string) error {
	// Nothing to revoke until refresh tokens exist: see the note above.
	return nil
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
