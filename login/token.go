package login

import (
	"net/http"
	"strings"

	"github.com/claimgate/claimgate/grant"
)

// tokenResponse is RFC 6749 §5.1's success body.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// newTokenResponse is the body of a grant's tokens.
func newTokenResponse(t *grant.Tokens) *tokenResponse {
	return &tokenResponse{
		AccessToken:  t.AccessToken,
		TokenType:    "Bearer",
		ExpiresIn:    t.ExpiresIn,
		Scope:        strings.Join(t.Scopes, " "),
		IDToken:      t.IDToken,
		RefreshToken: t.RefreshToken,
	}
}

// serveToken answers POST /oauth/token.
func (l *Login) serveToken(w http.ResponseWriter, r *http.Request) {
	var x exchange
	resp, e := l.token(w, r, &x)
	l.recordExchange(r, &x, e)
	if e != nil {
		l.answerError(w, r, e)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// token runs the checks in the documented order; the first that fails
// answers: method, body, grant type, client authentication, grant allowed
// for the client, then the grant's own checks. x learns what the request
// did, for its metrics and event.
func (l *Login) token(w http.ResponseWriter, r *http.Request, x *exchange) (*tokenResponse, *oauthError) {
	if r.Method != http.MethodPost {
		return nil, errMethodNotAllowed(http.MethodPost)
	}
	params, e := readParams(w, r)
	if e != nil {
		return nil, e
	}
	grantType := params["grant_type"]
	switch grantType {
	case "":
		return nil, errInvalidRequest("Missing grant_type.")
	case grant.TypePassword, grant.TypePasswordRealm, grant.TypeAuthorizationCode, grant.TypeClientCredentials:
	case grant.TypeRefreshToken:
		if !l.grants.RefreshTokensAvailable() {
			return nil, newOAuthError(http.StatusBadRequest, codeUnsupportedGrantType,
				"The refresh_token grant is not available.")
		}
	default:
		return nil, newOAuthError(http.StatusBadRequest, codeUnsupportedGrantType, "Unsupported grant type.")
	}
	x.grant, x.counted = grantOf(grantType)
	x.clientID = params["client_id"]

	auth, e := l.authenticate(r, params)
	if e != nil {
		return nil, e
	}
	x.auth = auth
	if !auth.client.Allows(grantType) {
		return nil, newOAuthError(http.StatusBadRequest, codeUnauthorizedClient,
			"The client may not use this grant type.")
	}
	if grantType == grant.TypeAuthorizationCode {
		return l.codeGrant(r, auth, params)
	}
	if grantType == grant.TypeRefreshToken {
		return l.refreshGrant(r, auth, params, x)
	}
	if grantType == grant.TypeClientCredentials {
		return l.clientCredentialsGrant(r, auth, params, x)
	}
	return l.passwordGrant(r, auth, grantType, params, x)
}

// passwordGrant checks a password grant's parameters and runs it.
func (l *Login) passwordGrant(r *http.Request, auth clientAuth, grantType string, params map[string]string, x *exchange) (*tokenResponse, *oauthError) {
	req, e := l.passwordRequest(auth, grantType, params)
	if e != nil {
		return nil, e
	}
	req.IP = l.grants.AccountingIP(clientIP(r, auth))
	toks, err := l.grants.Password(r.Context(), req)
	if err != nil {
		x.err = err
		return nil, l.fromGrant(err)
	}
	x.userID = toks.UserID
	return newTokenResponse(toks), nil
}

// refreshGrant runs a refresh grant.
func (l *Login) refreshGrant(r *http.Request, auth clientAuth, params map[string]string, x *exchange) (*tokenResponse, *oauthError) {
	raw := params["refresh_token"]
	if raw == "" {
		return nil, errInvalidRequest("Missing refresh_token.")
	}
	toks, err := l.grants.Refresh(r.Context(), &grant.RefreshRequest{Client: auth.client, Token: raw, Scope: params["scope"]})
	if err != nil {
		x.err = err
		return nil, l.fromGrant(err)
	}
	x.userID = toks.UserID
	return newTokenResponse(toks), nil
}

// fromGrant maps a grant's error with this app's error mode.
func (l *Login) fromGrant(err error) *oauthError {
	return fromGrant(err, l.app.Errors == "auth0")
}

// passwordRequest checks the parameters of a password grant in the
// documented order: required parameters, realm, audience, scope (then
// organization, which needs organization_query).
func (l *Login) passwordRequest(auth clientAuth, grantType string, params map[string]string) (*grant.PasswordRequest, *oauthError) {
	req := &grant.PasswordRequest{
		Client:       auth.client,
		GrantType:    grantType,
		Username:     params["username"],
		Password:     params["password"],
		Organization: params["organization"],
	}
	if req.Username == "" || req.Password == "" {
		return nil, errInvalidRequest("Missing username or password.")
	}
	if realm, ok := params["realm"]; ok && realm != l.app.Database.Name {
		return nil, errInvalidRequest("Unknown realm.")
	}

	req.Audience = params["audience"]
	if req.Audience == "" {
		req.Audience = auth.client.Audiences[0]
	} else if !auth.client.AllowsAudience(req.Audience) {
		l.logAudienceRefused(auth.client.ID, req.Audience)
		return nil, newOAuthError(http.StatusBadRequest, codeInvalidTarget,
			"The audience is not allowed for this client.")
	}

	scopes, err := grant.RequestedScopes(auth.client, params["scope"], l.grants.RefreshTokensAvailable())
	if err != nil {
		return nil, l.fromGrant(err)
	}
	req.Scopes = scopes

	if req.Organization != "" && l.app.Database.OrganizationQuery == "" {
		return nil, errInvalidRequest("Organizations are not configured.")
	}
	return req, nil
}
