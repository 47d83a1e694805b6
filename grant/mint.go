package grant

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/store"
	"github.com/claimgate/claimgate/token"
)

// jwtTypeID is the header typ of ID tokens.
const jwtTypeID = "JWT"

// ProfileClaims are the user columns a token carries with the profile scope,
// and EmailClaims those it carries with the email scope (OIDC Core §5.4, as
// Auth0 does).
var (
	ProfileClaims = []string{"name", "nickname", "picture", "updated_at"}
	EmailClaims   = []string{"email", "email_verified"}
)

// mintRequest is what minting needs to know of the grant.
type mintRequest struct {
	client   *Client
	audience string
	scopes   []string
	// idToken holds what a browser sign-in adds to the ID token (nonce,
	// auth_time, sid); nil for the other grants.
	idToken *idTokenExtras
}

// mint signs the access token (RFC 9068) and, with openid, the ID token.
// The caller adds the refresh token.
func (s *Service) mint(now time.Time, req mintRequest, user *store.User, grants store.Grants, result enrich.Result) (*Tokens, error) {
	ks := s.cfg.Keys.KeySet()
	if ks == nil || ks.Active() == nil {
		return nil, mintUnavailable("No signing key is available.", nil)
	}
	ttl := s.cfg.AccessTokenTTL
	jti := token.NewID()
	access := map[string]any{
		"iss":       s.cfg.Issuer,
		"sub":       s.Subject(user.ID),
		"aud":       req.audience,
		"iat":       now.Unix(),
		"exp":       now.Add(ttl).Unix(),
		"jti":       jti,
		"client_id": req.client.ID,
	}
	if len(req.scopes) > 0 {
		access["scope"] = strings.Join(req.scopes, " ")
	}
	if s.cfg.Users.HasPermissionsQuery() {
		perms := grants.Permissions
		if perms == nil {
			perms = []string{}
		}
		access["permissions"] = perms
	}
	setOrganization(access, grants.Organization)
	// The standard claims of the granted scopes, as the ID token has them:
	// /userinfo answers from the access token when it cannot read the user
	// again, and Auth0's SDKs expect email and profile there.
	copyScopedClaims(access, req.scopes, user.Attributes)
	mergeCustomClaims(access, result.AccessClaims)

	at, err := ks.Sign(access, token.TypeAccessToken)
	if err != nil {
		return nil, mintUnavailable("Cannot sign the token right now.", fmt.Errorf("signing the access token: %w", err))
	}
	toks := &Tokens{
		AccessToken: at,
		ExpiresIn:   int64(ttl / time.Second),
		Scopes:      req.scopes,
		UserID:      user.ID,
	}
	if slices.Contains(req.scopes, ScopeOpenID) {
		idClaims := idTokenClaims(s.cfg.Issuer, s.Subject(user.ID), now, ttl, req, user, grants.Organization)
		mergeCustomClaims(idClaims, result.IDClaims)
		if toks.IDToken, err = ks.Sign(idClaims, jwtTypeID); err != nil {
			return nil, mintUnavailable("Cannot sign the token right now.", fmt.Errorf("signing the ID token: %w", err))
		}
	}
	return toks, nil
}

// idTokenClaims builds an OIDC ID token for the client: aud is the
// client_id; profile and email claims come from the user's columns
// according to the granted scopes.
func idTokenClaims(issuer, sub string, now time.Time, ttl time.Duration, req mintRequest, user *store.User, org *store.Organization) map[string]any {
	claims := map[string]any{
		"iss": issuer,
		"sub": sub,
		"aud": req.client.ID,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	copyScopedClaims(claims, req.scopes, user.Attributes)
	setOrganization(claims, org)
	req.idToken.set(claims)
	return claims
}

// copyScopedClaims copies the standard claims of the granted profile and
// email scopes from the user's columns.
func copyScopedClaims(claims map[string]any, scopes []string, attrs map[string]any) {
	if slices.Contains(scopes, ScopeProfile) {
		copyUserClaims(claims, attrs, ProfileClaims)
	}
	if slices.Contains(scopes, ScopeEmail) {
		copyUserClaims(claims, attrs, EmailClaims)
	}
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
