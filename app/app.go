// Package app is the `claimgate` Caddy app, configured by the global option
// of the same name (caddyfile*.go) and shared by every site: the user store,
// the state store and its worker, the signing keys, the clients, the claim
// rules, and the grant flows built on them. The HTTP handlers (packages
// login and verify) find it with ctx.App("claimgate").
package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"golang.org/x/net/http/httpguts"

	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/httpurl"
	"github.com/claimgate/claimgate/password"
	"github.com/claimgate/claimgate/store"
	"github.com/claimgate/claimgate/token"
)

func init() {
	caddy.RegisterModule(App{})
}

// Defaults of the app's settings.
const (
	defaultAccessTokenTTL   = time.Hour
	defaultRefreshTokenTTL  = 720 * time.Hour
	defaultRefreshIdleTTL   = 360 * time.Hour
	defaultDatabaseTimeout  = 3 * time.Second
	defaultDatabaseName     = "Username-Password-Authentication"
	defaultDummyHashCost    = 10
	defaultMaxFailures      = 10
	defaultBlockFor         = time.Hour
	defaultIPFailuresPerDay = 100
	defaultHashQueueTimeout = 2 * time.Second
	defaultIPv6Prefix       = 64
)

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
	// RefreshTokenIdleTTL is how long a refresh token may go unused before
	// it is refused; default 360h (15 days, as Auth0).
	RefreshTokenIdleTTL caddy.Duration `json:"refresh_token_idle_ttl,omitempty"`
	// Clients are the OAuth clients allowed to call the token endpoint.
	Clients []*ClientConfig `json:"clients,omitempty"`
	// Protection configures brute-force protection and the hashing guard.
	Protection *ProtectionConfig `json:"protection,omitempty"`
	// Rules are the claim, id_claim and deny rules, in order.
	Rules []enrich.Rule `json:"rules,omitempty"`
	// Errors selects the bad-credentials status: "" (RFC 6749, 400) or "auth0" (403).
	Errors string `json:"errors,omitempty"`
	// SubjectPrefix is put before the user_id in every token's sub (e.g.
	// "auth0|"), so apps that stored Auth0 subjects keep finding their users.
	SubjectPrefix string `json:"subject_prefix,omitempty"`
	// SessionTTL is the absolute lifetime of a browser sign-in (SSO)
	// session; default 168h.
	SessionTTL caddy.Duration `json:"session_ttl,omitempty"`
	// SessionIdleTTL ends a sign-in session unused for this long; default 72h.
	SessionIdleTTL caddy.Duration `json:"session_idle_ttl,omitempty"`
	// LoginPage is an html/template file replacing the built-in login page.
	LoginPage string `json:"login_page,omitempty"`
	// Management configures the management API (management.go); nil
	// turns it off.
	Management *ManagementConfig `json:"management,omitempty"`

	logger  *zap.Logger
	ctx     caddy.Context
	storage certmagic.Storage
	keys    *token.Manager
	store   *store.Store
	program *enrich.Program
	guard   *password.Guard
	clients map[string]*grant.Client
	grants  *grant.Service
	// web is what browser sign-in needs (browser.go).
	web *browserState
	// management is the management API's flows (management.go); nil
	// without a management block.
	management *grant.Management
	// cookieKey encrypts claimgate_verify's app session cookies
	// (browser_sessions.go); loaded by Start.
	cookieKey *atomic.Pointer[[]byte]
	// telemetry is the metrics and events (telemetry.go).
	telemetry telemetry

	// state keeps claimgate's own tables (failure counters, refresh
	// tokens); schema creates them on first use when manage_schema is on
	// (nil when it is off: never any DDL then).
	db     *sql.DB
	state  *store.State
	schema *schemaGuard
	// stopWorkers ends the background goroutines (state maintenance, key
	// rotation), which workers counts, so that Cleanup can wait for them.
	stopWorkers context.CancelFunc
	workers     *sync.WaitGroup
	// health is the database's health beside the store's own status, for
	// /health (health.go).
	health *dbHealth

	// dsn is the resolved DSN whose pool this instance holds (empty when
	// none is held); releaseNamed releases a named DSN's database (the
	// demo database) when one was opened.
	dsn          string
	releaseNamed func() error
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
	// RehashQuery, when set, stores an upgraded hash after a login. It takes
	// the new hash, the user_id and the hash that was verified, so that a
	// password changed meanwhile is never overwritten.
	RehashQuery string `json:"rehash_query,omitempty"`
	// UserIDQuery takes a user_id and returns the same columns as UserQuery:
	// fresh userinfo, refresh by id.
	UserIDQuery string `json:"user_id_query,omitempty"`
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
	// Grants are the grant types this client may use: password,
	// refresh_token, authorization_code, client_credentials.
	Grants []string `json:"grants,omitempty"`
	// Scopes are the API scopes this client may ask for.
	Scopes []string `json:"scopes,omitempty"`
	// TrustForwardedFor names a header carrying the end user's IP
	// (confidential clients only).
	TrustForwardedFor string `json:"trust_forwarded_for,omitempty"`
	// RedirectURIs are where /authorize may send the browser back (exact
	// URLs); needed by the authorization_code grant.
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// LogoutRedirectURIs are where logout may send the browser.
	LogoutRedirectURIs []string `json:"logout_redirect_uris,omitempty"`
	// Signup lets the client sign users up at POST /dbconnections/signup.
	Signup bool `json:"signup,omitempty"`
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
	// IPv6Prefix is the prefix length IPv6 clients are counted by for every
	// per-IP limit (one /64 is one subscriber); default 64.
	IPv6Prefix int `json:"ipv6_prefix,omitempty"`
	// MinFailureTime, when set, makes every failed credential check answer
	// no sooner than this after it began, hiding the cost differences
	// between hash formats in one table.
	MinFailureTime caddy.Duration `json:"min_failure_time,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "claimgate",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision sets defaults, resolves placeholders and prepares the user
// store, keys, rules and hashing guard. It never needs the database to be
// up: claimgate starts with MySQL down and answers logins with 503 until it
// is back.
func (a *App) Provision(ctx caddy.Context) error {
	return a.ProvisionWith(ctx, ctx.Storage(), ctx.Logger())
}

// ProvisionWith is Provision with the storage and logger passed in, for
// tools and tests that run an App outside a Caddy config. Like Provision it
// writes nothing: keys and tables are created by Start.
func (a *App) ProvisionWith(ctx caddy.Context, storage certmagic.Storage, logger *zap.Logger) error {
	a.logger = logger
	a.ctx = ctx
	a.storage = storage
	a.workers = new(sync.WaitGroup)
	a.cookieKey = new(atomic.Pointer[[]byte])
	if a.health == nil { // SetHealthInterval may have made it
		a.health = new(dbHealth)
	}
	a.setDefaults()

	// Check the shape first so that a broken config acquires nothing.
	if err := a.Validate(); err != nil {
		return err
	}
	a.warnInsecureIssuer()

	clients, err := resolveClients(a.Clients, caddy.NewReplacer())
	if err != nil {
		return err
	}
	a.clients = clients

	if a.program, err = enrich.Compile(a.Rules, a.logger); err != nil {
		return fmt.Errorf("compiling claim rules: %w", err)
	}
	if err := a.provisionTelemetry(ctx); err != nil {
		return err
	}
	a.guard = password.NewGuard(a.Protection.MaxConcurrentHashes, time.Duration(a.Protection.HashQueueTimeout))
	verifier, err := a.passwordVerifier()
	if err != nil {
		return err
	}

	if err := a.openStore(); err != nil {
		return err
	}

	a.keys = token.NewManager(storage, token.ManagerConfig{
		Algorithm:        a.SigningKey.Algorithm,
		File:             a.SigningKey.File,
		Rotation:         time.Duration(a.KeyRotation),
		MaxTokenLifetime: time.Duration(a.AccessTokenTTL),
	}, a.logger.Named("keys"))
	// Read-only: a missing key file or a bad rotation fails the load (and
	// `claimgate validate`); generated keys are created by Start.
	if err := a.keys.Prepare(); err != nil {
		return fmt.Errorf("loading signing keys: %w", err)
	}
	a.grants = grant.New(ctx, a.grantConfig(verifier))
	if err := a.provisionBrowser(); err != nil {
		return err
	}
	if err := a.provisionManagement(); err != nil {
		return err
	}
	a.watchTelemetry()
	return nil
}

// passwordVerifier prepares the dummy hash an unknown user's password is
// checked against, now, so that the first unknown user does not stand out
// by the time it takes to make it. With rehash_query the users end up on
// argon2id, so the dummy is argon2id with the rehash target's parameters:
// unknown users then cost what known ones do.
func (a *App) passwordVerifier() (password.Verifier, error) {
	var dummy *password.Dummy
	var err error
	if a.Database.RehashQuery != "" {
		dummy, err = password.NewArgon2idDummy(password.DefaultArgon2)
	} else {
		dummy, err = password.NewBcryptDummy(a.Database.DummyHashCost)
	}
	if err != nil {
		return password.Verifier{}, fmt.Errorf("preparing the dummy hash: %w", err)
	}
	return password.NewVerifier(dummy), nil
}

// grantConfig is the grant flows' view of the app.
func (a *App) grantConfig(verifier password.Verifier) grant.Config {
	return grant.Config{
		Issuer:              a.Issuer,
		Users:               a.store,
		State:               a.state,
		StateReady:          a.stateReady,
		Keys:                a.keys,
		Rules:               a.program,
		Guard:               a.guard,
		Passwords:           verifier,
		Protection:          a.protection(),
		IPv6Prefix:          a.Protection.IPv6Prefix,
		MinFailureTime:      time.Duration(a.Protection.MinFailureTime),
		SubjectPrefix:       a.SubjectPrefix,
		AccessTokenTTL:      time.Duration(a.AccessTokenTTL),
		RefreshTokenTTL:     time.Duration(a.RefreshTokenTTL),
		RefreshTokenIdleTTL: time.Duration(a.RefreshTokenIdleTTL),
		Rehash:              a.Database.RehashQuery != "",
		RehashTimeout:       time.Duration(a.Database.Timeout) + time.Duration(a.Protection.HashQueueTimeout),
		Logger:              a.logger.Named("grant"),
		Observer:            a.telemetry.metrics,
	}
}

// setDefaults fills in every unset setting.
func (a *App) setDefaults() {
	if a.AccessTokenTTL <= 0 {
		a.AccessTokenTTL = caddy.Duration(defaultAccessTokenTTL)
	}
	if a.RefreshTokenTTL <= 0 {
		a.RefreshTokenTTL = caddy.Duration(defaultRefreshTokenTTL)
	}
	if a.RefreshTokenIdleTTL <= 0 {
		a.RefreshTokenIdleTTL = caddy.Duration(defaultRefreshIdleTTL)
	}
	if a.SigningKey == nil {
		a.SigningKey = new(SigningKeyConfig)
	}
	if a.SigningKey.Algorithm == "" {
		a.SigningKey.Algorithm = token.RS256
	}
	if a.Protection == nil {
		a.Protection = new(ProtectionConfig)
	}
	p := a.Protection
	if p.MaxFailures <= 0 {
		p.MaxFailures = defaultMaxFailures
	}
	if p.BlockFor <= 0 {
		p.BlockFor = caddy.Duration(defaultBlockFor)
	}
	if p.IPFailuresPerDay <= 0 {
		p.IPFailuresPerDay = defaultIPFailuresPerDay
	}
	if p.HashQueueTimeout <= 0 {
		p.HashQueueTimeout = caddy.Duration(defaultHashQueueTimeout)
	}
	if p.IPv6Prefix == 0 {
		p.IPv6Prefix = defaultIPv6Prefix
	}
	d := a.Database
	if d == nil {
		return // Validate reports it
	}
	if d.Timeout <= 0 {
		d.Timeout = caddy.Duration(defaultDatabaseTimeout)
	}
	if d.Name == "" {
		d.Name = defaultDatabaseName
	}
	if d.ManageSchema == nil {
		on := true
		d.ManageSchema = &on
	}
	if d.DummyHashCost <= 0 {
		d.DummyHashCost = defaultDummyHashCost
	}
}

// openStore acquires the database pool (or the embedded server) and the
// Store on it. Neither contacts the server: a database that is down shows
// up as 503s at login time, not as a failed config.
func (a *App) openStore() error {
	dsn, err := caddy.NewReplacer().ReplaceOrErr(a.Database.DSN, false, true)
	if err != nil {
		return fmt.Errorf("database dsn: %w", err)
	}
	if dsn == "" {
		// {env.X} with X unset: refuse rather than dial a default server.
		return errors.New("database dsn is empty after replacing placeholders (is the environment variable set?)")
	}
	if open, named := store.LookupNamedDSN(dsn); named {
		name := dsn
		if dsn, a.releaseNamed, err = open(); err != nil {
			return fmt.Errorf("starting the %s database: %w", name, err)
		}
		a.logger.Warn("using the EMBEDDED DEMO DATABASE: demo users with published passwords, "+
			"in memory, on a loopback port; for trying claimgate out only, never for real users",
			zap.String("dsn", name))
	} else if isNamedDSN(dsn) {
		return fmt.Errorf("database dsn %q names a database this build does not include (the embedded demo database is in the claimgate binary, not in a plain xcaddy build)", dsn)
	} else if err := store.ValidateDSN(dsn); err != nil {
		// Only the error's text: it never holds the DSN's password.
		return fmt.Errorf("database dsn: %w", err)
	}

	db, err := openDB(dsn)
	if err != nil {
		return fmt.Errorf("opening the user database: %w", err)
	}
	a.dsn = dsn

	a.store, err = store.New(db, a.storeConfig(), a.logger.Named("store"))
	if err != nil {
		return fmt.Errorf("preparing the user store: %w", err)
	}
	// claimgate's own tables live in the same database, on the same pool.
	// With manage_schema on they are created on first use (and by the
	// state worker at start), never here: Provision must not need the
	// database.
	a.db = db
	a.state = store.NewState(db, time.Duration(a.Database.Timeout))
	if *a.Database.ManageSchema {
		a.schema = newSchemaGuard(a.state, time.Duration(a.Database.Timeout))
	}
	return nil
}

// storeConfig is the store package's view of the database block.
func (a *App) storeConfig() store.Config {
	d := a.Database
	return store.Config{
		UserQuery:         d.UserQuery,
		RolesQuery:        d.RolesQuery,
		PermissionsQuery:  d.PermissionsQuery,
		OrganizationQuery: d.OrganizationQuery,
		RehashQuery:       d.RehashQuery,
		UserIDQuery:       d.UserIDQuery,
		Timeout:           time.Duration(d.Timeout),
		Observe:           a.telemetry.metrics.DatabaseQuery,
	}
}

// isNamedDSN reports a DSN that is a bare word such as "embedded": a named
// DSN, which a go-sql-driver DSN (it has '@', '/' or '(') never is.
func isNamedDSN(dsn string) bool {
	if dsn == "" {
		return false
	}
	for _, c := range dsn {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// warnInsecureIssuer logs a warning for an http:// issuer that is not on a
// loopback host: its tokens and discovery travel in clear text.
func (a *App) warnInsecureIssuer() {
	if httpurl.Insecure(a.Issuer) {
		a.logger.Warn("issuer uses http:// on a non-loopback host; tokens and keys are exposed in transit",
			zap.String("issuer", a.Issuer))
	}
}

// Validate checks the configuration. It is fast and has no side effects.
func (a *App) Validate() error {
	if err := validateIssuer(a.Issuer); err != nil {
		return err
	}
	if err := a.validateDatabase(); err != nil {
		return err
	}
	if a.SigningKey != nil && a.SigningKey.Algorithm != "" {
		if err := validateSigningAlgorithm(a.SigningKey.Algorithm); err != nil {
			return fmt.Errorf("signing_key: %w", err)
		}
	}
	if a.AccessTokenTTL < 0 || a.RefreshTokenTTL < 0 || a.RefreshTokenIdleTTL < 0 || a.KeyRotation < 0 {
		return errors.New("access_token_ttl, refresh_token_ttl, refresh_token_idle_ttl and key_rotation must not be negative")
	}
	if a.Errors != "" {
		if err := validateErrorsMode(a.Errors); err != nil {
			return err
		}
	}
	if err := validateClients(a.Clients); err != nil {
		return err
	}
	if err := a.validateBrowser(); err != nil {
		return err
	}
	if err := a.validateManagement(); err != nil {
		return err
	}
	if err := a.validateSignup(); err != nil {
		return err
	}
	return validateProtection(a.Protection)
}

// errorsAuth0 is the one `errors` mode: Auth0's 403 for bad credentials.
const errorsAuth0 = "auth0"

// validateErrorsMode checks the `errors` setting.
func validateErrorsMode(mode string) error {
	if mode != errorsAuth0 {
		return fmt.Errorf("errors: unknown mode '%s' (the only one is auth0)", mode)
	}
	return nil
}

// validateIssuer requires an absolute http(s) URL without query or
// fragment: the issuer is every token's iss, used verbatim.
func validateIssuer(issuer string) error {
	if issuer == "" {
		return errors.New("issuer is required")
	}
	if err := httpurl.CheckAbsolute(issuer); err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	return nil
}

func (a *App) validateDatabase() error {
	d := a.Database
	if d == nil {
		return errors.New("database block is required")
	}
	if d.DSN == "" {
		return errors.New("database: dsn is required")
	}
	if d.UserQuery == "" {
		return errors.New("database: user_query is required")
	}
	if err := store.ValidateConfig(a.storeConfig()); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	// A DSN with placeholders is only known after replacement (Provision).
	if !isNamedDSN(d.DSN) && !strings.Contains(d.DSN, "{") {
		if err := store.ValidateDSN(d.DSN); err != nil {
			return fmt.Errorf("database dsn: %w", err)
		}
	}
	if d.Timeout < 0 {
		return errors.New("database: timeout must not be negative")
	}
	if d.DummyHashCost != 0 {
		if err := validateDummyCost(d.DummyHashCost); err != nil {
			return fmt.Errorf("database: %w", err)
		}
	}
	return nil
}

func validateClients(clients []*ClientConfig) error {
	seen := make(map[string]bool, len(clients))
	for i, c := range clients {
		if c == nil || c.ID == "" {
			return fmt.Errorf("client #%d: an id is required", i+1)
		}
		if seen[c.ID] {
			return fmt.Errorf("client %q is defined twice", c.ID)
		}
		seen[c.ID] = true
		if err := c.validate(); err != nil {
			return fmt.Errorf("client %q: %w", c.ID, err)
		}
	}
	return nil
}

// validateAudiences checks a client's audience list.
func validateAudiences(auds []string) error {
	if len(auds) == 0 {
		return errors.New("at least one audience is required (the APIs its tokens are for)")
	}
	if slices.Contains(auds, "") {
		return errors.New("empty audience")
	}
	return nil
}

// validate checks one client; the Caddyfile parser calls it too.
func (c *ClientConfig) validate() error {
	if err := validateAudiences(c.Audiences); err != nil {
		return err
	}
	for _, g := range c.Grants {
		if err := grant.ValidateClientGrant(g); err != nil {
			return err
		}
	}
	for _, s := range c.Scopes {
		if err := grant.ValidateScopeName(s); err != nil {
			return err
		}
	}
	if err := c.validateBrowser(); err != nil {
		return err
	}
	if err := c.validateMachine(); err != nil {
		return err
	}
	if c.TrustForwardedFor != "" {
		if !httpguts.ValidHeaderFieldName(c.TrustForwardedFor) {
			return fmt.Errorf("trust_forwarded_for: '%s' is not a valid header name", c.TrustForwardedFor)
		}
		if c.Secret == "" {
			// A public client's requests come straight from end users, who
			// could then pick the IP address the protection counts.
			return errors.New("trust_forwarded_for needs a secret (confidential clients only)")
		}
	}
	return nil
}

// signingAlgorithms are the algorithms claimgate signs with.
var signingAlgorithms = []string{token.RS256, token.ES256, token.EdDSA}

// validateSigningAlgorithm accepts the algorithms claimgate signs with.
func validateSigningAlgorithm(alg string) error {
	if !slices.Contains(signingAlgorithms, alg) {
		return fmt.Errorf("unsupported algorithm '%s' (use RS256, ES256 or EdDSA)", alg)
	}
	return nil
}

// validateDummyCost checks the bcrypt cost of the unknown-user dummy hash.
func validateDummyCost(cost int) error {
	if err := password.ValidateDummyCost(cost); err != nil {
		return fmt.Errorf("dummy_hash_cost: %w", err)
	}
	return nil
}

// validateIPv6Prefix checks the prefix length IPv6 clients are counted by.
func validateIPv6Prefix(bits int) error {
	if bits < 1 || bits > 128 {
		return fmt.Errorf("ipv6_prefix %d is outside 1..128", bits)
	}
	return nil
}

func validateProtection(p *ProtectionConfig) error {
	if p == nil {
		return nil
	}
	if p.MaxFailures < 0 || p.IPFailuresPerDay < 0 || p.MaxConcurrentHashes < 0 {
		return errors.New("protection: counts must not be negative")
	}
	if p.BlockFor < 0 || p.HashQueueTimeout < 0 || p.MinFailureTime < 0 {
		return errors.New("protection: durations must not be negative")
	}
	if err := validateIPv6Prefix(p.IPv6Prefix); p.IPv6Prefix != 0 && err != nil {
		return fmt.Errorf("protection: %w", err)
	}
	return nil
}

// Start creates what Provision must not: the signing key (when none is in
// storage yet), the per-install log key, the browser cookie key, and — through the state worker —
// claimgate's tables. It then starts key rotation and the state worker,
// which stop with the config's context or Cleanup.
func (a *App) Start() error {
	wctx, cancel := context.WithCancel(a.ctx)
	a.stopWorkers = cancel
	if err := a.keys.Load(wctx); err != nil {
		return fmt.Errorf("loading signing keys: %w", err)
	}
	logKey, err := loadLogKey(wctx, a.storage)
	if err != nil {
		return fmt.Errorf("loading the log fingerprint key: %w", err)
	}
	a.grants.SetLogKey(logKey)
	cookieKey, err := loadSecret(wctx, a.storage, browserCookieKeyPath)
	if err != nil {
		return fmt.Errorf("loading the browser cookie key: %w", err)
	}
	cookieKey = cookieKey[:32]
	a.cookieKey.Store(&cookieKey)
	a.goWorker(func() { a.keys.Run(wctx) })
	a.startStateWorker(wctx)
	a.startHealthWatcher(wctx)
	return nil
}

// goWorker runs fn in a goroutine that Cleanup waits for.
func (a *App) goWorker(fn func()) {
	a.workers.Add(1)
	go func() {
		defer a.workers.Done()
		fn()
	}()
}

// Stop implements caddy.App; Cleanup releases everything.
func (a *App) Stop() error { return nil }

// Cleanup releases what Provision acquired, also after a failed Provision.
func (a *App) Cleanup() error {
	// Caddy cancels the context before Cleanup, but tests and a failed
	// Provision may not: stop the workers before closing their pool.
	if a.stopWorkers != nil {
		a.stopWorkers()
	}
	if a.workers != nil {
		a.workers.Wait()
	}
	if a.grants != nil {
		a.grants.Close()
	}
	a.releaseTelemetry()
	var errs []error
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the user store: %w", err))
		}
		a.store = nil
	}
	if a.dsn != "" {
		if err := releaseDB(a.dsn); err != nil {
			errs = append(errs, fmt.Errorf("releasing the database pool: %w", err))
		}
		a.dsn = ""
	}
	if a.releaseNamed != nil {
		if err := a.releaseNamed(); err != nil {
			errs = append(errs, fmt.Errorf("releasing the demo database: %w", err))
		}
		a.releaseNamed = nil
	}
	return errors.Join(errs...)
}

// IssuerURL returns the issuer verbatim.
func (a *App) IssuerURL() string { return a.Issuer }

// KeySource is what claimgate_verify uses to check this app's own tokens.
func (a *App) KeySource() token.KeySource { return token.LocalKeys(a.keys) }

// KeySet returns the current signing and published keys (nil before the
// first load).
func (a *App) KeySet() *token.KeySet { return a.keys.KeySet() }

// Grants returns the sign-in flows.
func (a *App) Grants() *grant.Service { return a.grants }

// Client returns the client with this id.
func (a *App) Client(id string) (*grant.Client, bool) {
	c, ok := a.clients[id]
	return c, ok
}

// ClientList returns every client, in configuration order.
func (a *App) ClientList() []*grant.Client {
	out := make([]*grant.Client, 0, len(a.Clients))
	for _, cc := range a.Clients {
		out = append(out, a.clients[cc.ID])
	}
	return out
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
