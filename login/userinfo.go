package login

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/token"
)

// userinfoClaims are the OIDC standard claims /userinfo passes on when the
// access token carries them (OIDC Core §5.1).
var userinfoClaims = []string{
	"name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
	"profile", "picture", "website", "email", "email_verified", "gender", "birthdate",
	"zoneinfo", "locale", "phone_number", "phone_number_verified", "address", "updated_at",
	"org_id", "org_name",
}

// serveUserinfo answers OIDC userinfo (GET or POST) for one of claimgate's
// own access tokens: signature, iss and typ at+jwt are checked, and the
// token must have been granted the openid scope (as Auth0 requires). Any
// audience is accepted: every token claimgate issues names one of its
// clients' APIs, and userinfo belongs to none of them.
//
// The answer is sub plus the standard claims of the granted profile and
// email scopes. With user_id_query they are read fresh (a user who is gone
// or blocked then gets 401 invalid_token); otherwise they come from the
// access token, which carries them whenever those scopes were granted.
func (l *Login) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	if !requireMethod(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	raw, present, err := token.BearerFromHeader(r.Header)
	if err != nil || !present {
		e := newOAuthError(http.StatusUnauthorized, "invalid_token", "A bearer access token is required.").
			withHeader("WWW-Authenticate", `Bearer realm="claimgate"`)
		writeOAuthError(w, e)
		return
	}
	claims, err := l.userinfo.Verify(r.Context(), raw)
	if err != nil {
		l.logger.Debug("userinfo: invalid token", zap.Error(err))
		e := newOAuthError(http.StatusUnauthorized, "invalid_token", "The access token is invalid or expired.").
			withHeader("WWW-Authenticate", `Bearer realm="claimgate", error="invalid_token"`)
		writeOAuthError(w, e)
		return
	}
	scope, _ := claims["scope"].(string)
	if !slices.Contains(strings.Fields(scope), grant.ScopeOpenID) {
		e := newOAuthError(http.StatusForbidden, "insufficient_scope", "The access token lacks the openid scope.").
			withHeader("WWW-Authenticate", `Bearer realm="claimgate", error="insufficient_scope", scope="openid"`)
		writeOAuthError(w, e)
		return
	}
	if l.grants.CanReadUserByID() {
		l.serveFreshUserinfo(w, r, claims, strings.Fields(scope))
		return
	}
	out := map[string]any{"sub": claims["sub"]}
	for _, name := range userinfoClaims {
		if v, ok := claims[name]; ok {
			out[name] = v
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// serveFreshUserinfo answers from the user's row, read again by user_id.
func (l *Login) serveFreshUserinfo(w http.ResponseWriter, r *http.Request, claims map[string]any, scopes []string) {
	sub, _ := claims["sub"].(string)
	out, err := l.grants.UserInfo(r.Context(), sub, scopes)
	if errors.Is(err, grant.ErrUserGone) {
		l.logger.Debug("userinfo: the token's user is gone or blocked")
		e := newOAuthError(http.StatusUnauthorized, "invalid_token", "The access token is invalid or expired.").
			withHeader("WWW-Authenticate", `Bearer realm="claimgate", error="invalid_token"`)
		writeOAuthError(w, e)
		return
	}
	if err != nil {
		l.answerError(w, r, l.fromGrant(err))
		return
	}
	for _, name := range []string{"org_id", "org_name"} {
		if v, ok := claims[name]; ok {
			out[name] = v
		}
	}
	writeJSON(w, http.StatusOK, out)
}
