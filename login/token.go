package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/password"
	"github.com/claimgate/claimgate/store"
)

// Grant types accepted at the token endpoint.
const (
	grantPassword      = "password"
	grantPasswordRealm = "http://auth0.com/oauth/grant-type/password-realm"
	grantRefreshToken  = "refresh_token"
)

// Scopes every client may ask for (beyond its own API scopes).
const (
	scopeOpenID        = "openid"
	scopeProfile       = "profile"
	scopeEmail         = "email"
	scopeOfflineAccess = "offline_access"
)

var standardScopes = []string{scopeOpenID, scopeProfile, scopeEmail, scopeOfflineAccess}

// tokenResponse is RFC 6749 §5.1's success body.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// passwordRequest is a password(-realm) grant request that passed the
// checks that need no database.
type passwordRequest struct {
	auth         clientAuth
	grantType    string
	username     string
	password     string
	audience     string
	scopes       []string // granted, in request order, deduplicated
	organization string
	ip           string // end user's IP, for brute-force accounting
	subject      string // whose failures count (store.LoginSubject)
}

// serveToken answers POST /oauth/token.
func (l *Login) serveToken(w http.ResponseWriter, r *http.Request) {
	resp, e := l.token(w, r)
	if e != nil {
		l.answerError(w, r, e)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// token runs the checks in SPEC §3's order; the first that fails answers.
func (l *Login) token(w http.ResponseWriter, r *http.Request) (*tokenResponse, *oauthError) {
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
	case grantPassword, grantPasswordRealm:
	case grantRefreshToken:
		if !l.app.refreshTokensAvailable() {
			return nil, newOAuthError(http.StatusBadRequest, codeUnsupportedGrantType,
				"The refresh_token grant is not available.")
		}
	default:
		return nil, newOAuthError(http.StatusBadRequest, codeUnsupportedGrantType, "Unsupported grant type.")
	}

	auth, e := l.app.authenticateClient(r, params)
	if e != nil {
		return nil, e
	}
	if !auth.client.allows(grantType) {
		return nil, newOAuthError(http.StatusBadRequest, codeUnauthorizedClient,
			"The client may not use this grant type.")
	}
	if grantType == grantRefreshToken {
		return l.refreshGrant(r, auth, params)
	}

	req, e := l.app.checkPasswordRequest(auth, grantType, params)
	if e != nil {
		return nil, e
	}
	req.ip = accountingIP(clientIP(r, auth))
	return l.passwordGrant(r.Context(), req)
}

// accountingIP is the IP as the failure counters key it: IPv4-mapped IPv6
// as plain IPv4 (one client, one key), never empty (the empty key is the
// account-wide counter), and never longer than the column.
func accountingIP(ip string) string {
	if addr, err := netip.ParseAddr(ip); err == nil {
		return addr.Unmap().WithZone("").String()
	}
	if ip == "" {
		return "unknown"
	}
	if len(ip) > 64 {
		return ip[:64]
	}
	return ip
}

// checkPasswordRequest checks the parameters of a password grant in SPEC
// order: required parameters, realm, audience, scope (then organization,
// which needs organization_query).
func (a *App) checkPasswordRequest(auth clientAuth, grantType string, params map[string]string) (*passwordRequest, *oauthError) {
	req := &passwordRequest{
		auth:         auth,
		grantType:    grantType,
		username:     params["username"],
		password:     params["password"],
		organization: params["organization"],
	}
	if req.username == "" || req.password == "" {
		return nil, errInvalidRequest("Missing username or password.")
	}
	if realm, ok := params["realm"]; ok && realm != a.Database.Name {
		return nil, errInvalidRequest("Unknown realm.")
	}

	req.audience = params["audience"]
	if req.audience == "" {
		req.audience = auth.client.audiences[0]
	} else if !auth.client.allowsAudience(req.audience) {
		return nil, newOAuthError(http.StatusBadRequest, codeInvalidTarget,
			"The audience is not allowed for this client.")
	}

	scopes, e := grantScopes(auth.client, params["scope"], a.refreshTokensAvailable())
	if e != nil {
		return nil, e
	}
	req.scopes = scopes

	if req.organization != "" && a.Database.OrganizationQuery == "" {
		return nil, errInvalidRequest("Organizations are not configured.")
	}
	return req, nil
}

// grantScopes checks the requested scopes: the standard OIDC ones and the
// client's own. offline_access needs the refresh_token grant; should refresh
// tokens be unavailable (refreshAvailable false) it is left out of the
// granted scopes, which RFC 6749 §3.3 allows and the response's scope shows.
func grantScopes(c *client, requested string, refreshAvailable bool) ([]string, *oauthError) {
	fields := strings.Fields(requested)
	granted := make([]string, 0, len(fields))
	seen := make(map[string]bool, len(fields))
	for _, s := range fields {
		if seen[s] {
			continue
		}
		seen[s] = true
		if !isStandardScope(s) && !c.scopes[s] {
			return nil, newOAuthError(http.StatusBadRequest, codeInvalidScope, "A requested scope is not allowed.")
		}
		if s == scopeOfflineAccess {
			if !c.grants[clientGrantRefresh] {
				return nil, newOAuthError(http.StatusBadRequest, codeInvalidScope,
					"offline_access needs the refresh_token grant.")
			}
			if !refreshAvailable {
				continue
			}
		}
		granted = append(granted, s)
	}
	return granted, nil
}

func isStandardScope(s string) bool {
	for _, std := range standardScopes {
		if s == std {
			return true
		}
	}
	return false
}

func hasScope(scopes []string, s string) bool {
	for _, g := range scopes {
		if g == s {
			return true
		}
	}
	return false
}

// passwordGrant looks the user up, checks the brute-force block, the
// credentials, the organization membership and the deny rules, then mints
// the tokens. The lookup comes first because a known user's failures are
// counted by user_id; the answers keep SPEC §3's order all the same (a
// block answers before the credentials), and a blocked request spends no
// password hash.
func (l *Login) passwordGrant(ctx context.Context, req *passwordRequest) (*tokenResponse, *oauthError) {
	user, e := l.findUser(ctx, req)
	if e != nil {
		return nil, e
	}
	req.subject = loginSubject(req, user)
	if e := l.checkBruteForceBlock(ctx, req); e != nil {
		return nil, e
	}
	if e := l.verifyCredentials(ctx, req, user); e != nil {
		if e.code == codeInvalidGrant {
			if fe := l.recordLoginFailure(ctx, req); fe != nil {
				return nil, fe
			}
		}
		return nil, e
	}
	if e := l.recordLoginSuccess(ctx, req, user); e != nil {
		return nil, e
	}
	l.maybeRehash(user, req.password)

	grants, err := l.app.store.LoadGrants(ctx, user, req.organization)
	switch {
	case errors.Is(err, store.ErrNotMember):
		return nil, errAccessDenied("The user is not a member of the organization.")
	case err != nil:
		return nil, errUnavailable("The user database is unavailable.", retryAfterUnavailable).withCause(err)
	}

	result, e := l.evaluateRules(req, user, grants)
	if e != nil {
		return nil, e
	}
	now := l.app.now()
	resp, e := l.mintTokens(now, req, user, grants, result)
	if e != nil {
		return nil, e
	}
	if hasScope(req.scopes, scopeOfflineAccess) {
		if resp.RefreshToken, e = l.issueRefreshToken(ctx, req, user, now); e != nil {
			return nil, e
		}
	}
	l.logger.Debug("login", zap.String("user_id", user.ID), zap.String("client_id", req.auth.client.id))
	return resp, nil
}

// findUser runs user_query; no such user is (nil, nil). A database failure
// is 503.
func (l *Login) findUser(ctx context.Context, req *passwordRequest) (*store.User, *oauthError) {
	user, err := l.app.store.FindUser(ctx, req.username)
	switch {
	case err == nil:
		return user, nil
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	default:
		return nil, errUnavailable("The user database is unavailable.", retryAfterUnavailable).withCause(err)
	}
}

// verifyCredentials verifies the password of user (nil: no such user).
// Every bad-credentials case does the same work (an unknown user is checked
// against a dummy hash) and gets the same answer; only the log says which.
func (l *Login) verifyCredentials(ctx context.Context, req *passwordRequest, user *store.User) *oauthError {
	var hash string
	if user != nil {
		hash = user.PasswordHash
	} else {
		hash = password.DummyHash(l.app.Database.DummyHashCost)
	}

	var verr error
	if err := l.app.guard.Do(ctx, func() { verr = password.Verify(hash, []byte(req.password)) }); err != nil {
		return errUnavailable("Too many logins at once. Try again shortly.", retryAfterSaturated).withCause(err)
	}

	var reason error
	switch {
	case user == nil:
		reason = errors.New("unknown user")
	case verr != nil:
		// Mismatch, ErrTooLong or ErrUnknownFormat: the kind, never the hash.
		reason = verr
	case user.Blocked:
		// Checked after the password so a blocked account costs the same
		// and answers the same as a wrong password.
		reason = errors.New("user is blocked")
	default:
		return nil
	}
	fields := []zap.Field{logUsername(req.username), zap.String("client_id", req.auth.client.id), zap.Error(reason)}
	if user != nil {
		fields = append(fields, zap.String("user_id", user.ID))
	}
	l.logger.Info("login failed", fields...)
	return errWrongCredentials(l.app.Errors == "auth0")
}

// maybeRehash upgrades a weak hash to argon2id after a successful login,
// when rehash_query is configured. It runs in the background, through the
// hashing guard, bounded by the database timeout; a failure only logs.
func (l *Login) maybeRehash(user *store.User, pw string) {
	a := l.app
	if a.Database.RehashQuery == "" || !password.NeedsRehash(user.PasswordHash, password.DefaultArgon2) {
		return
	}
	userID, plain := user.ID, []byte(pw)
	a.background.Add(1)
	go func() {
		defer a.background.Done()
		ctx, cancel := context.WithTimeout(a.ctx, time.Duration(a.Database.Timeout)+time.Duration(a.Protection.HashQueueTimeout))
		defer cancel()
		var hash string
		var herr error
		if err := a.guard.Do(ctx, func() { hash, herr = password.HashArgon2id(plain, password.DefaultArgon2) }); err != nil {
			l.logger.Debug("password rehash skipped", zap.String("user_id", userID), zap.Error(err))
			return
		}
		if herr != nil {
			l.logger.Warn("password rehash failed", zap.String("user_id", userID), zap.Error(herr))
			return
		}
		if err := a.store.UpdatePasswordHash(ctx, userID, hash); err != nil {
			l.logger.Warn("storing the upgraded password hash failed", zap.String("user_id", userID), zap.Error(err))
			return
		}
		l.logger.Info("upgraded password hash to argon2id", zap.String("user_id", userID))
	}()
}

// evaluateRules runs the claim and deny rules. A matched deny rule answers
// its message; one that failed to evaluate answers a generic message (fail
// closed) and logs the cause. Claims over the size limit are the one 500.
func (l *Login) evaluateRules(req *passwordRequest, user *store.User, grants store.Grants) (enrich.Result, *oauthError) {
	result, err := l.app.program.Evaluate(ruleInput(req, user, grants))
	if err == nil {
		return result, nil
	}
	var denied *enrich.DeniedError
	switch {
	case errors.As(err, &denied) && denied.Cause == nil:
		return result, errAccessDenied(denied.Message).withCause(err)
	case errors.Is(err, enrich.ErrClaimsTooLarge):
		return result, errServer("The token's claims are too large.").withCause(err)
	default:
		return result, errAccessDenied("Access denied.").withCause(err)
	}
}

// ruleInput is what the CEL rules see for this login.
func ruleInput(req *passwordRequest, user *store.User, grants store.Grants) enrich.Input {
	in := enrich.Input{
		User:         user.Attributes,
		AppMetadata:  user.AppMetadata,
		UserMetadata: user.UserMetadata,
		Roles:        grants.Roles,
		Permissions:  grants.Permissions,
		Organization: map[string]any{},
		ClientID:     req.auth.client.id,
		Audience:     req.audience,
		Scope:        req.scopes,
		GrantType:    req.grantType,
	}
	if in.Roles == nil {
		in.Roles = []string{}
	}
	if in.Permissions == nil {
		in.Permissions = []string{}
	}
	if org := grants.Organization; org != nil {
		in.Organization = map[string]any{"id": org.ID, "name": org.Name}
	}
	return in
}
