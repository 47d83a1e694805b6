package login

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/hostcookie"
	"github.com/claimgate/claimgate/internal/loginpage"
	"github.com/claimgate/claimgate/internal/randtoken"
)

// Cookies of browser sign-in. The __Host- prefix makes browsers refuse
// them unless Secure, host-only and Path=/, so a sibling subdomain cannot
// plant one (which is what would defeat a cookie-bound CSRF token).
const (
	sessionCookie  = "__Host-claimgate_session"
	preLoginCookie = "__Host-claimgate_login"
	// preLoginTTL bounds how long a login form stays usable.
	preLoginTTL = 30 * time.Minute
)

// Texts of the login page.
const (
	msgWrongCredentials = wrongCredentials
	msgMissingFields    = "Enter your email and password."
	msgFormExpired      = "The sign-in form expired or did not come from this site. Please try again."
	msgBlocked          = "Too many failed sign-in attempts. Try again later."
	msgCrossSite        = "This sign-in request came from another site and was refused."
)

// setPageHeaders sets the headers of every page of browser sign-in.
// formOrigin, when not "", is the origin of the request's redirect_uri:
// browsers apply form-action to the redirects that follow a form post.
func setPageHeaders(h http.Header, formOrigin string) {
	formAction := "'self'"
	if formOrigin != "" {
		formAction += " " + formOrigin
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action "+formAction)
	h.Set("X-Content-Type-Options", "nosniff")
	// Not no-referrer: that would make the page's own post carry
	// Origin: null, which the cross-site check must refuse.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
}

// origin is the scheme://host[:port] of a URL.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// renderPage writes a page of status made by t with data.
func (l *Login) renderPage(w http.ResponseWriter, status int, formOrigin string, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		l.logger.Error("rendering a sign-in page failed", zap.Error(err))
		status, buf = http.StatusInternalServerError, *bytes.NewBufferString("Internal server error\n")
	}
	setPageHeaders(w.Header(), formOrigin)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// messagePage shows a message (an error, "signed out").
func (l *Login) messagePage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	l.renderPage(w, status, "", loginpage.MessagePage, loginpage.Message{Title: title, Message: message})
}

// loginPage shows the login form for req, with a form token bound to the
// pre-login cookie (set when missing).
func (l *Login) loginPage(w http.ResponseWriter, r *http.Request, req *authzRequest, status int, errMsg, hint string) {
	binding := preLoginValue(r)
	if binding == "" {
		var err error
		if binding, err = randomToken(); err != nil {
			l.messagePage(w, r, http.StatusInternalServerError, "Sign-in error", "Cannot show the sign-in page right now.")
			return
		}
		setCookie(w, preLoginCookie, binding, time.Now().Add(preLoginTTL))
	}
	data := loginpage.Data{
		Action:     pathLoginPage + "?" + req.query,
		CSRFToken:  l.app.Browser().FormToken(binding),
		Error:      errMsg,
		LoginHint:  hint,
		ClientName: req.Client.ID,
	}
	l.renderPage(w, status, origin(req.RedirectURI), l.app.LoginTemplate(), data)
}

// serveLoginPost answers the login form's post: the request is checked
// again as an authorization request (it travels in the action URL), then
// for cross-site origin and the form token, then the password is checked by
// the password grant's own check.
func (l *Login) serveLoginPost(w http.ResponseWriter, r *http.Request) {
	req, e := l.parseAuthorize(r)
	if e != nil {
		l.answerAuthorizeError(w, r, e)
		return
	}
	if crossSite(r, origin(l.app.Issuer)) {
		l.logger.Info("cross-site login post refused", zap.String("origin", r.Header.Get("Origin")),
			zap.String("sec_fetch_site", r.Header.Get("Sec-Fetch-Site")))
		l.messagePage(w, r, http.StatusForbidden, "Sign-in refused", msgCrossSite)
		return
	}
	body, err := readRequestBody(w, r)
	var form map[string]string
	if err == nil {
		form, err = parseTokenRequest(r.Header.Get("Content-Type"), body)
	}
	if err != nil {
		l.loginPage(w, r, req, http.StatusBadRequest, msgMissingFields, req.loginHint)
		return
	}
	browser := l.app.Browser()
	username, password := form["username"], form["password"]
	if !browser.FormTokenValid(preLoginValue(r), form["csrf_token"]) {
		l.logger.Info("login post without a valid form token refused")
		l.loginPage(w, r, req, http.StatusForbidden, msgFormExpired, username)
		return
	}
	if username == "" || password == "" {
		l.loginPage(w, r, req, http.StatusBadRequest, msgMissingFields, username)
		return
	}
	if len(username) > maxLoginHint {
		// Refused, not cut: a cut name could split a character and would
		// not be the name the password grant checks.
		l.loginPage(w, r, req, http.StatusBadRequest, msgWrongCredentials, "")
		return
	}

	signed, err := browser.SignIn(r.Context(), &req.AuthorizeRequest, username, password)
	l.recordLoginPage(r, req.Client.ID, signed, err)
	var blocked *grant.BlockedError
	var unavailable *grant.UnavailableError
	switch {
	case err == nil:
	case errors.Is(err, grant.ErrBadCredentials):
		l.loginPage(w, r, req, http.StatusBadRequest, msgWrongCredentials, username)
		return
	case errors.As(err, &blocked):
		ge := l.fromGrant(err)
		w.Header().Set("Retry-After", ge.header.Get("Retry-After"))
		l.logger.Info("login page refused", zap.String("error", ge.code), zap.Error(err))
		l.loginPage(w, r, req, http.StatusTooManyRequests, msgBlocked, username)
		return
	case errors.As(err, &unavailable):
		l.logger.Error("login page unavailable", zap.Error(err))
		w.Header().Set("Retry-After", strconv.Itoa(int(unavailable.RetryAfter/time.Second)))
		l.loginPage(w, r, req, http.StatusServiceUnavailable, unavailable.Description, username)
		return
	default:
		// Refusals the client must hear of (access_denied) and failures.
		ge := l.fromGrant(err)
		l.logger.Info("login page refused", zap.String("error", ge.code), zap.Error(err))
		l.answerAuthorizeError(w, r, req.redirectError(ge.code, ge.description))
		return
	}
	// A new sign-in (prompt=login, max_age) ends the session it replaces,
	// so an older copy of the cookie stops working.
	if old := sessionCookieValue(r); old != "" {
		if err := browser.EndSession(r.Context(), old); err != nil {
			l.logger.Warn("ending the replaced sign-in session failed", zap.Error(err))
		}
	}
	setCookie(w, sessionCookie, signed.SessionToken, signed.Session.ExpiresAt)
	clearCookie(w, preLoginCookie)
	l.redirectWithCode(w, r, req, signed.Code, http.StatusSeeOther)
}

// crossSite reports a post another site made the browser send: an Origin
// that is neither this request's origin nor the issuer's (Origin: null
// included), or Sec-Fetch-Site cross-site. The issuer's origin is accepted
// because behind a TLS-terminating proxy the request arrives over plain
// HTTP while the browser's Origin says https. A request with neither
// header (an old browser, a script) is left to the form token.
func crossSite(r *http.Request, issuerOrigin string) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return true
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return o != scheme+"://"+r.Host && o != issuerOrigin
}

// sessionCookieValue is the sign-in session cookie's value, or "".
func sessionCookieValue(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// preLoginValue is the pre-login cookie's value, or "" when absent or not
// one of ours (a planted value of another shape is ignored).
func preLoginValue(r *http.Request) string {
	c, err := r.Cookie(preLoginCookie)
	if err != nil || len(c.Value) != 43 {
		return ""
	}
	return c.Value
}

// setCookie sets a __Host- cookie: Secure, HttpOnly, SameSite=Lax, Path=/,
// Max-Age at least 1 (deleted when expires has passed); see hostcookie.
func setCookie(w http.ResponseWriter, name, value string, expires time.Time) {
	hostcookie.Set(w, name, value, expires)
}

// clearCookie deletes a cookie set by setCookie.
func clearCookie(w http.ResponseWriter, name string) { hostcookie.Clear(w, name) }

// randomToken is a new secret (internal/randtoken).
func randomToken() (string, error) { return randtoken.Secret(), nil }
