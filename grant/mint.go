package caddymodule

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/store"
)

// JWT header typ values.
const (
	jwtTypeAccess = "at+jwt" // RFC 9068
	jwtTypeID     = "JWT"
)

// userinfoLeeway is the clock skew allowed when /userinfo checks exp.
const userinfoLeeway = 30 * time.Second

// profileClaims are the user columns an ID token carries with the profile
// scope, and emailClaims those it carries with the email scope (OIDC Core
// §5.4, as Auth0 does).
var (
	profileClaims = []string{"name", "nickname", "picture", "updated_at"}
	emailClaims   = []string{"email", "email_verified"}
)

// mintTokens signs the access token (RFC 9068) and, with openid, the ID
// token. The caller adds the refresh token.
func (l *Login) mintTokens(now time.Time, req *passwordRequest, user *store.User, grants store.Grants, result enrich.Result) (*tokenResponse, *oauthError) {
	ks := l.app.keys.KeySet()
	if ks == nil || ks.Active() == nil {
		return nil, errUnavailable("No signing key is available.", retryAfterUnavailable)
	}
	ttl := time.Duration(l.app.AccessTokenTTL)

	jti, err := randomID()
	if err != nil {
		return nil, errUnavailable("Cannot mint a token right now.", retryAfterUnavailable).withCause(err)
	}
	access := map[string]any{
		"iss":       l.app.Issuer,
		"sub":       user.ID,
		"aud":       req.audience,
		"iat":       now.Unix(),
		"exp":       now.Add(ttl).Unix(),
		"jti":       jti,
		"client_id": req.auth.client.id,
	}
	if len(req.scopes) > 0 {
		access["scope"] = strings.Join(req.scopes, " ")
	}
	if l.app.store.HasPermissionsQuery() {
		perms := grants.Permissions
		if perms == nil {
			perms = []string{}
		}
		access["permissions"] = perms
	}
	setOrganization(access, grants.Organization)
	mergeCustomClaims(access, result.AccessClaims)

	at, err := ks.Sign(access, jwtTypeAccess)
	if err != nil {
		return nil, errUnavailable("Cannot sign the token right now.", retryAfterUnavailable).
			withCause(fmt.Errorf("signing the access token: %w", err))
	}
	resp := &tokenResponse{
		AccessToken: at,
		TokenType:   "Bearer",
		ExpiresIn:   int64(ttl / time.Second),
		Scope:       strings.Join(req.scopes, " "),
	}

	if hasScope(req.scopes, scopeOpenID) {
		idClaims := idTokenClaims(l.app.Issuer, now, ttl, req, user, grants.Organization)
		mergeCustomClaims(idClaims, result.IDClaims)
		if resp.IDToken, err = ks.Sign(idClaims, jwtTypeID); err != nil {
			return nil, errUnavailable("Cannot sign the token right now.", retryAfterUnavailable).
				withCause(fmt.Errorf("signing the ID token: %w", err))
		}
	}
	return resp, nil
}

// idTokenClaims builds an OIDC ID token for the client: aud is the
// client_id; profile and email claims come from the user's columns
// according to the granted scopes.
func idTokenClaims(issuer string, now time.Time, ttl time.Duration, req *passwordRequest, user *store.User, org *store.Organization) map[string]any {
	claims := map[string]any{
		"iss": issuer,
		"sub": user.ID,
		"aud": req.auth.client.id,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	if hasScope(req.scopes, scopeProfile) {
		copyUserClaims(claims, user.Attributes, profileClaims)
	}
	if hasScope(req.scopes, scopeEmail) {
		copyUserClaims(claims, user.Attributes, emailClaims)
	}
	setOrganization(claims, org)
	return claims
}

// copyUserClaims copies the named user columns that are present and not
// NULL. updated_at is turned into seconds since the epoch (OIDC Core
// §5.1) and left out when it cannot be.
func copyUserClaims(claims, attrs map[string]any, names []string) {
	for _, name := range names {
		v, ok := attrs[name]
		if !ok || v == nil {
			continue
		}
		if name == "updated_at" {
			secs, ok := epochSeconds(v)
			if !ok {
				continue
			}
			v = secs
		}
		claims[name] = v
	}
}

// epochSeconds reads a timestamp column: an integer, a numeric string, a
// time.Time, or MySQL's DATETIME text (taken as UTC).
func epochSeconds(v any) (int64, bool) {
	switch t := v.(type) {
	case int64:
		return t, true
	case time.Time:
		return t.Unix(), true
	case string:
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return n, true
		}
		for _, layout := range []string{"2006-01-02 15:04:05.999999", time.RFC3339Nano} {
			if ts, err := time.Parse(layout, t); err == nil {
				return ts.Unix(), true
			}
		}
	}
	return 0, false
}

// setOrganization adds org_id and org_name when an organization applies.
func setOrganization(claims map[string]any, org *store.Organization) {
	if org == nil {
		return
	}
	claims["org_id"] = org.ID
	if org.Name != "" {
		claims["org_name"] = org.Name
	}
}

// mergeCustomClaims adds the rules' claims. The rules cannot name reserved
// claims (enrich refuses them at load), and a claim already set here wins
// all the same, so no rule can overwrite iss, sub, aud and the like.
func mergeCustomClaims(claims, custom map[string]any) {
	for k, v := range custom {
		if _, taken := claims[k]; !taken {
			claims[k] = v
		}
	}
}

// randomID returns 128 random bits, base64url-encoded, for jti.
func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
