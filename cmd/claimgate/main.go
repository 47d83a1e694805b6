// Command claimgate is Caddy with the standard modules and the claimgate plugin.
package main

import (
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// The standard Caddy modules.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// The claimgate plugin.
	_ "github.com/claimgate/claimgate"
)

func main() {
	os.Args = routeHashPassword(os.Args)
	caddycmd.Main()
}

// routeHashPassword sends `claimgate hash-password` to claimgate's command,
// which writes the PHC/bcrypt string a users table stores (argon2id by
// default). Caddy's own hash-password (base64 output for basic_auth) holds
// that name in Caddy's command registry, which refuses a second command of
// the same name, so the plugin registers its command as hash-user-password
// and the claimgate binary answers to both names with it.
func routeHashPassword(args []string) []string {
	if len(args) > 1 && args[1] == "hash-password" {
		routed := append([]string{args[0], "hash-user-password"}, args[2:]...)
		return routed
	}
	return args
}
