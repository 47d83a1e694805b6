// Package claimgate is a Caddy v2 plugin that logs users in against their own
// MySQL database (OAuth 2.0 password grant), mints signed access tokens with
// custom claims, and forwards verified identity to upstream apps as headers.
//
// Importing this package registers the Caddy modules, their Caddyfile syntax
// and the claimgate command, so `xcaddy build --with
// github.com/claimgate/claimgate` works. The embedded demo database is not
// part of it: cmd/claimgate adds it for the quickstart.
//
// The packages, from the top:
//
//	app      the `claimgate` app and its global option: stores, keys, clients, rules
//	login    claimgate_login: token, revocation, userinfo, discovery endpoints
//	verify   claimgate_verify: bearer-token verification and identity headers
//	grant    the password and refresh flows, free of HTTP and Caddy
//	store    the customer's user tables and claimgate's own state tables
//	token    signing keys, rotation, JWT signing and verification
//	enrich   the CEL claim and deny rules
//	password hash verification and the hashing guard
//	command  the `claimgate` CLI subcommands
//	demo     the embedded demo database (cmd/claimgate and tests only)
package claimgate

import (
	// The claimgate app and its global option.
	_ "github.com/claimgate/claimgate/app"
	// The claimgate command: hash-password, unblock, schema, version.
	_ "github.com/claimgate/claimgate/command"
	// The claimgate_login handler and directive.
	_ "github.com/claimgate/claimgate/login"
	// The claimgate_verify handler and directive.
	_ "github.com/claimgate/claimgate/verify"
)
