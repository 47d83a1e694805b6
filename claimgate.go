// Package claimgate is a Caddy v2 plugin that logs users in against their own
// MySQL database (OAuth 2.0 password grant), mints signed access tokens with
// custom claims, and forwards verified identity to upstream apps as headers.
//
// Importing this package registers the Caddy modules and Caddyfile directives,
// so `xcaddy build --with github.com/claimgate/claimgate` works.
package claimgate

import (
	// Registers the claimgate app and the claimgate_login / claimgate_verify handlers.
	_ "github.com/claimgate/claimgate/caddymodule"
	// Registers the claimgate global option and the two directives.
	_ "github.com/claimgate/claimgate/caddyfile"
)
