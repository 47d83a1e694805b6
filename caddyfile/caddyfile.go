// Package caddyfile parses claimgate's Caddyfile syntax: the `claimgate`
// global option and the claimgate_login / claimgate_verify directives.
package caddyfile

import (
	"fmt"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("claimgate", parseGlobal)
	httpcaddyfile.RegisterHandlerDirective("claimgate_login", parseLogin)
	httpcaddyfile.RegisterHandlerDirective("claimgate_verify", parseVerify)

	// The anchor of RegisterDirectiveOrder must be a standard directive, so
	// both are placed before basic_auth. Each insertion lands right in front
	// of basic_auth, so registering claimgate_login first yields
	// claimgate_login, claimgate_verify, basic_auth.
	httpcaddyfile.RegisterDirectiveOrder("claimgate_login", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("claimgate_verify", httpcaddyfile.Before, "basic_auth")
}

// singleArg reads exactly one argument and makes sure nothing follows it on
// the line (no more arguments, no block).
func singleArg(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	val := d.Val()
	if err := endOfLine(d); err != nil {
		return "", err
	}
	return val, nil
}

// atLeastOneArg reads the rest of the line, which must not be empty.
func atLeastOneArg(d *caddyfile.Dispenser) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	if err := noBlock(d); err != nil {
		return nil, err
	}
	return args, nil
}

// exactArgs reads exactly n arguments.
func exactArgs(d *caddyfile.Dispenser, n int) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) != n {
		return nil, d.ArgErr()
	}
	if err := noBlock(d); err != nil {
		return nil, err
	}
	return args, nil
}

// endOfLine fails when more arguments or a block follow.
func endOfLine(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return noBlock(d)
}

// noBlock fails when a block follows a directive that takes none; without
// this check its contents would be read as sibling subdirectives.
func noBlock(d *caddyfile.Dispenser) error {
	last, line := d.Val(), d.Line() // the block opens on this line
	if d.NextBlock(d.Nesting()) {
		return errAt(d, line, fmt.Errorf("unexpected block after '%s'", last))
	}
	return nil
}
