package login

import (
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
// The answer is sub plus the standard claims the access token carries. The
// user is not read again: user_query looks users up by the name they log in
// with, which the token does not (and should not) carry. To expose e.g. the
// email here, add `claim email user.email` to the claimgate block.
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
	out := map[string]any{"sub": claims["sub"]}
	for _, name := range userinfoClaims {
		if v, ok := claims[name]; ok {
			out[name] = v
		}
	}
	writeJSON(w, http.StatusOK, out)
}
