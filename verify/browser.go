package verify

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/claimgate/claimgate/internal/randtoken"
	"github.com/claimgate/claimgate/internal/ratelog"
)

// Browser sessions (`browser CLIENT`): a request without a
// bearer token may carry an app session cookie holding the user's access
// and refresh tokens, encrypted with a key the claimgate app keeps in Caddy
// storage. Its access token is verified like a bearer token and sets the
// same headers; an expired one is renewed in process with the refresh
// token. A navigation without a session is sent to sign in through the
// provider's /authorize, and comes back to /.claimgate/callback on the
// app's own origin.

// BrowserSessions is what the claimgate app offers browser sessions: the
// token endpoint's flows for a named client, called in process (the
// process holds the client, so no client authentication is sent), and the
// cookie key. The handler depends on this, not on the app's package.
type BrowserSessions interface {
	// CheckBrowserClient reports whether the client can sign browsers in
	// for the audience (called at load).
	CheckBrowserClient(clientID, audience string) error
	// BrowserCookieKey is the 32-byte AES key of the cookies, shared by
	// every instance on the storage; nil until the app has started.
	BrowserCookieKey() []byte
	// BrowserSessionTTL bounds a session cookie's lifetime.
	BrowserSessionTTL() time.Duration
	// BrowserSessionScope is the scope the authorization request asks for.
	BrowserSessionScope() string
	// RedeemBrowserCode runs the authorization_code grant and checks the
	// ID token's nonce.
	RedeemBrowserCode(ctx context.Context, clientID, code, redirectURI, codeVerifier, nonce string) (access, refresh string, err error)
	// RefreshBrowserSession runs the refresh_token grant (rotation).
	RefreshBrowserSession(ctx context.Context, clientID, refreshToken string) (access, refresh string, err error)
	// RevokeBrowserSession revokes the refresh token's family.
	RevokeBrowserSession(ctx context.Context, clientID, refreshToken string) error
}

// temporary is implemented by the errors of BrowserSessions that a later
// attempt may not meet (the database is down): the session is kept and the
// request answered 503.
type temporary interface{ Temporary() bool }

// Paths answered on the app's origin by a claimgate_verify with browser.
const (
	browserPathPrefix = "/.claimgate/"
	callbackPath      = "/.claimgate/callback"
	logoutPath        = "/.claimgate/logout"
	loginPath         = "/.claimgate/login"
)

const (
	// authCookieTTL bounds a sign-in round trip through the provider.
	authCookieTTL = 10 * time.Minute
	// browserCallTimeout bounds an in-process grant call.
	browserCallTimeout = 10 * time.Second
	// refreshShareWindow is how long a refresh's outcome is handed to the
	// other requests that carried the same (now rotated) refresh token: a
	// page's parallel requests renew once, and none of them presents the
	// rotated token again (which reuse detection would punish by ending
	// the session).
	refreshShareWindow = 30 * time.Second
)

// browserSession is a handler's browser-session state, prepared once.
type browserSession struct {
	client       string
	audience     string
	scope        string
	authorizeURL string
	logoutURL    string
	sessions     BrowserSessions
	cookies      cookieCodec
	refreshes    refreshGroup
	logger       *zap.Logger
	// overLog lets the "browser session over" line through at INFO once a
	// minute; the others go to DEBUG (see logSessionOver).
	overLog *ratelog.Limiter
}

// newBrowserSession prepares the browser sessions of client on the app's
// sessions for issuer.
func newBrowserSession(client, audience, issuer string, sessions BrowserSessions, logger *zap.Logger) *browserSession {
	base := strings.TrimSuffix(issuer, "/")
	return &browserSession{
		client:       client,
		audience:     audience,
		scope:        sessions.BrowserSessionScope(),
		authorizeURL: base + "/authorize",
		logoutURL:    base + "/v2/logout",
		sessions:     sessions,
		cookies:      cookieCodec{client: client, key: sessions.BrowserCookieKey},
		refreshes:    refreshGroup{calls: make(map[[32]byte]*refreshCall)},
		logger:       logger,
		overLog:      ratelog.New(time.Minute),
	}
}

// appSession is what the app session cookie holds.
type appSession struct {
	Access  string `json:"a"`
	Refresh string `json:"r"`
	// Expires is the access token's exp (Unix seconds).
	Expires int64 `json:"x"`
}

// authState is what the sign-in cookie holds across the round trip.
type authState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Return   string `json:"r"`
	Created  int64  `json:"t"`
}

// serveBrowser answers a request without a bearer token: the
// /.claimgate/ paths, then the app session cookie, then a sign-in
// redirect for a navigation or the 401 of a request without a token.
func (v *Verify) serveBrowser(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	b := v.browser
	if strings.HasPrefix(r.URL.Path, browserPathPrefix) {
		switch r.URL.Path {
		case callbackPath:
			return v.browserCallback(w, r)
		case logoutPath:
			return b.logout(w, r)
		case loginPath:
			return b.startSignIn(w, r, safeReturn(r.URL.Query().Get("returnTo")))
		}
	}
	if value := b.cookies.readSession(r); value != "" {
		claims, err := v.sessionClaims(w, r, value)
		if err == nil {
			stripSessionCookies(r.Header)
			return v.forward(w, r, next, claims)
		}
		var t temporary
		if errors.As(err, &t) && t.Temporary() {
			b.logger.Error("renewing a browser session failed; try again later", zap.String("client_id", b.client), zap.Error(err))
			w.Header().Set("Retry-After", "5")
			return caddyhttp.Error(http.StatusServiceUnavailable, errors.New("browser session cannot be renewed now"))
		}
		b.logSessionOver(err)
		b.cookies.clearSession(w, r)
	}
	stripSessionCookies(r.Header)
	if v.Optional {
		v.count(outcomeAnonymous)
		setAnonymousPlaceholders(r)
		return next.ServeHTTP(w, r)
	}
	if navigation(r) {
		v.count(outcomeMissing)
		return b.startSignIn(w, r, r.URL.RequestURI())
	}
	v.count(outcomeMissing)
	return v.reject(w, v.challengeMissing, http.StatusUnauthorized, errors.New("no bearer token and no browser session"))
}

// logSessionOver logs a session cookie that no longer signs in (expired,
// revoked, undecryptable). Every request can carry a bad cookie, so the
// client must not set the log volume: INFO at most once a minute (a cookie
// key that differs between instances shows there), DEBUG for the rest.
func (b *browserSession) logSessionOver(err error) {
	level := zapcore.DebugLevel
	if b.overLog.Allow() {
		level = zapcore.InfoLevel
	}
	if c := b.logger.Check(level, "browser session over (logged at INFO once a minute)"); c != nil {
		c.Write(zap.String("client_id", b.client), zap.Error(err))
	}
}

// sessionClaims returns the verified claims of the session cookie value,
// renewing the access token first when it has expired (and once more when
// it does not verify), and setting the renewed cookie on w.
func (v *Verify) sessionClaims(w http.ResponseWriter, r *http.Request, value string) (map[string]any, error) {
	b := v.browser
	sess, err := b.cookies.openSession(value)
	if err != nil {
		return nil, err
	}
	renewed := false
	if time.Now().Unix() >= sess.Expires {
		if sess, err = v.renew(w, r, sess); err != nil {
			return nil, err
		}
		renewed = true
	}
	claims, err := v.verifier.Verify(r.Context(), sess.Access)
	if err != nil && !renewed {
		// A key retired, a clock that disagrees: one renewal decides.
		if sess, err = v.renew(w, r, sess); err != nil {
			return nil, err
		}
		claims, err = v.verifier.Verify(r.Context(), sess.Access)
	}
	return claims, err
}

// renew refreshes sess (once for every request carrying it) and sets the
// new cookie on w.
func (v *Verify) renew(w http.ResponseWriter, r *http.Request, sess appSession) (appSession, error) {
	b := v.browser
	renewed, err := b.refreshes.do(sha256.Sum256([]byte(sess.Refresh)), func() (appSession, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), browserCallTimeout)
		defer cancel()
		access, refresh, err := b.sessions.RefreshBrowserSession(ctx, b.client, sess.Refresh)
		if err != nil {
			return appSession{}, err
		}
		return v.newSession(ctx, access, refresh)
	})
	if err != nil {
		return appSession{}, err
	}
	if err := b.cookies.setSession(w, r, renewed, b.sessions.BrowserSessionTTL()); err != nil {
		return appSession{}, err
	}
	return renewed, nil
}

// newSession is the session of freshly issued tokens, with the access
// token's exp read by verifying it (which also caches it).
func (v *Verify) newSession(ctx context.Context, access, refresh string) (appSession, error) {
	claims, err := v.verifier.Verify(ctx, access)
	if err != nil {
		return appSession{}, fmt.Errorf("the issued access token does not verify here: %w", err)
	}
	exp, ok := unixClaim(claims["exp"])
	if !ok {
		return appSession{}, errors.New("the issued access token has no exp")
	}
	return appSession{Access: access, Refresh: refresh, Expires: exp}, nil
}

// startSignIn redirects the browser to the provider's /authorize (code,
// PKCE S256, state, nonce), keeping what the callback needs in a
// short-lived encrypted cookie named after the state, so that sign-ins
// started in several tabs do not overwrite each other.
func (b *browserSession) startSignIn(w http.ResponseWriter, r *http.Request, returnTo string) error {
	st := authState{Return: returnTo, Created: time.Now().Unix()}
	var err error
	if st.State, err = randomValue(); err == nil {
		if st.Nonce, err = randomValue(); err == nil {
			st.Verifier, err = randomValue()
		}
	}
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	if err := b.cookies.setAuthState(w, st); err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	sum := sha256.Sum256([]byte(st.Verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {b.client},
		"redirect_uri":          {appOrigin(r) + callbackPath},
		"scope":                 {b.scope},
		"audience":              {b.audience},
		"state":                 {st.State},
		"nonce":                 {st.Nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", b.authorizeURL+"?"+q.Encode())
	w.WriteHeader(http.StatusFound)
	return nil
}

// browserCallback answers /.claimgate/callback: it checks the state
// against the sign-in cookie, redeems the code in process, sets the app
// session cookie and redirects to the page first asked for.
func (v *Verify) browserCallback(w http.ResponseWriter, r *http.Request) error {
	b := v.browser
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return caddyhttp.Error(http.StatusMethodNotAllowed, errors.New("the sign-in callback only answers GET"))
	}
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	stateValue := q.Get("state")
	st, err := b.cookies.takeAuthState(w, r, stateValue)
	if err != nil {
		b.logger.Info("sign-in callback refused", zap.String("client_id", b.client), zap.Error(err))
		return caddyhttp.Error(http.StatusBadRequest, errors.New("sign-in failed: the sign-in expired or did not start here; open the page again"))
	}
	if e := q.Get("error"); e != "" {
		status := http.StatusUnauthorized
		if e == "access_denied" {
			status = http.StatusForbidden
		}
		b.logger.Info("sign-in refused by the provider", zap.String("client_id", b.client), zap.String("error", e))
		return caddyhttp.Error(status, fmt.Errorf("sign-in refused by the provider: %q", e))
	}
	code := q.Get("code")
	if code == "" {
		return caddyhttp.Error(http.StatusBadRequest, errors.New("sign-in failed: no code"))
	}
	ctx, cancel := context.WithTimeout(r.Context(), browserCallTimeout)
	defer cancel()
	access, refresh, err := b.sessions.RedeemBrowserCode(ctx, b.client, code, appOrigin(r)+callbackPath, st.Verifier, st.Nonce)
	var sess appSession
	if err == nil {
		sess, err = v.newSession(ctx, access, refresh)
	}
	if err == nil {
		err = b.cookies.setSession(w, r, sess, b.sessions.BrowserSessionTTL())
	}
	if err != nil {
		var t temporary
		if errors.As(err, &t) && t.Temporary() {
			b.logger.Error("completing a sign-in failed", zap.String("client_id", b.client), zap.Error(err))
			w.Header().Set("Retry-After", "5")
			return caddyhttp.Error(http.StatusServiceUnavailable, errors.New("sign-in cannot complete now"))
		}
		b.logger.Info("sign-in code refused", zap.String("client_id", b.client), zap.Error(err))
		return caddyhttp.Error(http.StatusBadRequest, errors.New("sign-in failed; open the page again"))
	}
	w.Header().Set("Location", safeReturn(st.Return))
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// logout answers /.claimgate/logout: it revokes the session's refresh
// token, clears the cookie and sends the browser to the provider's logout
// (which ends the sign-in session) with this origin as returnTo.
func (b *browserSession) logout(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return caddyhttp.Error(http.StatusMethodNotAllowed, errors.New("logout only answers GET"))
	}
	if value := b.cookies.readSession(r); value != "" {
		if sess, err := b.cookies.openSession(value); err == nil {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), browserCallTimeout)
			if err := b.sessions.RevokeBrowserSession(ctx, b.client, sess.Refresh); err != nil {
				b.logger.Warn("revoking a browser session's refresh token failed", zap.String("client_id", b.client), zap.Error(err))
			}
			cancel()
		}
	}
	b.cookies.clearSession(w, r)
	q := url.Values{"client_id": {b.client}, "returnTo": {appOrigin(r) + "/"}}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", b.logoutURL+"?"+q.Encode())
	w.WriteHeader(http.StatusFound)
	return nil
}

// navigation reports a browser navigation: GET or HEAD whose Accept
// includes text/html. Anything else (fetch, XHR, an API client) gets 401.
func navigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	for _, a := range r.Header["Accept"] {
		if strings.Contains(a, "text/html") {
			return true
		}
	}
	return false
}

// appOrigin is the origin the request was sent to.
func appOrigin(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// safeReturn is p when it is a path on this origin, else "/": never an
// absolute URL, a scheme-relative //host, a /\host that browsers read as
// one, or anything with a control character.
func safeReturn(p string) string {
	if p == "" || p[0] != '/' || len(p) > 4096 || strings.HasPrefix(p, "//") || strings.HasPrefix(p, `/\`) {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return p
}

// randomValue is 256 random bits, base64url: a state, nonce or PKCE
// verifier (43 characters).
func randomValue() (string, error) { return randtoken.Secret(), nil }

// unixClaim reads a NumericDate claim.
func unixClaim(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			f, ferr := n.Float64()
			return int64(f), ferr == nil
		}
		return i, true
	case int64:
		return n, true
	}
	return 0, false
}

// statesEqual compares two state values in constant time.
func statesEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// refreshGroup runs one refresh per refresh token at a time and hands its
// outcome to every request that carried that token for refreshShareWindow.
type refreshGroup struct {
	mu    sync.Mutex
	calls map[[32]byte]*refreshCall
}

type refreshCall struct {
	done     chan struct{}
	sess     appSession
	err      error
	finished time.Time // zero while running; set under mu
}

// do runs fn for key, or waits for the run already going (or just done).
func (g *refreshGroup) do(key [32]byte, fn func() (appSession, error)) (appSession, error) {
	g.mu.Lock()
	now := time.Now()
	for k, c := range g.calls {
		if !c.finished.IsZero() && now.Sub(c.finished) > refreshShareWindow {
			delete(g.calls, k)
		}
	}
	if c, ok := g.calls[key]; ok {
		g.mu.Unlock()
		<-c.done
		return c.sess, c.err
	}
	c := &refreshCall{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()

	c.sess, c.err = fn()
	g.mu.Lock()
	c.finished = time.Now()
	var t temporary
	if errors.As(c.err, &t) && t.Temporary() {
		delete(g.calls, key) // the next request tries again
	}
	g.mu.Unlock()
	close(c.done)
	return c.sess, c.err
}
