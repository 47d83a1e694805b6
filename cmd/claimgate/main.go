// Command claimgate is Caddy with the standard modules and the claimgate
// plugin. It is Caddy's command line, so `claimgate run`, `claimgate adapt`
// and `claimgate validate` behave as Caddy's do; claimgate's own operator
// commands are under `claimgate claimgate` (hash-password, unblock,
// rotate-key, health, schema, version), as they are under `caddy claimgate`
// in any Caddy built with the plugin.
//
// It also carries the embedded demo database of the README's quickstart
// (demo.go); built with -tags=claimgate_nodemo, as the container image is,
// it does not.
package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// The standard Caddy modules.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// The claimgate plugin.
	_ "github.com/claimgate/claimgate"
)

func main() {
	// Caddy names its root command "caddy" unless told otherwise, and every
	// usage line is built from that name. This binary is installed as
	// claimgate (or whatever its owner renamed it to), so help reads
	// `claimgate claimgate hash-password`, the command one would type.
	caddy.CustomBinaryName = binaryName(os.Args[0])
	caddycmd.Main()
}

// binaryName is the name the program was called by, as help should show
// it: argv[0] without its directory and without Windows' .exe.
func binaryName(argv0 string) string {
	name := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	if name == "" || name == "." || name == string(filepath.Separator) {
		return "claimgate"
	}
	return name
}
