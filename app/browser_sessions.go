package app

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/claimgate/claimgate/grant"
)

// Browser sessions at claimgate_verify (`browser CLIENT`): the handler
// depends only on the small interface it declares (verify.BrowserSessions),
// which these methods implement by calling the grant flows in process, for
// the named client, without HTTP client authentication (the process holds
// the client). The cookie key is a secret in Caddy storage shared by the
// fleet, created by Start.

// browserCookieKeyPath is where the key that encrypts claimgate_verify's
// app session cookies is kept in Caddy storage.
const browserCookieKeyPath = "claimgate/browser_cookie.key"

// browserSessionScope is what an app session asks for: openid (an ID token
// whose nonce is checked) and offline_access (a refresh token, so that the
// session renews itself).
const browserSessionScope = grant.ScopeOpenID + " " + grant.ScopeOfflineAccess

// sessionError is a refusal of a browser-session call that a later attempt
// may not meet: the database is down or the hashing guard saturated.
// claimgate_verify asks for Temporary rather than importing grant.
type sessionError struct{ err error }

func (e *sessionError) Error() string   { return e.err.Error() }
func (e *sessionError) Unwrap() error   { return e.err }
func (e *sessionError) Temporary() bool { return true }

// sessionErr marks the grant's temporary failures.
func sessionErr(err error) error {
	var u *grant.UnavailableError
	if errors.As(err, &u) {
		return &sessionError{err: err}
	}
	return err
}

// browserClient returns the client of an app session.
func (a *App) browserClient(id string) (*grant.Client, error) {
	c, ok := a.clients[id]
	if !ok {
		return nil, fmt.Errorf("no client %q in the claimgate global option", id)
	}
	return c, nil
}

// CheckBrowserClient reports whether client id can sign browsers in for
// audience: it exists, may use the authorization_code and refresh_token
// grants, and allows the audience. claimgate_verify calls it at load.
func (a *App) CheckBrowserClient(id, audience string) error {
	c, err := a.browserClient(id)
	switch {
	case err != nil:
		return err
	case !c.HasGrant(grant.ClientGrantAuthorizationCode):
		return fmt.Errorf("client %q lacks the authorization_code grant", id)
	case !c.HasGrant(grant.ClientGrantRefresh):
		return fmt.Errorf("client %q lacks the refresh_token grant (an app session renews itself with it)", id)
	case !c.AllowsAudience(audience):
		return fmt.Errorf("client %q does not allow the audience %s", id, audience)
	case !slices.ContainsFunc(c.RedirectURIs, func(u string) bool { return strings.HasSuffix(u, "/.claimgate/callback") }):
		return fmt.Errorf("client %q has no redirect_uri ending in /.claimgate/callback (the app's own origin + /.claimgate/callback)", id)
	}
	return nil
}

// BrowserCookieKey returns the 32-byte key of the app session cookies, or
// nil before Start.
func (a *App) BrowserCookieKey() []byte {
	if a.cookieKey == nil {
		return nil
	}
	if k := a.cookieKey.Load(); k != nil {
		return *k
	}
	return nil
}

// BrowserSessionTTL bounds an app session cookie: the refresh-token
// family's lifetime.
func (a *App) BrowserSessionTTL() time.Duration { return time.Duration(a.RefreshTokenTTL) }

// BrowserSessionScope is the scope an app session's authorization request
// asks for.
func (a *App) BrowserSessionScope() string { return browserSessionScope }

// RedeemBrowserCode redeems an authorization code for client id in
// process, checks the ID token's nonce, and returns the access and refresh
// tokens.
func (a *App) RedeemBrowserCode(ctx context.Context, id, code, redirectURI, verifier, nonce string) (access, refresh string, err error) {
	c, err := a.browserClient(id)
	if err != nil {
		return "", "", err
	}
	toks, err := a.web.flows.RedeemCode(ctx, &grant.CodeRequest{Client: c, Code: code, RedirectURI: redirectURI, CodeVerifier: verifier})
	if err != nil {
		return "", "", sessionErr(err)
	}
	// The code came back through the browser: its ID token must carry the
	// nonce this browser's request sent (OIDC Core §3.1.3.7). The token was
	// minted in this process a moment ago, so its payload is read as is.
	if got := idTokenNonce(toks.IDToken); nonce == "" || subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1 {
		if toks.RefreshToken != "" {
			_ = a.grants.Revoke(context.WithoutCancel(ctx), c, toks.RefreshToken)
		}
		return "", "", errors.New("the ID token's nonce differs from the request's")
	}
	if toks.RefreshToken == "" {
		return "", "", errors.New("no refresh token issued (is offline_access allowed?)")
	}
	return toks.AccessToken, toks.RefreshToken, nil
}

// RefreshBrowserSession renews an app session with its refresh token
// (rotation and reuse detection as for any refresh).
func (a *App) RefreshBrowserSession(ctx context.Context, id, refreshToken string) (access, refresh string, err error) {
	c, err := a.browserClient(id)
	if err != nil {
		return "", "", err
	}
	toks, err := a.grants.Refresh(ctx, &grant.RefreshRequest{Client: c, Token: refreshToken})
	if err != nil {
		return "", "", sessionErr(err)
	}
	return toks.AccessToken, toks.RefreshToken, nil
}

// RevokeBrowserSession revokes an app session's refresh-token family.
func (a *App) RevokeBrowserSession(ctx context.Context, id, refreshToken string) error {
	c, err := a.browserClient(id)
	if err != nil {
		return err
	}
	return sessionErr(a.grants.Revoke(ctx, c, refreshToken))
}

// idTokenNonce is the nonce claim of an ID token minted by this process,
// or "".
func idTokenNonce(raw string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Nonce string `json:"nonce"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Nonce
}
