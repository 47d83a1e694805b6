// Package verify is the claimgate_verify HTTP handler: it verifies bearer
// tokens (claimgate's own, or another issuer's through its key set) and
// forwards verified claims to the upstream as request headers, after
// deleting every client-sent copy of them.
package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/claimgate/claimgate/internal/httpurl"
	"github.com/claimgate/claimgate/internal/ratelog"
	"github.com/claimgate/claimgate/token"
)

func init() {
	caddy.RegisterModule(Verify{})
}

// Verify is the claimgate_verify handler: it verifies the bearer token and
// forwards verified claims to the next handler as request headers.
//
// Every managed header is first deleted from the request, in every case and
// `_`/`.`/`-` spelling, and dropped from the Connection header, so a client
// can never forge it: the header names of every claimgate_verify loaded
// (managed.go) and this handler's Strip names. A request that announces a
// managed trailer is refused with 400. Verified claims are also offered as the
// placeholders `{http.auth.user.id}` (the sub claim) and
// `{http.auth.user.<claim>}`.
//
// Local tokens (no Issuer/JWKSURL) must have typ at+jwt (RFC 9068). Tokens of
// another issuer may have any typ: Auth0 signs its access tokens with typ
// "JWT" unless the tenant opted into the RFC 9068 profile; requiring our
// audience keeps its ID tokens (whose aud is a client ID) out.
type Verify struct {
	// Audience must be among the token's aud.
	Audience string `json:"audience,omitempty"`
	// Headers maps a request header name to the claim it carries.
	Headers []HeaderClaim `json:"headers,omitempty"`
	// Strip names more client-sent headers to delete before the request
	// goes on, in every spelling, like the headers of Headers.
	Strip []string `json:"strip,omitempty"`
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
	// Browser, when set, signs browsers in as this client of the claimgate
	// app: requests without a bearer token are authenticated by an app
	// session cookie, and navigations without one are sent to sign in
	// (browser.go).
	Browser string `json:"browser,omitempty"`

	verifier *token.Verifier
	headers  []forwardedHeader
	// browser is the browser sessions' state, nil without Browser.
	browser *browserSession
	// registry holds the header names of every provisioned handler
	// (managedNames; tests set their own); registered is what this one
	// added, own its header and strip names. See managed.go.
	registry   *nameRegistry
	registered *nameSet
	own        *nameSet
	cache      *managedCache
	// Precomputed WWW-Authenticate values (RFC 6750 §3).
	challengeMissing, challengeInvalid, challengeScope string
	// remote is another issuer's key set, nil for the app's own keys;
	// Cleanup closes it.
	remote *token.RemoteJWKS
	logger *zap.Logger

	// metrics counts the requests by outcome (metrics.go).
	metrics verifyMetrics
	// audienceLog lets the log line of a token for another audience through
	// once a minute (see logAudienceMismatch).
	audienceLog *ratelog.Limiter
}

// HeaderClaim is one `header NAME CLAIM` line.
type HeaderClaim struct {
	// Name is the request header set for the upstream.
	Name string `json:"name,omitempty"`
	// Claim is the claim name whose value it carries.
	Claim string `json:"claim,omitempty"`
	// Format is "" (strings as they are, lists joined with ",") or "json"
	// (the claim as compact JSON, whatever its type).
	Format string `json:"format,omitempty"`
}

// Requirement is one `require CLAIM VALUE` line.
type Requirement struct {
	// Claim is the claim name.
	Claim string `json:"claim,omitempty"`
	// Value must equal the claim, or be contained in it when it is a list.
	Value string `json:"value,omitempty"`
}

const (
	// defaultVerifyCacheSize is the verified-token cache size when unset.
	defaultVerifyCacheSize = 10000
	// jwksTimeout bounds one fetch of another issuer's key set.
	jwksTimeout = 10 * time.Second
	// formatJSON is the header format that sends a claim as compact JSON.
	formatJSON = "json"
)

// KeyProvider is what the claimgate app offers this handler: its issuer and
// its signing keys. The handler depends on this, not on the app's package.
type KeyProvider interface {
	IssuerURL() string
	KeySource() token.KeySource
}

// CaddyModule returns the Caddy module information.
func (Verify) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.claimgate_verify",
		New: func() caddy.Module { return new(Verify) },
	}
}

// Provision checks the configuration, prepares the header names and builds
// the token verifier once: with the claimgate app's own keys, or with
// Issuer's key set fetched from JWKSURL.
func (v *Verify) Provision(ctx caddy.Context) error {
	v.logger = ctx.Logger()
	// Check before anything starts (a JWKS fetch), since Caddy calls
	// Validate only after Provision.
	if err := v.Validate(); err != nil {
		return err
	}
	if err := v.provisionMetrics(ctx); err != nil {
		return err
	}
	if v.Issuer == "" {
		// Only now look for the app: a config that verifies only another
		// issuer's tokens must not need (or instantiate) a claimgate app.
		appIface, err := ctx.AppIfConfigured("claimgate")
		if errors.Is(err, caddy.ErrNotConfigured) {
			return fmt.Errorf("claimgate_verify: without issuer and jwks_url it verifies the claimgate app's tokens, and the claimgate global option is not configured")
		}
		if err != nil {
			return fmt.Errorf("getting claimgate app: %w", err)
		}
		app, ok := appIface.(KeyProvider)
		if !ok {
			return fmt.Errorf("claimgate_verify: the claimgate app (%T) offers no keys", appIface)
		}
		if err := v.provision(app.IssuerURL(), app.KeySource(), token.TypeAccessToken); err != nil {
			return err
		}
		return v.provisionBrowser(appIface, app.IssuerURL())
	}

	for _, u := range []string{v.Issuer, v.JWKSURL} {
		if httpurl.Insecure(u) {
			v.logger.Warn("plain-HTTP URL on a non-loopback host: keys and tokens can be tampered with in transit",
				zap.String("url", u))
		}
	}
	// The key set's goroutines stop with the config (ctx is cancelled on
	// unload) or in Cleanup, also after a failed Provision; Cleanup waits
	// for them.
	client := &http.Client{Timeout: jwksTimeout}
	v.remote = token.NewRemoteJWKS(ctx, v.JWKSURL, client, v.logger.Named("jwks"), v.fetchObserver())
	return v.provision(v.Issuer, v.remote, "")
}

// provision prepares everything ServeHTTP reads, given where the tokens come
// from. Tests call it directly with a token.Manager's keys.
func (v *Verify) provision(issuer string, keys token.KeySource, requireType string) error {
	if v.logger == nil {
		v.logger = zap.NewNop()
	}
	v.audienceLog = ratelog.New(time.Minute)
	v.ensureMetrics()
	cacheSize := defaultVerifyCacheSize
	if v.CacheSize != nil {
		cacheSize = *v.CacheSize
	}
	verifier, err := token.NewVerifier(token.VerifierConfig{
		Issuer:      issuer,
		Audience:    v.Audience,
		RequireType: requireType,
		Leeway:      token.DefaultLeeway,
		Keys:        keys,
		CacheSize:   cacheSize,
	})
	if err != nil {
		return fmt.Errorf("building token verifier: %w", err)
	}
	v.verifier = verifier

	v.headers = make([]forwardedHeader, len(v.Headers))
	for i, hc := range v.Headers {
		fh := &v.headers[i]
		fh.key = http.CanonicalHeaderKey(hc.Name)
		fh.claim = hc.Claim
		fh.json = hc.Format == formatJSON
	}
	v.register()

	realm := `Bearer realm="` + quoteEscape(v.Audience) + `"`
	v.challengeMissing = realm
	v.challengeInvalid = realm + `, error="invalid_token"`
	v.challengeScope = realm + `, error="insufficient_scope"`
	return nil
}

// Validate checks the configuration; it changes nothing. The Caddyfile
// parser calls the same checks, so each rule is written once.
func (v *Verify) Validate() error {
	if err := v.validateAudience(); err != nil {
		return err
	}
	seen := make(map[string]string, len(v.Headers))
	for _, hc := range v.Headers {
		if err := validateHeader(hc, seen); err != nil {
			return fmt.Errorf("claimgate_verify: header: %w", err)
		}
	}
	for _, name := range v.Strip {
		if err := validateStripName(name); err != nil {
			return fmt.Errorf("claimgate_verify: strip: %w", err)
		}
	}
	for _, req := range v.Require {
		if req.Claim == "" || req.Value == "" {
			return fmt.Errorf("claimgate_verify: require needs a claim name and a value (got %q %q)", req.Claim, req.Value)
		}
	}
	if err := v.validateIssuer(); err != nil {
		return err
	}
	if err := v.validateOptional(); err != nil {
		return err
	}
	if err := v.validateBrowser(); err != nil {
		return err
	}
	if v.CacheSize != nil && *v.CacheSize < 0 {
		return fmt.Errorf("claimgate_verify: cache_size must be 0 (off) or more, got %d", *v.CacheSize)
	}
	return nil
}

// validateAudience requires the audience every token is checked for.
func (v *Verify) validateAudience() error {
	if v.Audience == "" {
		return errors.New("claimgate_verify: missing audience (tokens are checked for it)")
	}
	return nil
}

// addHeader appends hc after checking it against the headers already set.
func (v *Verify) addHeader(hc HeaderClaim) error {
	seen := make(map[string]string, len(v.Headers))
	for _, prev := range v.Headers {
		seen[normalizeHeaderName(prev.Name)] = prev.Name
	}
	if err := validateHeader(hc, seen); err != nil {
		return err
	}
	v.Headers = append(v.Headers, hc)
	return nil
}

// validateHeader checks one `header` line; seen maps the normalised names
// already configured to their spelling, and gains this one.
func validateHeader(hc HeaderClaim, seen map[string]string) error {
	if err := validHeaderName(hc.Name); err != nil {
		return err
	}
	if hc.Claim == "" {
		return fmt.Errorf("%s: claim name is empty", hc.Name)
	}
	if hc.Format != "" && hc.Format != formatJSON {
		return fmt.Errorf("%s: unknown format %q (the only one is json)", hc.Name, hc.Format)
	}
	norm := normalizeHeaderName(hc.Name)
	if prev, ok := seen[norm]; ok {
		return fmt.Errorf("%s is configured twice (as %s too)", hc.Name, prev)
	}
	seen[norm] = hc.Name
	return nil
}

// validateStripName checks one name of a `strip` line.
func validateStripName(name string) error {
	return validHeaderName(name)
}

// validateIssuer checks that issuer and jwks_url come together and are URLs.
func (v *Verify) validateIssuer() error {
	if (v.Issuer == "") != (v.JWKSURL == "") {
		return errors.New("claimgate_verify: issuer and jwks_url go together (another issuer's tokens need both)")
	}
	if v.Issuer == "" {
		return nil
	}
	if err := checkAbsoluteURL(v.Issuer); err != nil {
		return fmt.Errorf("claimgate_verify: issuer: %w", err)
	}
	if err := checkAbsoluteURL(v.JWKSURL); err != nil {
		return fmt.Errorf("claimgate_verify: jwks_url: %w", err)
	}
	return nil
}

// validateOptional refuses optional together with require: an anonymous
// request would get further than a valid token without the claim.
func (v *Verify) validateOptional() error {
	if v.Optional && len(v.Require) > 0 {
		return errors.New("claimgate_verify: optional and require exclude each other (an anonymous request would pass where a token without the claim gets 403)")
	}
	return nil
}

// Cleanup stops the remote key set's goroutines and waits for them (so no
// fetch logs or counts after it), and takes the handler's header names out
// of the managed set.
func (v *Verify) Cleanup() error {
	if v.remote != nil {
		v.remote.Close()
	}
	v.unregister()
	v.releaseMetrics()
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (v *Verify) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// First, on every path: no client-sent copy of a managed header
	// survives, whatever happens next.
	managed := v.managed()
	trailerManaged := stripManaged(r.Header, managed)
	if r.Trailer != nil {
		// Announced trailers: refuse managed names, here and on optional
		// routes alike, and strip undeclared ones when the body ends.
		trailerManaged = trailerManaged || trailerNamesManaged(r.Trailer, managed)
		if !trailerManaged && r.Body != nil && r.Body != http.NoBody {
			r.Body = &trailerStripper{ReadCloser: r.Body, trailer: r.Trailer, managed: managed}
		}
	}
	if trailerManaged {
		return caddyhttp.Error(http.StatusBadRequest,
			errors.New("the request announces a trailer that claimgate_verify manages"))
	}

	raw, present, err := token.BearerFromHeader(r.Header)
	if err != nil {
		v.count(outcomeInvalid)
		return v.reject(w, v.challengeInvalid, http.StatusUnauthorized, err)
	}
	if !present {
		if v.browser != nil {
			return v.serveBrowser(w, r, next)
		}
		if v.Optional {
			v.count(outcomeAnonymous)
			setAnonymousPlaceholders(r)
			stripSessionCookies(r.Header)
			return next.ServeHTTP(w, r)
		}
		v.count(outcomeMissing)
		return v.reject(w, v.challengeMissing, http.StatusUnauthorized, errors.New("no bearer token"))
	}

	claims, err := v.verifier.Verify(r.Context(), raw)
	if err != nil {
		if c := v.logger.Check(zapcore.DebugLevel, "rejected bearer token"); c != nil {
			c.Write(zap.String("token_sha256", tokenFingerprint(raw)), zap.Error(err))
		}
		v.logAudienceMismatch(err)
		v.count(outcomeInvalid)
		return v.reject(w, v.challengeInvalid, http.StatusUnauthorized, err)
	}
	return v.forward(w, r, next, claims)
}

// forward checks the requirements on verified claims, sets the headers and
// placeholders, and calls next: the end of both a bearer token's and a
// browser session's way through.
func (v *Verify) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, claims map[string]any) error {
	for _, req := range v.Require {
		if !claimContains(req.Claim, claims[req.Claim], req.Value) {
			v.count(outcomeForbidden)
			return v.reject(w, v.challengeScope, http.StatusForbidden,
				fmt.Errorf("claim %s does not hold %q", req.Claim, req.Value))
		}
	}

	v.count(outcomeOK)
	v.setHeaders(r.Header, claims)
	setClaimPlaceholders(r, claims)
	// claimgate's own cookies are no business of the app's, on every path
	// (no allocation unless one is there).
	stripSessionCookies(r.Header)
	return next.ServeHTTP(w, r)
}

// logAudienceMismatch logs at INFO, at most once a minute, a valid token
// whose aud lacks this handler's audience: that is almost always a
// configuration mistake (this audience, or the client's), which an operator
// must see without turning on debug — while a client repeating it on every
// request must not flood the log.
func (v *Verify) logAudienceMismatch(err error) {
	if !token.IsAudienceMismatch(err) || !v.audienceLog.Allow() {
		return
	}
	v.logger.Info("bearer token for another audience refused (check claimgate_verify's audience and the client's audiences; logged once a minute)",
		zap.String("audience", v.Audience))
}

// reject sets the RFC 6750 challenge and returns the error through
// caddyhttp.Error, so handle_errors can render it.
func (v *Verify) reject(w http.ResponseWriter, challenge string, status int, err error) error {
	w.Header().Set("WWW-Authenticate", challenge)
	return caddyhttp.Error(status, err)
}

// setHeaders sets each configured header whose claim is present. A value
// that would be unsafe or ambiguous is not sent (see headerValue), and the
// first refusal for each header and reason is logged, by claim name only.
func (v *Verify) setHeaders(h http.Header, claims map[string]any) {
	if len(v.headers) == 0 {
		return
	}
	// One backing array for every header's value slice.
	values := make([]string, len(v.headers))
	for i := range v.headers {
		fh := &v.headers[i]
		s, problem := headerValue(claims[fh.claim], fh.json)
		switch problem {
		case valueOK:
			values[i] = s
			h[fh.key] = values[i : i+1 : i+1]
		case valueAbsent:
		default:
			v.warnOnce(fh, problem)
		}
	}
}

// warnOnce logs the first refusal of fh's value for problem; later ones are
// silent, so a user cannot fill the log by putting a control character in
// their own metadata.
func (v *Verify) warnOnce(fh *forwardedHeader, problem valueProblem) {
	bit := uint32(1) << problem
	if fh.warned.Load()&bit != 0 || fh.warned.Or(bit)&bit != 0 {
		return
	}
	msg := "claim value holds a control character; header not sent (logged once per header)"
	if problem == valueListComma {
		msg = "claim is a list with an element holding ','; header not sent (logged once per header)"
	}
	v.logger.Warn(msg, zap.String("claim", fh.claim), zap.String("header", fh.key))
}

// userPlaceholderPrefix starts the placeholders of the verified claims.
const userPlaceholderPrefix = "http.auth.user."

// setClaimPlaceholders offers {http.auth.user.id} (sub) and
// {http.auth.user.<claim>} for every claim, as Caddy's own authentication
// handler does; the access log reads http.auth.user.id for user_id. The
// values are converted lazily, only when a placeholder is used.
//
// A claim the token lacks is known and empty: an unknown placeholder is
// left as its own text by ReplaceKnown, which header_up uses, so the
// upstream would receive the text "{http.auth.user.org_id}" as a value.
func setClaimPlaceholders(r *http.Request, claims map[string]any) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	repl.Map(func(key string) (any, bool) {
		name, ok := strings.CutPrefix(key, userPlaceholderPrefix)
		if !ok {
			return nil, false
		}
		if name == "id" {
			name = "sub"
		}
		s, _ := claimString(claims[name])
		return s, true
	})
}

// setAnonymousPlaceholders makes every {http.auth.user.*} the empty string
// for a request let through without a token (optional), for the reason
// given at setClaimPlaceholders.
func setAnonymousPlaceholders(r *http.Request) {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Map(anonymousPlaceholder)
	}
}

func anonymousPlaceholder(key string) (any, bool) {
	if strings.HasPrefix(key, userPlaceholderPrefix) {
		return "", true
	}
	return nil, false
}

// tokenFingerprint identifies a token in logs without revealing it: the first
// 12 hex digits of its SHA-256.
func tokenFingerprint(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:6])
}

// quoteEscape escapes s for an RFC 9110 quoted-string.
func quoteEscape(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

// checkAbsoluteURL accepts an absolute http(s) URL with a host.
func checkAbsoluteURL(s string) error { return httpurl.CheckAbsolute(s) }

// Interface guards
var (
	_ caddy.Provisioner           = (*Verify)(nil)
	_ caddy.Validator             = (*Verify)(nil)
	_ caddy.CleanerUpper          = (*Verify)(nil)
	_ caddyhttp.MiddlewareHandler = (*Verify)(nil)
)
