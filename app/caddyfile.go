package app

import (
	"errors"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/claimgate/claimgate/internal/cfgparse"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("claimgate", parseGlobal)
}

// parseGlobal parses the `claimgate` global option into the claimgate app.
// Syntax:
//
//	claimgate {
//	    issuer <url>
//	    database { ... }
//	    signing_key RS256|ES256|EdDSA [file <path>]
//	    key_rotation <duration>
//	    access_token_ttl <duration>
//	    refresh_token_ttl <duration>
//	    refresh_token_idle_ttl <duration>
//	    client <id> { ... }
//	    protection { ... }
//	    claim <name> <expr>
//	    id_claim <name> <expr>
//	    deny <expr> <message>
//	    subject_prefix <prefix>
//	    errors auth0
//	    session_ttl <duration>
//	    session_idle_ttl <duration>
//	    login_page <file>
//	    management { ... }
//	}
func parseGlobal(d *caddyfile.Dispenser, existing any) (any, error) {
	d.Next() // consume option name
	if existing != nil {
		return nil, d.Err("the claimgate option is given twice; configure everything in one block")
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}

	p := globalParser{app: new(App), seen: make(map[string]bool)}
	optionLine := d.Line()
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := p.option(d); err != nil {
			return nil, err
		}
	}
	if p.app.Issuer == "" {
		return nil, cfgparse.ErrAt(d, optionLine, errors.New("claimgate: missing issuer (every token's iss, e.g. https://auth.example.com/)"))
	}
	if p.app.Database == nil {
		return nil, cfgparse.ErrAt(d, optionLine, errors.New("claimgate: missing database block (with at least a user_query)"))
	}

	var warnings []caddyconfig.Warning
	return httpcaddyfile.App{
		Name:  "claimgate",
		Value: caddyconfig.JSON(p.app, &warnings),
	}, nil
}

// globalParser accumulates the app while the block is read.
type globalParser struct {
	app *App
	// seen holds the subdirectives that may appear only once.
	seen map[string]bool
	// rules is the set of "kind name" already declared, to catch duplicates.
	rules map[string]bool
	// clients holds the client IDs already declared.
	clients map[string]bool
}

// option parses one subdirective of the claimgate block; the dispenser is on
// its name.
func (p *globalParser) option(d *caddyfile.Dispenser) error {
	name := d.Val()
	switch name {
	case "client", "claim", "id_claim", "deny":
		// repeatable
	default:
		if p.seen[name] {
			return d.Errf("claimgate option '%s' is given twice", name)
		}
		p.seen[name] = true
	}

	var err error
	switch name {
	case "issuer":
		p.app.Issuer, err = parseIssuer(d)
	case "database":
		p.app.Database, err = parseDatabase(d)
	case "signing_key":
		p.app.SigningKey, err = parseSigningKey(d)
	case "key_rotation":
		p.app.KeyRotation, err = cfgparse.PositiveDuration(d)
	case "access_token_ttl":
		p.app.AccessTokenTTL, err = cfgparse.PositiveDuration(d)
	case "refresh_token_ttl":
		p.app.RefreshTokenTTL, err = cfgparse.PositiveDuration(d)
	case "refresh_token_idle_ttl":
		p.app.RefreshTokenIdleTTL, err = cfgparse.PositiveDuration(d)
	case "client":
		err = p.client(d)
	case "protection":
		p.app.Protection, err = parseProtection(d)
	case "claim", "id_claim", "deny":
		err = p.rule(d)
	case "subject_prefix":
		p.app.SubjectPrefix, err = cfgparse.SingleArg(d)
	case "session_ttl", "session_idle_ttl", "login_page":
		err = p.browserOption(d)
	case "errors":
		p.app.Errors, err = parseErrors(d)
	case "management":
		p.app.Management, err = parseManagement(d)
	default:
		return d.Errf("unrecognized claimgate option '%s'", name)
	}
	return err
}

// parseIssuer reads `issuer URL`. The issuer becomes every token's iss, so a
// typo here would only show up as rejected tokens later; check it now. It is
// used verbatim, so runtime placeholders ({env.X}) are not allowed; {$X} is
// replaced while the Caddyfile is read and works.
func parseIssuer(d *caddyfile.Dispenser) (string, error) {
	issuer, err := cfgparse.SingleArg(d)
	if err != nil {
		return "", err
	}
	if err := validateIssuer(issuer); err != nil {
		return "", d.Errf("%v", err)
	}
	return issuer, nil
}

// parseErrors reads `errors auth0`.
func parseErrors(d *caddyfile.Dispenser) (string, error) {
	mode, err := cfgparse.SingleArg(d)
	if err != nil {
		return "", err
	}
	if err := validateErrorsMode(mode); err != nil {
		return "", d.Errf("%v", err)
	}
	return mode, nil
}
