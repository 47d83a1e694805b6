// Command claimgate is Caddy with the standard modules and the claimgate plugin.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// The standard Caddy modules.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// The claimgate plugin.
	_ "github.com/claimgate/claimgate"
)

func main() {
	caddycmd.Main()
}
