package grant

import (
	"crypto/sha256"
	"crypto/subtle"
	"slices"
)

// Grant names a client may list in its configuration.
const (
	ClientGrantPassword          = "password"
	ClientGrantRefresh           = "refresh_token"
	ClientGrantAuthorizationCode = "authorization_code"
	// ClientGrantClientCredentials is the machine-to-machine grant
	// (confidential clients only).
	ClientGrantClientCredentials = "client_credentials"
)

// Grant types as they appear in a token request.
const (
	TypePassword      = "password"
	TypePasswordRealm = "http://auth0.com/oauth/grant-type/password-realm"
	TypeRefreshToken  = "refresh_token"
	// TypeAuthorizationCode is the code grant of browser sign-in.
	TypeAuthorizationCode = "authorization_code"
	// TypeClientCredentials is the machine-to-machine grant.
	TypeClientCredentials = "client_credentials"
)

// ClientGrants are the grant names a client configuration may list.
var ClientGrants = []string{ClientGrantPassword, ClientGrantRefresh, ClientGrantAuthorizationCode, ClientGrantClientCredentials}

// Client is an OAuth client ready for requests: its secret kept only as a
// SHA-256 digest, its lists turned into sets.
type Client struct {
	// ID is the client_id.
	ID string
	// Confidential is true for a client with a secret.
	Confidential bool
	// Audiences are the allowed audiences; the first is the default.
	Audiences []string
	// ForwardedFor names the header a confidential client sets to the end
	// user's IP, or "".
	ForwardedFor string
	// RedirectURIs are where /authorize may send the browser back, exact
	// URLs; LogoutRedirectURIs where logout may.
	RedirectURIs       []string
	LogoutRedirectURIs []string
	// Signup is true when the client may sign users up
	// (POST /dbconnections/signup).
	Signup bool

	secretDigest [sha256.Size]byte
	grants       map[string]bool
	scopes       map[string]bool
	scopeList    []string // the scopes in configuration order
}

// NewClient returns a client; secret "" makes it public.
func NewClient(id, secret string, audiences, grants, scopes []string, forwardedFor string) *Client {
	c := &Client{
		ID:           id,
		Audiences:    audiences,
		ForwardedFor: forwardedFor,
		grants:       make(map[string]bool, len(grants)),
		scopes:       make(map[string]bool, len(scopes)),
	}
	for _, g := range grants {
		c.grants[g] = true
	}
	for _, s := range scopes {
		if !c.scopes[s] {
			c.scopeList = append(c.scopeList, s)
		}
		c.scopes[s] = true
	}
	if secret != "" {
		c.Confidential = true
		c.secretDigest = sha256.Sum256([]byte(secret))
	}
	return c
}

// dummySecretDigest is compared when the client is unknown or public, so
// that every failed client authentication does the same work.
var dummySecretDigest = sha256.Sum256([]byte("claimgate: no such client secret"))

// SecretMatches compares secret with the client's in constant time. c may be
// nil (unknown client): the comparison runs all the same, against a dummy,
// and fails. Digests have one length, so the time depends neither on the
// secret's length nor on its content.
func (c *Client) SecretMatches(secret string) bool {
	want := dummySecretDigest
	if c != nil && c.Confidential {
		want = c.secretDigest
	}
	got := sha256.Sum256([]byte(secret))
	match := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	return c != nil && c.Confidential && secret != "" && match
}

// Allows reports whether the client may use grantType (a token request's
// grant_type).
func (c *Client) Allows(grantType string) bool {
	switch grantType {
	case TypePassword, TypePasswordRealm:
		return c.grants[ClientGrantPassword]
	case TypeRefreshToken:
		return c.grants[ClientGrantRefresh]
	case TypeAuthorizationCode:
		return c.grants[ClientGrantAuthorizationCode]
	case TypeClientCredentials:
		return c.grants[ClientGrantClientCredentials] && c.Confidential
	}
	return false
}

// HasGrant reports whether the client lists grant (a configuration name).
func (c *Client) HasGrant(grant string) bool { return c.grants[grant] }

// AllowsAudience reports whether aud is one of the client's audiences.
func (c *Client) AllowsAudience(aud string) bool {
	return slices.Contains(c.Audiences, aud)
}

// HasScope reports whether scope is one of the client's own API scopes.
func (c *Client) HasScope(scope string) bool { return c.scopes[scope] }

// Scopes returns the client's own API scopes, in configuration order.
func (c *Client) Scopes() []string { return slices.Clone(c.scopeList) }
