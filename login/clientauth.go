package login

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/claimgate/claimgate/grant"
)

// clientAuth is how a request authenticated its client.
type clientAuth struct {
	client *grant.Client
	// basic is true when the client used HTTP Basic (client_secret_basic):
	// its 401s carry WWW-Authenticate: Basic.
	basic bool
	// secret is true when a secret was presented and matched (a
	// confidential client), which is what trust_forwarded_for needs.
	secret bool
}

// errBadBasic is a malformed Authorization: Basic header.
var errBadBasic = errors.New("malformed Basic credentials")

// authenticate authenticates the client, counting the attempt against the
// IP's daily budget before any secret is compared: a failed client
// authentication spends the budget like a failed login, and past it the IP
// gets 429 (client secrets must not be guessable online).
func (l *Login) authenticate(r *http.Request, params map[string]string) (clientAuth, *oauthError) {
	attempt, err := l.grants.BeginClientAuth(r.Context(), clientIP(r, clientAuth{}))
	if err != nil {
		return clientAuth{}, l.fromGrant(err)
	}
	auth, e := l.authenticateClient(r, params)
	failed := e != nil && e.code == codeInvalidClient
	if err := attempt.Done(r.Context(), !failed); err != nil {
		return clientAuth{}, errUnavailable("The login service is temporarily unavailable.", retryAfterUnavailable).withCause(err)
	}
	return auth, e
}

// authenticateClient identifies the client by client_secret_basic or
// client_secret_post (RFC 6749 §2.3.1), or by client_id alone for a public
// client. It returns invalid_request when both methods are used, and
// invalid_client (401) for an unknown client, a wrong or missing secret, or
// a secret sent by a public client.
func (l *Login) authenticateClient(r *http.Request, params map[string]string) (clientAuth, *oauthError) {
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
	c, known := l.app.Client(id)
	if !known {
		c = nil
	}
	// Compared also for unknown and public clients, against a dummy, so
	// that every failed authentication does the same work.
	match := c.SecretMatches(secret)
	switch {
	case !known:
		return clientAuth{basic: basic}, errInvalidClient(basic)
	case c.Confidential && !match:
		return clientAuth{basic: basic}, errInvalidClient(basic)
	case !c.Confidential && secret != "":
		// A public client has no secret; one that sends a secret is
		// confused or someone guessing.
		return clientAuth{basic: basic}, errInvalidClient(basic)
	}
	return clientAuth{client: c, basic: basic, secret: c.Confidential}, nil
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

// clientIP is the end user's IP for brute-force accounting: the header a
// confidential client is trusted to set (trust_forwarded_for), else Caddy's
// client IP (which honours trusted_proxies), else the peer address.
func clientIP(r *http.Request, auth clientAuth) string {
	if auth.secret && auth.client != nil && auth.client.ForwardedFor != "" {
		v, _, _ := strings.Cut(r.Header.Get(auth.client.ForwardedFor), ",")
		if ip := net.ParseIP(strings.TrimSpace(v)); ip != nil {
			return ip.String()
		}
	}
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
