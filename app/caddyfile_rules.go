package app

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/internal/cfgparse"
)

// rule parses `claim NAME EXPR`, `id_claim NAME EXPR` or `deny EXPR MESSAGE`
// and compiles it alone, so that a syntax error, an unknown variable or a
// reserved name is reported with its line.
func (p *globalParser) rule(d *caddyfile.Dispenser) error {
	kind := d.Val()
	args, err := cfgparse.ExactArgs(d, 2)
	if err != nil {
		return err
	}
	r := enrich.Rule{Kind: kind}
	switch kind {
	case enrich.KindDeny:
		r.Expr, r.Message = args[0], args[1]
	default:
		r.Name, r.Expr = args[0], args[1]
		key := kind + " " + r.Name
		if p.rules == nil {
			p.rules = make(map[string]bool)
		}
		if p.rules[key] {
			return d.Errf("%s '%s' is declared twice", kind, r.Name)
		}
		p.rules[key] = true
	}
	if err := enrich.CheckRule(r); err != nil {
		return d.WrapErr(ruleError(r, err))
	}
	p.app.Rules = append(p.app.Rules, r)
	return nil
}

// ruleError makes sure the message names the rule, whether or not the
// enrich package's message already does.
func ruleError(r enrich.Rule, err error) error {
	if strings.HasPrefix(err.Error(), r.Kind+" ") {
		return err
	}
	if r.Kind == enrich.KindDeny {
		return fmt.Errorf("deny: %w", err)
	}
	return fmt.Errorf("%s %q: %w", r.Kind, r.Name, err)
}
