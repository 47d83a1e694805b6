package app

import (
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/cfgparse"
)

// client parses a client block. Each value is checked by the validator
// ClientConfig.validate uses, on its own line, so the error points there.
//
//	client <id> {
//	    secret <secret>
//	    audience <aud>...
//	    grant password|refresh_token...
//	    scope <scope>...
//	    trust_forwarded_for <header>
//	    redirect_uri <url>...
//	    logout_redirect_uri <url>...
//	    signup on|off
//	}
func (p *globalParser) client(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	c := &ClientConfig{ID: d.Val()}
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
	var trustLine, grantLine int
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return d.Errf("client option '%s' is given twice", name)
		}
		seen[name] = true
		switch name {
		case "trust_forwarded_for":
			trustLine = d.Line()
		case "grant":
			grantLine = d.Line()
		}
		if err := clientOption(d, c); err != nil {
			return err
		}
	}

	if len(c.Audiences) == 0 {
		return cfgparse.ErrAt(d, clientLine, errors.New("client '"+c.ID+"': missing audience (the APIs its tokens are for)"))
	}
	if err := c.validate(); err != nil {
		// What is left to fail needs the whole block: trust_forwarded_for
		// or client_credentials without a secret.
		line := trustLine
		if errors.Is(err, errMachinePublic) {
			line = grantLine
		}
		return cfgparse.ErrAt(d, line, fmt.Errorf("client '%s': %w", c.ID, err))
	}
	p.app.Clients = append(p.app.Clients, c)
	return nil
}

// clientOption parses one subdirective of a client block.
func clientOption(d *caddyfile.Dispenser, c *ClientConfig) error {
	var err error
	switch d.Val() {
	case "secret":
		c.Secret, err = cfgparse.SingleArg(d)
	case "audience":
		if c.Audiences, err = cfgparse.AtLeastOneArg(d); err == nil {
			if verr := validateAudiences(c.Audiences); verr != nil {
				err = d.Errf("client '%s': %v", c.ID, verr)
			}
		}
	case "grant":
		if c.Grants, err = cfgparse.AtLeastOneArg(d); err == nil {
			err = eachValid(d, c.ID, c.Grants, grant.ValidateClientGrant)
		}
	case "scope":
		if c.Scopes, err = cfgparse.AtLeastOneArg(d); err == nil {
			err = eachValid(d, c.ID, c.Scopes, grant.ValidateScopeName)
		}
	case "trust_forwarded_for":
		if c.TrustForwardedFor, err = cfgparse.SingleArg(d); err == nil {
			err = validForwardedFor(d, c)
		}
	case "redirect_uri", "logout_redirect_uri":
		err = clientRedirectURIs(d, c)
	case "signup":
		c.Signup, err = cfgparse.OnOff(d)
	default:
		return d.Errf("unrecognized client option '%s'", d.Val())
	}
	return err
}

// eachValid reports the first value valid refuses, at the current line.
func eachValid(d *caddyfile.Dispenser, clientID string, values []string, valid func(string) error) error {
	for _, v := range values {
		if err := valid(v); err != nil {
			return d.Errf("client '%s': %v", clientID, err)
		}
	}
	return nil
}

// validForwardedFor checks the header name of trust_forwarded_for.
func validForwardedFor(d *caddyfile.Dispenser, c *ClientConfig) error {
	probe := ClientConfig{Audiences: []string{"x"}, Secret: "x", TrustForwardedFor: c.TrustForwardedFor}
	if err := probe.validate(); err != nil {
		return d.Errf("client '%s': %v", c.ID, err)
	}
	return nil
}
