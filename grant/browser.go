package grant

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/claimgate/claimgate/store"
)

// Browser sign-in (OpenID Provider): the hosted login page, the sign-in
// (SSO) session, authorization codes and the authorization_code grant. It
// runs on the Service's stores, password check, rules and keys; only the
// session lifetimes are its own. Like the rest of the package it knows
// nothing of HTTP: the login handler (and claimgate_verify's browser
// sessions, in process) parse and check requests and call these.
//
// A session and a code are rows of claimgate_ tables keyed by hashes
// (store/session.go, store/authcode.go), so any instance serves any step.

// Errors of browser sign-in.
var (
	// ErrInvalidCode is every refusal of an authorization code: unknown,
	// expired, used before (its refresh tokens are then revoked), another
	// client's, another redirect_uri, a wrong or missing code_verifier, or
	// its user may no longer sign in.
	ErrInvalidCode = errors.New("invalid authorization code")
	// ErrNoSession means there is no usable sign-in session: none, ended,
	// expired, or its user changed password or is blocked (the session has
	// then been ended).
	ErrNoSession = errors.New("no sign-in session")
)

// CodeTTL is how long an authorization code may be redeemed.
const CodeTTL = 60 * time.Second

// BrowserConfig is what browser sign-in adds to the Service's settings.
type BrowserConfig struct {
	// SessionTTL is the absolute lifetime of a sign-in session.
	SessionTTL time.Duration
	// SessionIdleTTL ends a session unused for this long.
	SessionIdleTTL time.Duration
}

// Browser runs browser sign-in on a Service. It is safe for concurrent use.
type Browser struct {
	s   *Service
	cfg BrowserConfig
}

// NewBrowser returns the browser flows of s.
func NewBrowser(s *Service, cfg BrowserConfig) *Browser {
	return &Browser{s: s, cfg: cfg}
}

// AuthorizeRequest is an authorization request (OIDC Core §3.1.2.1) whose
// parameters the caller has checked: the client may use the
// authorization_code grant, RedirectURI is one of its registered ones, the
// PKCE challenge is S256 and present when the client is public, the scopes
// are granted (RequestedScopes) and the audience allowed.
type AuthorizeRequest struct {
	Client       *Client
	RedirectURI  string
	Scopes       []string
	Audience     string
	Organization string
	Nonce        string
	// CodeChallenge is the S256 challenge, or "" (confidential clients
	// only).
	CodeChallenge string
	// IP is the end user's address as the failure counters key it
	// (Service.AccountingIP).
	IP string
}

// Session is a live sign-in session.
type Session struct {
	// SID is the session's public id (the ID token's sid).
	SID string
	// User is the user, as just read again.
	User *store.User
	// Username is the login name the user signed in with.
	Username  string
	AuthTime  time.Time
	ExpiresAt time.Time
}

// SignedIn is the outcome of a sign-in on the login page.
type SignedIn struct {
	// SessionToken is the new session's cookie value; never logged.
	SessionToken string
	Session      *Session
	// Code is the authorization code for the request.
	Code string
}

// SignIn checks a username and password typed into the login page — by the
// very check the password grant runs (checkPassword: one budget for both
// ways in) — then the organization membership and the deny rules for the
// request, starts a sign-in session and issues a code. The errors are the
// password grant's (ErrBadCredentials, *BlockedError, ErrNotMember,
// *DeniedError, *UnavailableError).
func (b *Browser) SignIn(ctx context.Context, req *AuthorizeRequest, username, password string) (_ *SignedIn, err error) {
	began := time.Now()
	s := b.s
	user, err := s.findUser(ctx, username)
	if err != nil {
		return nil, err
	}
	// The audit events name whose sign-in it was, as the password grant's do.
	defer func() { err = s.attributeRefusal(err, user, username) }()
	pw := &PasswordRequest{Client: req.Client, GrantType: TypeAuthorizationCode, Username: username,
		Password: password, Audience: req.Audience, Scopes: req.Scopes, Organization: req.Organization, IP: req.IP}
	if err := s.checkPassword(ctx, pw, user, began); err != nil {
		return nil, err
	}
	if err := b.checkAccess(ctx, req, user); err != nil {
		return nil, err
	}

	raw, err := store.NewSessionID()
	if err != nil {
		return nil, mintUnavailable("Cannot start a session right now.", err)
	}
	now := s.cfg.Now()
	sess := &Session{SID: store.SessionSID(raw), User: user, Username: username, AuthTime: now,
		ExpiresAt: now.Add(b.cfg.SessionTTL)}
	row := store.Session{UserID: user.ID, Username: username, AuthTime: now, ExpiresAt: sess.ExpiresAt,
		PasswordFingerprint: store.PasswordFingerprint(user.PasswordHash)}
	if err := s.cfg.State.CreateSession(ctx, raw, row, now); err != nil {
		return nil, stateUnavailable(err)
	}
	code, err := b.storeCode(ctx, req, sess, now)
	if err != nil {
		return nil, err
	}
	s.cfg.Logger.Debug("browser sign-in", zap.String("user_id", user.ID), zap.String("client_id", req.Client.ID))
	return &SignedIn{SessionToken: raw, Session: sess, Code: code}, nil
}

// Session returns the live session of the cookie value raw, recording its
// use. The user is read again: one who is gone, blocked, or whose password
// changed since the sign-in (claimgate's own rehash aside) ends the session,
// and ErrNoSession is returned as for a session that is unknown, ended,
// expired or idle.
func (b *Browser) Session(ctx context.Context, raw string) (*Session, error) {
	s := b.s
	if raw == "" {
		return nil, ErrNoSession
	}
	if err := s.cfg.StateReady(ctx); err != nil {
		return nil, stateUnavailable(err)
	}
	now := s.cfg.Now()
	row, err := s.cfg.State.UseSession(ctx, raw, now, b.cfg.SessionIdleTTL)
	switch {
	case errors.Is(err, store.ErrSessionInvalid):
		return nil, ErrNoSession
	case err != nil:
		return nil, stateUnavailable(err)
	}
	user, err := s.rereadUser(ctx, store.RefreshGrant{UserID: row.UserID, Username: row.Username})
	var reason error
	switch {
	case errors.Is(err, store.ErrNotFound):
		reason = errors.New("user no longer exists")
	case err != nil:
		return nil, unavailable(err)
	case user.ID != row.UserID:
		reason = errors.New("login name now names another user")
	case user.Blocked:
		reason = errors.New("user is blocked")
	default:
		ok, err := s.cfg.State.SessionPasswordAccepted(ctx, user.ID, row.PasswordFingerprint, user.PasswordHash)
		if err != nil {
			return nil, stateUnavailable(err)
		}
		if !ok {
			reason = errors.New("the password changed since the sign-in")
		}
	}
	if reason != nil {
		if err := s.cfg.State.EndSession(ctx, raw, now); err != nil {
			s.cfg.Logger.Warn("ending a refused sign-in session failed", zap.String("user_id", row.UserID), zap.Error(err))
		}
		s.cfg.Logger.Info("sign-in session ended", zap.String("user_id", row.UserID), zap.Error(reason))
		return nil, fmt.Errorf("%w: %w", ErrNoSession, reason)
	}
	return &Session{SID: row.SID, User: user, Username: row.Username, AuthTime: row.AuthTime, ExpiresAt: row.ExpiresAt}, nil
}

// Authorize issues a code for req on a live session (single sign-on): the
// organization membership and the deny rules are checked for this request
// as at a sign-in.
func (b *Browser) Authorize(ctx context.Context, req *AuthorizeRequest, sess *Session) (string, error) {
	if err := b.checkAccess(ctx, req, sess.User); err != nil {
		return "", err
	}
	return b.storeCode(ctx, req, sess, b.s.cfg.Now())
}

// EndSession ends the session of the cookie value raw on every instance;
// an unknown or ended session is no error.
func (b *Browser) EndSession(ctx context.Context, raw string) error {
	s := b.s
	if raw == "" {
		return nil
	}
	if err := s.cfg.StateReady(ctx); err != nil {
		return stateUnavailable(err)
	}
	if err := s.cfg.State.EndSession(ctx, raw, s.cfg.Now()); err != nil {
		return stateUnavailable(err)
	}
	return nil
}

// checkAccess refuses a user who is not a member of the requested
// organization or whom a deny rule refuses for this request.
func (b *Browser) checkAccess(ctx context.Context, req *AuthorizeRequest, user *store.User) error {
	s := b.s
	grants, err := s.cfg.Users.LoadGrants(ctx, user, req.Organization)
	switch {
	case errors.Is(err, store.ErrNotMember):
		return ErrNotMember
	case err != nil:
		return unavailable(err)
	}
	in := ruleInput(req.Client.ID, req.Audience, TypeAuthorizationCode, req.Scopes, user, grants)
	if _, err := s.evaluateRules(in); err != nil && !errors.Is(err, ErrClaimsTooLarge) {
		return err
	}
	return nil
}

// storeCode issues a code for req on sess.
func (b *Browser) storeCode(ctx context.Context, req *AuthorizeRequest, sess *Session, now time.Time) (string, error) {
	s := b.s
	if err := s.cfg.StateReady(ctx); err != nil {
		return "", stateUnavailable(err)
	}
	code, err := store.NewCode()
	if err != nil {
		return "", mintUnavailable("Cannot issue a code right now.", err)
	}
	c := store.AuthCode{
		ClientID:      req.Client.ID,
		RedirectURI:   req.RedirectURI,
		CodeChallenge: req.CodeChallenge,
		Nonce:         req.Nonce,
		Scope:         strings.Join(req.Scopes, " "),
		Audience:      req.Audience,
		Organization:  req.Organization,
		UserID:        sess.User.ID,
		Username:      sess.Username,
		SessionID:     sess.SID,
		AuthTime:      sess.AuthTime,
		ExpiresAt:     now.Add(CodeTTL),
	}
	if err := s.cfg.State.CreateCode(ctx, code, c, now); err != nil {
		return "", stateUnavailable(err)
	}
	return code, nil
}

// CodeRequest is an authorization_code grant (RFC 6749 §4.1.3) by an
// authenticated client (the caller authenticated it: HTTP client
// authentication, or an in-process client that holds it).
type CodeRequest struct {
	Client *Client
	// Code is the authorization code; never logged.
	Code        string
	RedirectURI string
	// CodeVerifier is the PKCE verifier (RFC 7636), or "".
	CodeVerifier string
}

// RedeemCode runs the authorization_code grant: it spends the code (once:
// a second redemption is ErrInvalidCode and revokes the refresh tokens
// issued from the first), checks redirect_uri and PKCE, reads the user
// again, checks membership and the deny rules, and mints the tokens: an ID
// token with nonce, auth_time and sid when openid was granted, a refresh
// token with offline_access.
func (b *Browser) RedeemCode(ctx context.Context, req *CodeRequest) (*Tokens, error) {
	s := b.s
	if err := s.cfg.StateReady(ctx); err != nil {
		return nil, stateUnavailable(err)
	}
	now := s.cfg.Now()
	c, err := s.cfg.State.RedeemCode(ctx, req.Code, req.Client.ID, now)
	switch {
	case errors.Is(err, store.ErrCodeReused):
		s.cfg.Logger.Warn("authorization code used twice; the tokens issued from it are revoked",
			zap.String("client_id", req.Client.ID))
		return nil, invalidCode(err)
	case errors.Is(err, store.ErrCodeInvalid):
		return nil, invalidCode(err)
	case err != nil:
		return nil, stateUnavailable(err)
	}
	if c.RedirectURI != req.RedirectURI {
		return nil, invalidCode(errors.New("redirect_uri differs from the authorization request's"))
	}
	if err := checkPKCE(req.Client, c.CodeChallenge, req.CodeVerifier); err != nil {
		return nil, invalidCode(err)
	}
	if !req.Client.AllowsAudience(c.Audience) {
		return nil, invalidCode(errors.New("audience no longer allowed for the client"))
	}

	user, err := s.rereadUser(ctx, store.RefreshGrant{UserID: c.UserID, Username: c.Username})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, invalidCode(errors.New("user no longer exists"))
	case err != nil:
		return nil, unavailable(err)
	case user.ID != c.UserID:
		return nil, invalidCode(errors.New("login name now names another user"))
	case user.Blocked:
		return nil, invalidCode(errors.New("user is blocked"))
	}
	grants, err := s.cfg.Users.LoadGrants(ctx, user, c.Organization)
	switch {
	case errors.Is(err, store.ErrNotMember):
		return nil, ErrNotMember
	case err != nil:
		return nil, unavailable(err)
	}
	scopes := strings.Fields(c.Scope)
	result, err := s.evaluateRules(ruleInput(req.Client.ID, c.Audience, TypeAuthorizationCode, scopes, user, grants))
	if err != nil {
		return nil, err
	}
	mr := mintRequest{client: req.Client, audience: c.Audience, scopes: scopes,
		idToken: &idTokenExtras{nonce: c.Nonce, authTime: c.AuthTime, sid: c.SessionID}}
	toks, err := s.mint(now, mr, user, grants, result)
	if err != nil {
		return nil, err
	}
	if slices.Contains(scopes, ScopeOfflineAccess) && req.Client.HasGrant(ClientGrantRefresh) {
		if toks.RefreshToken, err = b.issueCodeRefresh(ctx, req, c, user, now); err != nil {
			return nil, err
		}
	}
	s.cfg.Logger.Debug("code redeemed", zap.String("user_id", user.ID), zap.String("client_id", req.Client.ID))
	return toks, nil
}

// issueCodeRefresh starts the refresh-token family of a redeemed code. Its
// id is derived from the code, so a second redemption revokes it whenever
// it runs; ConfirmCodeFamily covers one that ran before it existed.
func (b *Browser) issueCodeRefresh(ctx context.Context, req *CodeRequest, c store.AuthCode, user *store.User, now time.Time) (string, error) {
	s := b.s
	raw, err := store.NewRefreshToken()
	if err != nil {
		return "", mintUnavailable("Cannot issue a refresh token right now.", err)
	}
	g := store.RefreshGrant{
		FamilyID:            store.CodeFamilyID(req.Code),
		UserID:              user.ID,
		Username:            c.Username,
		ClientID:            req.Client.ID,
		Audience:            c.Audience,
		Scope:               c.Scope,
		Organization:        c.Organization,
		FamilyExpiresAt:     now.Add(s.cfg.RefreshTokenTTL),
		PasswordFingerprint: store.PasswordFingerprint(user.PasswordHash),
	}
	if err := s.cfg.State.CreateRefreshFamily(ctx, raw, g, now); err != nil {
		return "", mintUnavailable("Cannot issue a refresh token right now.", err)
	}
	switch err := s.cfg.State.ConfirmCodeFamily(ctx, req.Code, now); {
	case errors.Is(err, store.ErrCodeReused):
		return "", invalidCode(err)
	case err != nil:
		return "", stateUnavailable(err)
	}
	return raw, nil
}

// checkPKCE checks a code_verifier against the code's challenge (RFC 7636
// §4.6, S256 only). A public client's code always has a challenge (the
// authorization request required one); a verifier without a challenge is
// refused too (OAuth 2.1), since it means the request was not the client's.
func checkPKCE(c *Client, challenge, verifier string) error {
	switch {
	case challenge == "" && verifier != "":
		return errors.New("code_verifier without a code_challenge")
	case challenge == "" && !c.Confidential:
		return errors.New("public client without PKCE")
	case challenge == "":
		return nil
	case !ValidPKCEValue(verifier):
		return errors.New("missing or malformed code_verifier")
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) != 1 {
		return errors.New("code_verifier does not match the code_challenge")
	}
	return nil
}

// ValidPKCEValue reports whether v has the shape of a code_verifier (RFC
// 7636 §4.1: 43 to 128 unreserved characters). An S256 code_challenge is
// 43 such characters, so the same check bounds it.
func ValidPKCEValue(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// AllowsRedirectURI reports whether u is one of the client's redirect_uri
// values, compared exactly (no wildcards, no normalisation: RFC 9700
// §4.1.3).
func (c *Client) AllowsRedirectURI(u string) bool { return slices.Contains(c.RedirectURIs, u) }

// AllowsLogoutRedirectURI reports whether u is one of the client's
// logout_redirect_uri values, compared exactly.
func (c *Client) AllowsLogoutRedirectURI(u string) bool {
	return slices.Contains(c.LogoutRedirectURIs, u)
}

// FormToken is the login form's CSRF token for the pre-login cookie value
// binding: keyed by the per-install secret (Caddy storage), so that any
// instance can check a form another instance served, and useless without
// the cookie it is bound to.
func (b *Browser) FormToken(binding string) string {
	mac := hmac.New(sha256.New, b.s.logKey())
	mac.Write([]byte("claimgate login form\x00"))
	mac.Write([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// FormTokenValid reports, in constant time, whether token is FormToken of
// binding.
func (b *Browser) FormTokenValid(binding, token string) bool {
	if binding == "" || token == "" {
		return false
	}
	return hmac.Equal([]byte(b.FormToken(binding)), []byte(token))
}

// idTokenExtras are the ID token claims of a browser sign-in.
type idTokenExtras struct {
	nonce    string
	authTime time.Time
	sid      string
}

// set adds the extras to an ID token's claims; a nil receiver adds none.
func (x *idTokenExtras) set(claims map[string]any) {
	if x == nil {
		return
	}
	if x.nonce != "" {
		claims["nonce"] = x.nonce
	}
	if !x.authTime.IsZero() {
		claims["auth_time"] = x.authTime.Unix()
	}
	if x.sid != "" {
		claims["sid"] = x.sid
	}
}

// invalidCode wraps the logged reason of a refused code.
func invalidCode(reason error) error {
	return fmt.Errorf("%w: %w", ErrInvalidCode, reason)
}

// SessionTTL is the absolute lifetime of a sign-in session (the cookie's).
func (b *Browser) SessionTTL() time.Duration { return b.cfg.SessionTTL }
