package login

import (
	"net/http"

	"github.com/claimgate/claimgate/grant"
)

// codeGrant runs an authorization_code grant (RFC 6749 §4.1.3) for an
// authenticated client (a public one by client_id alone: PKCE stands in
// for its secret, and grant.Browser.RedeemCode insists on it).
func (l *Login) codeGrant(r *http.Request, auth clientAuth, params map[string]string) (*tokenResponse, *oauthError) {
	code, redirectURI := params["code"], params["redirect_uri"]
	if code == "" || redirectURI == "" {
		return nil, errInvalidRequest("Missing code or redirect_uri.")
	}
	toks, err := l.app.Browser().RedeemCode(r.Context(), &grant.CodeRequest{
		Client: auth.client, Code: code, RedirectURI: redirectURI, CodeVerifier: params["code_verifier"]})
	if err != nil {
		return nil, l.fromGrant(err)
	}
	return newTokenResponse(toks), nil
}
