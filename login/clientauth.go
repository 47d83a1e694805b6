package caddymodule

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// client is a ClientConfig ready for requests: its secret resolved and
// kept only as a SHA-256 digest, its lists turned into sets.
type client struct {
	id           string
	confidential bool
	secretDigest [sha256.Size]byte
	audiences    []string // the first is the default
	grants       map[string]bool
	scopes       map[string]bool
	forwardedFor string // header naming the end user's IP, or ""
}

// resolveClients replaces placeholders in the secrets ({env.X} and the
// like) and indexes the clients by ID.
func resolveClients(configs []*ClientConfig, repl *caddy.Replacer) (map[string]*client, error) {
	clients := make(map[string]*client, len(configs))
	for _, cc := range configs {
		c := &client{
			id:           cc.ID,
			audiences:    cc.Audiences,
			grants:       make(map[string]bool, len(cc.Grants)),
			scopes:       make(map[string]bool, len(cc.Scopes)),
			forwardedFor: cc.TrustForwardedFor,
		}
		for _, g := range cc.Grants {
			c.grants[g] = true
		}
		for _, s := range cc.Scopes {
			c.scopes[s] = true
		}
		if cc.Secret != "" {
			secret, err := repl.ReplaceOrErr(cc.Secret, false, true)
			if err != nil {
				return nil, fmt.Errorf("client %q: secret: %w", cc.ID, err)
			}
			if secret == "" {
				// A secret that resolves to nothing must not quietly turn
				// a confidential client into a public one.
				return nil, fmt.Errorf("client %q: secret is empty after replacing placeholders (is the environment variable set?)", cc.ID)
			}
			c.confidential = true
			c.secretDigest = sha256.Sum256([]byte(secret))
		}
		clients[c.id] = c
	}
	return clients, nil
}

// dummySecretDigest is compared when the client is unknown or public, so
// that every failed client authentication does the same work.
var dummySecretDigest = sha256.Sum256([]byte("claimgate: no such client secret"))

// clientAuth is how a request authenticated its client.
type clientAuth struct {
	client *client
	// basic is true when the client used HTTP Basic (client_secret_basic):
	// its 401s carry WWW-Authenticate: Basic.
	basic bool
	// secret is true when a secret was presented and matched (a
	// confidential client), which is what trust_forwarded_for needs.
	secret bool
}

// errBadBasic is a malformed Authorization: Basic header.
var errBadBasic = errors.New("malformed Basic credentials")

// authenticateClient identifies the client by client_secret_basic or
// client_secret_post (RFC 6749 §2.3.1), or by client_id alone for a public
// client. It returns invalid_request when both methods are used, and
// invalid_client (401) for an unknown client, a wrong or missing secret, or
// a secret sent by a public client.
func (a *App) authenticateClient(r *http.Request, params map[string]string) (clientAuth, *oauthError) {
	id, secret, basic, err := basicClientCredentials(r)
	if err != nil {
		return clientAuth{basic: true}, errInvalidClient(true)
	}
	if basic {
		if _, ok := params["client_secret"]; ok {
			return clientAuth{}, errInvalidRequest("Use one client authentication method, not Basic and client_secret together.")
		}
		if bodyID, ok := params["client_id"]; ok && bodyID != id {
			return clientAuth{}, errInvalidRequest("The client_id in the body does not match the Basic credentials.")
		}
	} else {
		id, secret = params["client_id"], params["client_secret"]
	}
	if id == "" {
		return clientAuth{basic: basic}, errInvalidClient(basic)
	}

	c, known := a.clients[id]
	want := dummySecretDigest
	if known && c.confidential {
		want = c.secretDigest
	}
	// Digests have one length, so the comparison time does not depend on
	// the secret's length or content.
	got := sha256.Sum256([]byte(secret))
	match := subtle.ConstantTimeCompare(got[:], want[:]) == 1

	switch {
	case !known:
		return clientAuth{basic: basic}, errInvalidClient(basic)
	case c.confidential && (secret == "" || !match):
		return clientAuth{basic: basic}, errInvalidClient(basic)
	case !c.confidential && secret != "":
		// A public client has no secret; one that sends a secret is
		// confused or someone guessing.
		return clientAuth{basic: basic}, errInvalidClient(basic)
	}
	return clientAuth{client: c, basic: basic, secret: c.confidential}, nil
}

// basicClientCredentials reads client_secret_basic credentials. The ID and
// secret are form-urlencoded before Base64 (RFC 6749 §2.3.1), so they are
// decoded here. basic is false when the request has no Basic credentials;
// another Authorization scheme is ignored.
func basicClientCredentials(r *http.Request) (id, secret string, basic bool, err error) {
	h := r.Header.Get("Authorization")
	scheme, _, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, nil
	}
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		return "", "", true, errBadBasic
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", true, errBadBasic
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", true, errBadBasic
	}
	return id, secret, true, nil
}

// allows reports whether the client may use grantType.
func (c *client) allows(grantType string) bool {
	switch grantType {
	case grantPassword, grantPasswordRealm:
		return c.grants[clientGrantPassword]
	case grantRefreshToken:
		return c.grants[clientGrantRefresh]
	}
	return false
}

// allowsAudience reports whether aud is one of the client's audiences.
func (c *client) allowsAudience(aud string) bool {
	for _, a := range c.audiences {
		if a == aud {
			return true
		}
	}
	return false
}
