package caddymodule

import (
	"context"
	"errors"
	"net/http"
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
	req.ip = clientIP(r, auth)
	return l.passwordGrant(r.Context(), req)
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
// client's own. offline_access needs the refresh_token grant; while refresh
// tokens cannot be issued (refreshAvailable false) it is left out of the
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

// passwordGrant checks the brute-force block, the credentials, the
// organization membership and the deny rules, then mints the tokens.
func (l *Login) passwordGrant(ctx context.Context, req *passwordRequest) (*tokenResponse, *oauthError) {
	if e := l.checkBruteForceBlock(ctx, req); e != nil {
		return nil, e
	}
	user, e := l.verifyCredentials(ctx, req)
	if e != nil {
		if e.code == codeInvalidGrant {
			l.recordLoginFailure(ctx, req)
		}
		return nil, e
	}
	l.recordLoginSuccess(ctx, req, user)
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
	resp, e := l.mintTokens(time.Now(), req, user, grants, result)
	if e != nil {
		return nil, e
	}
	l.logger.Debug("login", zap.String("user_id", user.ID), zap.String("client_id", req.auth.client.id))
	return resp, nil
}

// verifyCredentials looks the user up and verifies the password. Every
// bad-credentials case does the same work (an unknown user is checked
// against a dummy hash) and gets the same answer; only the log says which.
func (l *Login) verifyCredentials(ctx context.Context, req *passwordRequest) (*store.User, *oauthError) {
	user, err := l.app.store.FindUser(ctx, req.username)
	var hash string
	switch {
	case err == nil:
		hash = user.PasswordHash
	case errors.Is(err, store.ErrNotFound):
		user, hash = nil, password.DummyHash(l.app.Database.DummyHashCost)
	default:
		return nil, errUnavailable("The user database is unavailable.", retryAfterUnavailable).withCause(err)
	}

	var verr error
	if err := l.app.guard.Do(ctx, func() { verr = password.Verify(hash, []byte(req.password)) }); err != nil {
		return nil, errUnavailable("Too many logins at once. Try again shortly.", retryAfterSaturated).withCause(err)
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
		return user, nil
	}
	fields := []zap.Field{logUsername(req.username), zap.String("client_id", req.auth.client.id), zap.Error(reason)}
	if user != nil {
		fields = append(fields, zap.String("user_id", user.ID))
	}
	l.logger.Info("login failed", fields...)
	return nil, errWrongCredentials(l.app.Errors == "auth0")
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
