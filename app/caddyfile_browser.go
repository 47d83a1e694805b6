package app

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/claimgate/claimgate/internal/cfgparse"
)

// browserOption parses the browser sign-in options of the claimgate block:
//
//	session_ttl <duration>
//	session_idle_ttl <duration>
//	login_page <file>
//
// The template is parsed when the config is provisioned, not here: adapting
// a Caddyfile must not depend on files of the machine that adapts it.
func (p *globalParser) browserOption(d *caddyfile.Dispenser) error {
	var err error
	switch d.Val() {
	case "session_ttl":
		p.app.SessionTTL, err = cfgparse.PositiveDuration(d)
	case "session_idle_ttl":
		p.app.SessionIdleTTL, err = cfgparse.PositiveDuration(d)
	case "login_page":
		p.app.LoginPage, err = cfgparse.SingleArg(d)
	}
	return err
}

// clientRedirectURIs parses `redirect_uri URL...` or `logout_redirect_uri
// URL...` of a client block, checking each URL on its line.
func clientRedirectURIs(d *caddyfile.Dispenser, c *ClientConfig) error {
	name := d.Val()
	uris, err := cfgparse.AtLeastOneArg(d)
	if err != nil {
		return err
	}
	for _, u := range uris {
		if err := ValidateRedirectURI(u); err != nil {
			return d.Errf("client '%s': %s: %v", c.ID, name, err)
		}
	}
	if name == "redirect_uri" {
		c.RedirectURIs = uris
	} else {
		c.LogoutRedirectURIs = uris
	}
	return nil
}
