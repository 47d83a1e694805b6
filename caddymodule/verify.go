package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Verify{})
}

// Verify is the claimgate_verify handler: it verifies the bearer token and
// forwards verified claims to the next handler as request headers.
type Verify struct {
	// Audience must be among the token's aud.
	Audience string `json:"audience,omitempty"`
	// Headers maps a request header name to the claim it carries.
	Headers []HeaderClaim `json:"headers,omitempty"`
	// Require lists claim conditions that must all hold (else 403).
	Require []Requirement `json:"require,omitempty"`
	// Issuer, with JWKSURL, verifies another issuer's tokens instead of the app's own.
	Issuer string `json:"issuer,omitempty"`
	// JWKSURL is the other issuer's key set.
	JWKSURL string `json:"jwks_url,omitempty"`
	// Optional lets requests without a token through anonymously.
	Optional bool `json:"optional,omitempty"`
	// CacheSize bounds the verified-token cache; nil means 10000, 0 disables.
	CacheSize *int `json:"cache_size,omitempty"`
}

// HeaderClaim is one `header NAME CLAIM` line.
type HeaderClaim struct {
	// Name is the request header set for the upstream.
	Name string `json:"name"`
	// Claim is the claim name whose value it carries.
	Claim string `json:"claim"`
}

// Requirement is one `require CLAIM VALUE` line.
type Requirement struct {
	// Claim is the claim name.
	Claim string `json:"claim"`
	// Value must equal the claim, or be contained in it when it is a list.
	Value string `json:"value"`
}

// CaddyModule returns the Caddy module information.
func (Verify) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.claimgate_verify",
		New: func() caddy.Module { return new(Verify) },
	}
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (v *Verify) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return caddyhttp.Error(http.StatusUnauthorized, nil)
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Verify)(nil)
)
