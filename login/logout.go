package login

import (
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/claimgate/claimgate/token"
)

// Logout: Auth0's GET /v2/logout and OIDC RP-initiated logout. Both end the
// sign-in session (a row: every instance sees it), clear its cookie, and
// send the browser on only to a registered logout_redirect_uri; anything
// else gets the "signed out" page, so neither is an open redirector.

// serveLogoutV2 answers GET /v2/logout?client_id=…&returnTo=….
func (l *Login) serveLogoutV2(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		l.messagePage(w, r, http.StatusMethodNotAllowed, "Sign-out error", "This address only answers GET.")
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		q = url.Values{}
	}
	l.endSession(w, r)
	target := l.logoutTarget(single(q, "client_id"), single(q, "returnTo"))
	l.finishLogout(w, r, target)
}

// serveLogoutOIDC answers GET or POST /oidc/logout (OpenID Connect
// RP-Initiated Logout 1.0): id_token_hint, client_id,
// post_logout_redirect_uri, state.
func (l *Login) serveLogoutOIDC(w http.ResponseWriter, r *http.Request) {
	var q url.Values
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q, _ = url.ParseQuery(r.URL.RawQuery)
	case http.MethodPost:
		body, err := readRequestBody(w, r)
		if err == nil {
			q, _ = url.ParseQuery(string(body))
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		l.messagePage(w, r, http.StatusMethodNotAllowed, "Sign-out error", "This address answers GET and POST.")
		return
	}
	if q == nil {
		q = url.Values{}
	}
	l.endSession(w, r)
	clientID := single(q, "client_id")
	if hint := single(q, "id_token_hint"); hint != "" {
		// The hint names the client (its aud) when client_id is absent; a
		// hint for another client than client_id sends nobody anywhere.
		// A hint that does not verify is ignored: it could do nothing a
		// request without it cannot.
		hinted := l.idTokenClient(r, hint)
		switch {
		case hinted == "":
		case clientID == "":
			clientID = hinted
		case clientID != hinted:
			clientID = "\x00" // names no client: no redirect
		}
	}
	target := l.logoutTarget(clientID, single(q, "post_logout_redirect_uri"))
	if target != "" {
		target = redirectTo(target, url.Values{"state": {single(q, "state")}})
	}
	l.finishLogout(w, r, target)
}

// single is the value of a parameter given once, else "".
func single(q url.Values, name string) string {
	if vs := q[name]; len(vs) == 1 {
		return vs[0]
	}
	return ""
}

// endSession ends the request's sign-in session and clears its cookie. A
// state store that is down only logs: the cookie goes all the same.
func (l *Login) endSession(w http.ResponseWriter, r *http.Request) {
	raw := sessionCookieValue(r)
	if raw == "" {
		return
	}
	if err := l.app.Browser().EndSession(r.Context(), raw); err != nil {
		l.logger.Error("ending a sign-in session failed", zap.Error(err))
	}
	clearCookie(w, sessionCookie)
}

// logoutTarget is returnTo when it is one of the client's
// logout_redirect_uris (any client's without a client_id, as Auth0's
// tenant-wide list), else "".
func (l *Login) logoutTarget(clientID, returnTo string) string {
	if returnTo == "" {
		return ""
	}
	if clientID != "" {
		c, ok := l.app.Client(clientID)
		if ok && c.AllowsLogoutRedirectURI(returnTo) {
			return returnTo
		}
		return ""
	}
	for _, c := range l.app.ClientList() {
		if c.AllowsLogoutRedirectURI(returnTo) {
			return returnTo
		}
	}
	return ""
}

// finishLogout redirects to target, or shows the signed-out page.
func (l *Login) finishLogout(w http.ResponseWriter, r *http.Request, target string) {
	if target == "" {
		l.messagePage(w, r, http.StatusOK, "Signed out", "You are signed out. You can close this window.")
		return
	}
	setNoStore(w.Header())
	http.Redirect(w, r, target, http.StatusFound)
}

// idTokenClient is the client (aud) of a current ID token this issuer
// signed, or "" when it does not verify. The verifier is built per call:
// logout is rare, and the handler's struct stays as it is.
func (l *Login) idTokenClient(r *http.Request, hint string) string {
	v, err := token.NewVerifier(token.VerifierConfig{Issuer: l.app.Issuer, RequireType: "JWT",
		AnyAudience: true, Keys: l.app.KeySource()})
	if err != nil {
		return ""
	}
	claims, err := v.Verify(r.Context(), hint)
	if err != nil {
		return ""
	}
	aud, _ := claims["aud"].(string)
	if _, ok := l.app.Client(aud); !ok {
		return ""
	}
	return aud
}
