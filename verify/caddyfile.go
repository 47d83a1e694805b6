package verify

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/claimgate/claimgate/internal/cfgparse"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("claimgate_verify", parseCaddyfile)
	// The anchor must be a standard directive. claimgate_login sits right
	// after try_files, so the order is claimgate_login, claimgate_verify,
	// basic_auth, whatever order the packages initialise in.
	httpcaddyfile.RegisterDirectiveOrder("claimgate_verify", httpcaddyfile.Before, "basic_auth")
}

// parseCaddyfile parses the claimgate_verify directive. It reads the syntax
// only; what the values mean is checked by the handler's own validators, so
// every rule exists once.
//
//	claimgate_verify {
//	    audience <aud>
//	    header <name> <claim> [json]
//	    strip <name>...
//	    require <claim> <value>
//	    issuer <url>
//	    jwks_url <url>
//	    optional
//	    cache_size <n>
//	    browser <client>
//	}
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	dirLine := h.Line()

	v := new(Verify)
	seen := make(map[string]bool)
	var issuerLine int
	for h.NextBlock(0) {
		name := h.Val()
		switch name {
		case "header", "require", "strip":
		default:
			if seen[name] {
				return nil, h.Errf("claimgate_verify option '%s' is given twice", name)
			}
			seen[name] = true
		}
		if name == "issuer" || (name == "jwks_url" && issuerLine == 0) {
			issuerLine = h.Line()
		}
		if err := v.parseOption(h); err != nil {
			return nil, err
		}
	}

	if err := v.validateAudience(); err != nil {
		return nil, cfgparse.ErrAt(h.Dispenser, dirLine, err)
	}
	if err := v.validateIssuer(); err != nil {
		return nil, cfgparse.ErrAt(h.Dispenser, issuerLine, err)
	}
	if err := v.validateOptional(); err != nil {
		return nil, cfgparse.ErrAt(h.Dispenser, dirLine, err)
	}
	if err := v.validateBrowser(); err != nil {
		return nil, cfgparse.ErrAt(h.Dispenser, dirLine, err)
	}
	return v, nil
}

// parseOption parses one subdirective of claimgate_verify.
func (v *Verify) parseOption(h httpcaddyfile.Helper) error {
	d := h.Dispenser
	var err error
	switch h.Val() {
	case "audience":
		v.Audience, err = cfgparse.SingleArg(d)
	case "header":
		args := d.RemainingArgs()
		if len(args) != 2 && len(args) != 3 {
			return d.ArgErr()
		}
		if err := cfgparse.NoBlock(d); err != nil {
			return err
		}
		hc := HeaderClaim{Name: args[0], Claim: args[1]}
		if len(args) == 3 {
			hc.Format = args[2]
		}
		if err := v.addHeader(hc); err != nil {
			return h.Errf("header: %v", err)
		}
	case "strip":
		var names []string
		if names, err = cfgparse.AtLeastOneArg(d); err != nil {
			return err
		}
		for _, name := range names {
			if err := validateStripName(name); err != nil {
				return h.Errf("strip: %v", err)
			}
		}
		v.Strip = append(v.Strip, names...)
	case "require":
		var args []string
		if args, err = cfgparse.ExactArgs(d, 2); err != nil {
			return err
		}
		v.Require = append(v.Require, Requirement{Claim: args[0], Value: args[1]})
	case "issuer":
		if v.Issuer, err = cfgparse.SingleArg(d); err == nil {
			err = checkURL(h, "issuer", v.Issuer)
		}
	case "jwks_url":
		if v.JWKSURL, err = cfgparse.SingleArg(d); err == nil {
			err = checkURL(h, "jwks_url", v.JWKSURL)
		}
	case "optional":
		v.Optional = true
		err = cfgparse.EndOfLine(d)
	case "cache_size":
		var n int
		n, err = cfgparse.IntRange(d, 0, cfgparse.MaxCount)
		v.CacheSize = &n
	case "browser":
		v.Browser, err = cfgparse.SingleArg(d)
	default:
		return h.Errf("unrecognized claimgate_verify option '%s'", h.Val())
	}
	return err
}

// checkURL reports a bad issuer or jwks_url at its line.
func checkURL(h httpcaddyfile.Helper, name, raw string) error {
	if err := checkAbsoluteURL(raw); err != nil {
		return h.Errf("%s: %v", name, err)
	}
	return nil
}
