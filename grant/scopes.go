package grant

import (
	"fmt"
	"slices"
	"strings"
)

// Scopes every client may ask for (beyond its own API scopes).
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
)

// StandardScopes are the OIDC scopes claimgate knows.
var StandardScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess}

// IsStandardScope reports whether s is one of StandardScopes.
func IsStandardScope(s string) bool { return slices.Contains(StandardScopes, s) }

// ValidateScopeName checks that s is an RFC 6749 §3.3 scope-token:
// printable ASCII without space, '"' or '\'.
func ValidateScopeName(s string) error {
	if s == "" {
		return fmt.Errorf("empty scope")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf("invalid scope '%s'", s)
		}
	}
	return nil
}

// ValidateClientGrant checks a grant name of a client configuration.
func ValidateClientGrant(g string) error {
	if !slices.Contains(ClientGrants, g) {
		return fmt.Errorf("unknown grant '%s' (use password, refresh_token, authorization_code or client_credentials)", g)
	}
	return nil
}

// RequestedScopes checks the scopes a login asks for: the standard OIDC ones
// and the client's own. offline_access needs the refresh_token grant;
// should refresh tokens be unavailable (refreshAvailable false) it is left
// out of the granted scopes, which RFC 6749 §3.3 allows and the response's
// scope shows. The result keeps the request's order, without duplicates.
func RequestedScopes(c *Client, requested string, refreshAvailable bool) ([]string, error) {
	fields := strings.Fields(requested)
	granted := make([]string, 0, len(fields))
	for _, s := range fields {
		if slices.Contains(granted, s) {
			continue
		}
		if !IsStandardScope(s) && !c.HasScope(s) {
			return nil, &Refusal{Err: ErrInvalidScope, Description: "A requested scope is not allowed."}
		}
		if s == ScopeOfflineAccess {
			if !c.HasGrant(ClientGrantRefresh) {
				return nil, &Refusal{Err: ErrInvalidScope, Description: "offline_access needs the refresh_token grant."}
			}
			if !refreshAvailable {
				continue
			}
		}
		granted = append(granted, s)
	}
	return granted, nil
}

// refreshScopes is the scope of a refreshed access token: the family's
// original scope, or the subset the request names (RFC 6749 §6: asking for
// any scope not originally granted is invalid_scope). The family keeps its
// original scope, as Auth0 does, so a narrowed refresh does not narrow the
// next one. Scopes the client may no longer ask for are dropped.
func refreshScopes(c *Client, original, requested string) ([]string, error) {
	granted := strings.Fields(original)
	if strings.TrimSpace(requested) != "" {
		var narrowed []string
		for _, s := range strings.Fields(requested) {
			if !slices.Contains(granted, s) {
				return nil, &Refusal{Err: ErrInvalidScope, Description: "The requested scope exceeds the original grant."}
			}
			if !slices.Contains(narrowed, s) {
				narrowed = append(narrowed, s)
			}
		}
		granted = narrowed
	}
	scopes := make([]string, 0, len(granted))
	for _, s := range granted {
		if IsStandardScope(s) || c.HasScope(s) {
			scopes = append(scopes, s)
		}
	}
	return scopes, nil
}
