// Package caddymodule holds claimgate's Caddy modules: the `claimgate` app
// (user store, keys, clients, claim rules) and the claimgate_login and
// claimgate_verify HTTP handlers.
package caddymodule

import (
	"github.com/caddyserver/caddy/v2"

	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/token"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the `claimgate` Caddy app, configured by the global option of the
// same name and shared by every site.
type App struct {
	// Issuer is used verbatim as the tokens' iss and in discovery.
	Issuer string `json:"issuer,omitempty"`
	// Database configures the customer's user store.
	Database *DatabaseConfig `json:"database,omitempty"`
	// SigningKey selects the signing algorithm and key source.
	SigningKey *SigningKeyConfig `json:"signing_key,omitempty"`
	// KeyRotation, when set, rotates the generated signing key this often.
	KeyRotation caddy.Duration `json:"key_rotation,omitempty"`
	// AccessTokenTTL is the access (and ID) token lifetime; default 1h.
	AccessTokenTTL caddy.Duration `json:"access_token_ttl,omitempty"`
	// RefreshTokenTTL is the absolute lifetime of a refresh-token family; default 720h.
	RefreshTokenTTL caddy.Duration `json:"refresh_token_ttl,omitempty"`
	// Clients are the OAuth clients allowed to call the token endpoint.
	Clients []*ClientConfig `json:"clients,omitempty"`
	// Protection configures brute-force protection and the hashing guard.
	Protection *ProtectionConfig `json:"protection,omitempty"`
	// Rules are the claim, id_claim and deny rules, in order.
	Rules []enrich.Rule `json:"rules,omitempty"`
	// Errors selects the bad-credentials status: "" (RFC 6749, 400) or "auth0" (403).
	Errors string `json:"errors,omitempty"`

	keys *token.Manager
}

// DatabaseConfig configures the user store.
type DatabaseConfig struct {
	// DSN is a go-sql-driver DSN (placeholders allowed) or "embedded".
	DSN string `json:"dsn,omitempty"`
	// UserQuery takes the username and returns at most one row.
	UserQuery string `json:"user_query,omitempty"`
	// RolesQuery takes the user_id and returns one role name per row.
	RolesQuery string `json:"roles_query,omitempty"`
	// PermissionsQuery takes the user_id and returns one permission per row.
	PermissionsQuery string `json:"permissions_query,omitempty"`
	// OrganizationQuery takes the user_id and the requested organization.
	OrganizationQuery string `json:"organization_query,omitempty"`
	// Timeout bounds every query; default 3s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Name is the realm a password-realm request may name; default
	// Username-Password-Authentication.
	Name string `json:"name,omitempty"`
	// RehashQuery, when set, stores an upgraded hash after a login.
	RehashQuery string `json:"rehash_query,omitempty"`
	// ManageSchema creates the claimgate_ tables on start; default true.
	ManageSchema *bool `json:"manage_schema,omitempty"`
	// DummyHashCost is the bcrypt cost of the hash checked for unknown users; default 10.
	DummyHashCost int `json:"dummy_hash_cost,omitempty"`
}

// SigningKeyConfig selects the signing key.
type SigningKeyConfig struct {
	// Algorithm is RS256 (default), ES256 or EdDSA.
	Algorithm string `json:"algorithm,omitempty"`
	// File is a PEM private key; empty means generated and kept in Caddy storage.
	File string `json:"file,omitempty"`
}

// ClientConfig is one OAuth client.
type ClientConfig struct {
	// ID is the client_id.
	ID string `json:"id,omitempty"`
	// Secret is the client secret (placeholders allowed); empty for a public client.
	Secret string `json:"secret,omitempty"`
	// Audiences are the allowed audiences; the first is the default.
	Audiences []string `json:"audiences,omitempty"`
	// Grants are the grant types this client may use: password, refresh_token.
	Grants []string `json:"grants,omitempty"`
	// Scopes are the API scopes this client may ask for.
	Scopes []string `json:"scopes,omitempty"`
	// TrustForwardedFor names a header carrying the end user's IP
	// (confidential clients only).
	TrustForwardedFor string `json:"trust_forwarded_for,omitempty"`
}

// ProtectionConfig configures brute-force protection and the hashing guard.
type ProtectionConfig struct {
	// MaxFailures per user and client IP before a block; default 10.
	MaxFailures int `json:"max_failures,omitempty"`
	// BlockFor is how long a block lasts; default 1h.
	BlockFor caddy.Duration `json:"block_for,omitempty"`
	// IPFailuresPerDay is the per-IP failure budget, refilled over 24h; default 100.
	IPFailuresPerDay int `json:"ip_failures_per_day,omitempty"`
	// AccountLockout blocks the user from every IP too.
	AccountLockout bool `json:"account_lockout,omitempty"`
	// MaxConcurrentHashes bounds simultaneous verifications; 0 = NumCPU.
	MaxConcurrentHashes int `json:"max_concurrent_hashes,omitempty"`
	// HashQueueTimeout bounds the wait for a hashing slot; default 2s.
	HashQueueTimeout caddy.Duration `json:"hash_queue_timeout,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "claimgate",
		New: func() caddy.Module { return new(App) },
	}
}

// Start implements caddy.App.
func (a *App) Start() error { return nil }

// Stop implements caddy.App.
func (a *App) Stop() error { return nil }

// IssuerURL returns the issuer verbatim.
func (a *App) IssuerURL() string { return a.Issuer }

// KeySource is what claimgate_verify uses to check this app's own tokens.
func (a *App) KeySource() token.KeySource { return token.LocalKeys(a.keys) }

// Interface guards
var (
	_ caddy.App = (*App)(nil)
)
