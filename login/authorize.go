package login

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/claimgate/claimgate/grant"
)

// Browser sign-in: the authorization endpoint, the hosted
// login page and its form post, and logout. The flows are grant.Browser's;
// this file parses and answers.

// Paths of browser sign-in.
const (
	pathAuthorize  = "/authorize"
	pathLoginPage  = "/login"
	pathLogoutV2   = "/v2/logout"
	pathLogoutOIDC = "/oidc/logout"
)

// Limits on authorization request values that are stored with a code or
// echoed into a page.
const (
	maxNonce     = 512
	maxLoginHint = 320
	maxState     = 2048
)

// serveBrowser answers the browser sign-in paths; false for any other path.
func (l *Login) serveBrowser(w http.ResponseWriter, r *http.Request) bool {
	switch r.URL.Path {
	case pathAuthorize:
		l.serveAuthorize(w, r)
	case pathLoginPage:
		if r.Method == http.MethodPost {
			l.serveLoginPost(w, r)
		} else {
			l.serveAuthorize(w, r)
		}
	case pathLogoutV2:
		l.serveLogoutV2(w, r)
	case pathLogoutOIDC:
		l.serveLogoutOIDC(w, r)
	default:
		return false
	}
	return true
}

// authzRequest is a checked authorization request.
type authzRequest struct {
	grant.AuthorizeRequest
	state     string
	prompt    map[string]bool
	maxAge    time.Duration // < 0: none
	loginHint string
	// query is the request's query string, carried by the login form's
	// action so that the post is checked again as an authorization request.
	query string
}

// authzError is a refused authorization request. Without redirectURI it is
// answered with an error page: the client or its redirect_uri could not be
// trusted, and the endpoint must not become an open redirector.
type authzError struct {
	redirectURI string
	state       string
	code        string
	description string
}

// redirectTo is the redirect_uri with params added (RFC 6749 §4.1.2: the
// registered URI's own query is kept).
func redirectTo(redirectURI string, params url.Values) string {
	u, err := url.Parse(redirectURI)
	if err != nil {
		// Registered URIs are checked at load; this cannot happen.
		return redirectURI
	}
	q := u.Query()
	for k, vs := range params {
		for _, v := range vs {
			if v != "" {
				q.Set(k, v)
			}
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// parseAuthorize checks an authorization request (OIDC Core §3.1.2.1) in
// this order: client and redirect_uri (an error page), then everything
// else (a redirect with error, error_description and state).
func (l *Login) parseAuthorize(r *http.Request) (*authzRequest, *authzError) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &authzError{code: codeInvalidRequest, description: "The request is malformed."}
	}
	one := func(name string) (string, bool) {
		vs := q[name]
		return strings.Join(vs, ""), len(vs) <= 1
	}
	clientID, ok := one("client_id")
	if !ok || clientID == "" {
		return nil, &authzError{code: codeInvalidRequest, description: "The request names no application (client_id)."}
	}
	c, known := l.app.Client(clientID)
	if !known {
		return nil, &authzError{code: codeInvalidRequest, description: "The application (client_id) is unknown."}
	}
	redirectURI, ok := one("redirect_uri")
	if !ok || redirectURI == "" || !c.AllowsRedirectURI(redirectURI) {
		return nil, &authzError{code: codeInvalidRequest, description: "The redirect_uri is not registered for this application."}
	}

	state, stateOK := one("state")
	fail := func(code, description string) (*authzRequest, *authzError) {
		e := &authzError{redirectURI: redirectURI, code: code, description: description}
		if stateOK && len(state) <= maxState {
			e.state = state
		}
		return nil, e
	}
	for name, vs := range q {
		if len(vs) > 1 {
			// The name is client input: only a plain one is echoed.
			return fail(codeInvalidRequest, "The parameter "+safeName(name)+" was given more than once.")
		}
	}
	if len(state) > maxState {
		return fail(codeInvalidRequest, "The state is too long.")
	}
	switch rt, _ := one("response_type"); rt {
	case "code":
	case "":
		return fail(codeInvalidRequest, "Missing response_type.")
	default:
		return fail("unsupported_response_type", "Only response_type=code is supported.")
	}
	if !c.Allows(grant.TypeAuthorizationCode) {
		return fail(codeUnauthorizedClient, "The application may not use the authorization code flow.")
	}
	if rm, _ := one("response_mode"); rm != "" && rm != "query" {
		return fail(codeInvalidRequest, "Only response_mode=query is supported.")
	}

	req := &authzRequest{state: state, maxAge: -1, query: r.URL.RawQuery}
	req.Client, req.RedirectURI = c, redirectURI
	challenge, _ := one("code_challenge")
	method, _ := one("code_challenge_method")
	switch {
	case method != "" && method != "S256":
		return fail(codeInvalidRequest, "code_challenge_method must be S256.")
	case challenge != "" && method == "":
		// RFC 7636 would take this as plain, which is refused.
		return fail(codeInvalidRequest, "code_challenge_method must be S256.")
	case challenge == "" && method != "":
		return fail(codeInvalidRequest, "Missing code_challenge.")
	case challenge == "" && !c.Confidential:
		return fail(codeInvalidRequest, "PKCE (code_challenge with S256) is required for this application.")
	case challenge != "" && (len(challenge) != 43 || !grant.ValidPKCEValue(challenge)):
		return fail(codeInvalidRequest, "The code_challenge is malformed.")
	}
	req.CodeChallenge = challenge

	scope, _ := one("scope")
	scopes, err := grant.RequestedScopes(c, scope, l.grants.RefreshTokensAvailable())
	if err != nil {
		e := l.fromGrant(err)
		return fail(e.code, e.description)
	}
	req.Scopes = scopes
	req.Audience, _ = one("audience")
	if req.Audience == "" {
		req.Audience = c.Audiences[0]
	} else if !c.AllowsAudience(req.Audience) {
		return fail(codeInvalidTarget, "The audience is not allowed for this application.")
	}
	req.Organization, _ = one("organization")
	if req.Organization != "" && l.app.Database.OrganizationQuery == "" {
		return fail(codeInvalidRequest, "Organizations are not configured.")
	}
	if req.Nonce, _ = one("nonce"); len(req.Nonce) > maxNonce {
		return fail(codeInvalidRequest, "The nonce is too long.")
	}
	if req.loginHint, _ = one("login_hint"); len(req.loginHint) > maxLoginHint {
		req.loginHint = ""
	}
	prompt, _ := one("prompt")
	req.prompt = make(map[string]bool)
	for _, p := range strings.Fields(prompt) {
		req.prompt[p] = true
	}
	if req.prompt["none"] && len(req.prompt) > 1 {
		return fail(codeInvalidRequest, "prompt=none cannot be combined with other values.")
	}
	if ma, _ := one("max_age"); ma != "" {
		secs, err := strconv.ParseInt(ma, 10, 32)
		if err != nil || secs < 0 {
			return fail(codeInvalidRequest, "max_age must be a number of seconds.")
		}
		req.maxAge = time.Duration(secs) * time.Second
	}
	req.IP = l.grants.AccountingIP(clientIP(r, clientAuth{}))
	return req, nil
}

// serveAuthorize answers GET /authorize (and GET /login): with a live
// session, a code at once; otherwise the login page, or login_required for
// prompt=none.
func (l *Login) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		l.messagePage(w, r, http.StatusMethodNotAllowed, "Sign-in error", "This address only answers GET.")
		return
	}
	req, e := l.parseAuthorize(r)
	if e != nil {
		l.answerAuthorizeError(w, r, e)
		return
	}
	browser := l.app.Browser()
	if !req.prompt["login"] {
		if raw := sessionCookieValue(r); raw != "" {
			sess, err := browser.Session(r.Context(), raw)
			switch {
			case err == nil && (req.maxAge < 0 || l.grants.Now().Sub(sess.AuthTime) <= req.maxAge):
				code, err := browser.Authorize(r.Context(), &req.AuthorizeRequest, sess)
				if err != nil {
					ge := l.fromGrant(err)
					l.answerAuthorizeError(w, r, req.redirectError(ge.code, ge.description))
					return
				}
				l.redirectWithCode(w, r, req, code, http.StatusFound)
				return
			case err == nil:
				// Too old for max_age: the form again.
			case errors.Is(err, grant.ErrNoSession):
				clearCookie(w, sessionCookie)
			default:
				ge := l.fromGrant(err)
				l.answerAuthorizeError(w, r, req.redirectError(ge.code, ge.description))
				return
			}
		}
	}
	if req.prompt["none"] {
		l.answerAuthorizeError(w, r, req.redirectError("login_required", "The user is not signed in."))
		return
	}
	l.loginPage(w, r, req, http.StatusOK, "", req.loginHint)
}

// redirectError is an error answered by redirect to the request's client.
func (req *authzRequest) redirectError(code, description string) *authzError {
	return &authzError{redirectURI: req.RedirectURI, state: req.state, code: code, description: description}
}

// redirectWithCode sends the browser back to the client with the code.
func (l *Login) redirectWithCode(w http.ResponseWriter, r *http.Request, req *authzRequest, code string, status int) {
	target := redirectTo(req.RedirectURI, url.Values{"code": {code}, "state": {req.state}})
	setNoStore(w.Header())
	http.Redirect(w, r, target, status)
}

// answerAuthorizeError redirects an error to the client, or shows the
// error page (400) when the client or redirect_uri are not to be trusted.
func (l *Login) answerAuthorizeError(w http.ResponseWriter, r *http.Request, e *authzError) {
	l.logger.Debug("authorization request refused", zap.String("error", e.code),
		zap.String("description", e.description), zap.Bool("redirected", e.redirectURI != ""))
	if e.redirectURI == "" {
		l.messagePage(w, r, http.StatusBadRequest, "Sign-in error", e.description)
		return
	}
	target := redirectTo(e.redirectURI, url.Values{
		"error": {e.code}, "error_description": {e.description}, "state": {e.state}})
	setNoStore(w.Header())
	http.Redirect(w, r, target, http.StatusFound)
}
