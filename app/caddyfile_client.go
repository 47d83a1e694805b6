package caddyfile

import (
	"errors"
	"slices"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/claimgate/claimgate/caddymodule"
)

// grantTypes are the grants a client may be given. `password` covers
// Auth0's password-realm grant too.
var grantTypes = []string{"password", "refresh_token"}

// client parses a client block:
//
//	client <id> {
//	    secret <secret>
//	    audience <aud>...
//	    grant password|refresh_token...
//	    scope <scope>...
//	    trust_forwarded_for <header>
//	}
func (p *globalParser) client(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	c := &caddymodule.ClientConfig{ID: d.Val()}
	if d.NextArg() {
		return d.ArgErr()
	}
	clientLine := d.Line()
	if p.clients == nil {
		p.clients = make(map[string]bool)
	}
	if p.clients[c.ID] {
		return d.Errf("client '%s' is declared twice", c.ID)
	}
	p.clients[c.ID] = true

	seen := make(map[string]bool)
	var trustLine int
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("client option '%s' is given twice", name)
		}
		seen[name] = true
		if name == "trust_forwarded_for" {
			trustLine = d.Line()
		}
		if err := clientOption(d, c); err != nil {
			return err
		}
	}

	if len(c.Audiences) == 0 {
		return errAt(d, clientLine, errors.New("client '"+c.ID+"': missing audience (the APIs its tokens are for)"))
	}
	if c.TrustForwardedFor != "" && c.Secret == "" {
		// A public client's requests come straight from end users, who could
		// then pick the IP address the brute-force protection counts.
		return errAt(d, trustLine, errors.New("client '"+c.ID+"': trust_forwarded_for needs a secret (confidential clients only)"))
	}
	p.app.Clients = append(p.app.Clients, c)
	return nil
}

// clientOption parses one subdirective of a client block.
func clientOption(d *caddyfile.Dispenser, c *caddymodule.ClientConfig) error {
	var err error
	switch d.Val() {
	case "secret":
		c.Secret, err = singleArg(d)
	case "audience":
		c.Audiences, err = atLeastOneArg(d)
		if err == nil && slices.Contains(c.Audiences, "") {
			err = d.Errf("client '%s': empty audience", c.ID)
		}
	case "grant":
		c.Grants, err = atLeastOneArg(d)
		for _, g := range c.Grants {
			if err == nil && !slices.Contains(grantTypes, g) {
				err = d.Errf("client '%s': unknown grant '%s' (use password or refresh_token)", c.ID, g)
			}
		}
	case "scope":
		c.Scopes, err = atLeastOneArg(d)
		for _, sc := range c.Scopes {
			if err == nil && !validScopeToken(sc) {
				err = d.Errf("client '%s': invalid scope '%s'", c.ID, sc)
			}
		}
	case "trust_forwarded_for":
		c.TrustForwardedFor, err = singleArg(d)
		if err == nil && !validHeaderName(c.TrustForwardedFor) {
			err = d.Errf("client '%s': trust_forwarded_for: '%s' is not a valid header name", c.ID, c.TrustForwardedFor)
		}
	default:
		return d.Errf("unrecognized client option '%s'", d.Val())
	}
	return err
}

// validScopeToken reports whether s is an RFC 6749 §3.3 scope-token:
// printable ASCII without space, '"' or '\\'.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
