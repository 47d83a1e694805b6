package login

import (
	"errors"
	"net/http"

	"github.com/claimgate/claimgate/grant"
)

// clientCredentialsGrant runs a client_credentials grant
// for an authenticated client that may use it: audience (required unless
// the client has exactly one), then scope. No ID token, no refresh token.
func (l *Login) clientCredentialsGrant(r *http.Request, auth clientAuth, params map[string]string, x *exchange) (*tokenResponse, *oauthError) {
	toks, err := l.grants.ClientCredentials(r.Context(), &grant.ClientCredentialsRequest{
		Client:   auth.client,
		Audience: params["audience"],
		Scope:    params["scope"],
	})
	if err != nil {
		x.err = err
		if errors.Is(err, grant.ErrInvalidTarget) {
			l.logAudienceRefused(auth.client.ID, params["audience"])
		}
		return nil, l.fromClientCredentials(err)
	}
	return newTokenResponse(toks), nil
}

// fromClientCredentials maps the refusals only client_credentials has, and
// hands the rest to fromGrant.
func (l *Login) fromClientCredentials(err error) *oauthError {
	var refusal *grant.Refusal
	if errors.As(err, &refusal) {
		switch {
		case errors.Is(err, grant.ErrMissingAudience):
			return errInvalidRequest(refusal.Description)
		case errors.Is(err, grant.ErrInvalidTarget):
			return newOAuthError(http.StatusBadRequest, codeInvalidTarget, refusal.Description)
		case errors.Is(err, grant.ErrUnauthorizedClient):
			return newOAuthError(http.StatusBadRequest, codeUnauthorizedClient, refusal.Description)
		}
	}
	return l.fromGrant(err)
}
