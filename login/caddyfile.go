package login

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/claimgate/claimgate/internal/cfgparse"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("claimgate_login", parseCaddyfile)
	// The anchor must be a standard directive. Right after try_files puts
	// claimgate_login ahead of claimgate_verify (placed right before
	// basic_auth) whatever order the packages initialise in.
	httpcaddyfile.RegisterDirectiveOrder("claimgate_login", httpcaddyfile.After, "try_files")
}

// parseCaddyfile parses the claimgate_login directive, which takes no
// arguments and no block: everything it serves is configured by the
// claimgate global option.
//
//	claimgate_login
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // consume directive name
	if err := cfgparse.EndOfLine(h.Dispenser); err != nil {
		return nil, err
	}
	return new(Login), nil
}
