// Package login is the claimgate_login HTTP handler, which serves every
// endpoint of the claimgate app:
//
//   - token: POST /oauth/token, every grant (token.go, authcode.go,
//     clientcredentials.go);
//   - revocation: POST /oauth/revoke (revoke.go);
//   - userinfo: /userinfo (userinfo.go);
//   - discovery and JWKS: /.well-known/openid-configuration,
//     /.well-known/oauth-authorization-server, /.well-known/jwks.json
//     (discovery.go);
//   - health: /health and /health/ready (health.go);
//   - browser sign-in: /authorize, the /login page and its post,
//     /v2/logout and /oidc/logout (authorize.go, page.go, logout.go);
//   - the management API: /api/v2/… (management.go), with a management
//     block;
//   - sign-up: POST /dbconnections/signup (signup.go), with a management
//     block.
//
// It parses requests, authenticates clients, hands them to the grant
// flows and maps their outcomes to answers once: OAuth errors (errors.go),
// the management API's and sign-up's in Auth0's shapes. Each endpoint
// family has its own file.
package login

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/claimgate/claimgate/app"
	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/token"
)

func init() {
	caddy.RegisterModule(Login{})
}

// Paths served by claimgate_login; every other path goes to the next handler.
const (
	pathToken           = "/oauth/token"
	pathRevoke          = "/oauth/revoke"
	pathJWKS            = "/.well-known/jwks.json"
	pathOpenIDConfig    = "/.well-known/openid-configuration"
	pathOAuthServerMeta = "/.well-known/oauth-authorization-server"
	pathUserinfo        = "/userinfo"
)

// Login is the claimgate_login handler: the token, revocation, userinfo,
// discovery/JWKS and health endpoints of the `claimgate` app, browser
// sign-in (authorize, login page, logout), and, when the app has a
// management block, the management API and sign-up. Other paths go to the
// next handler.
type Login struct {
	app      *app.App
	grants   *grant.Service
	logger   *zap.Logger
	userinfo *token.Verifier
	refusals *refusalLogs // rate limits of the INFO log of configuration-shaped refusals
	// management serves the management API (management.go); nil without
	// a management block.
	management *managementAPI
}

// CaddyModule returns the Caddy module information.
func (Login) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.claimgate_login",
		New: func() caddy.Module { return new(Login) },
	}
}

// Provision finds the `claimgate` app, which must be configured.
func (l *Login) Provision(ctx caddy.Context) error {
	logger := ctx.Logger()
	appIface, err := ctx.AppIfConfigured("claimgate")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return errors.New("claimgate_login needs the claimgate global option (issuer, database, clients), which is not configured")
	}
	if err != nil {
		return fmt.Errorf("getting the claimgate app: %w", err)
	}
	a, ok := appIface.(*app.App)
	if !ok {
		return fmt.Errorf("the claimgate app has an unexpected type %T", appIface)
	}
	return l.Setup(a, logger)
}

// Setup wires the handler to a provisioned app: Provision does it, and
// tests that run the handler without a Caddy config.
func (l *Login) Setup(a *app.App, logger *zap.Logger) error {
	l.app = a
	l.grants = a.Grants()
	l.logger = logger
	l.refusals = newRefusalLogs()
	v, err := token.NewVerifier(token.VerifierConfig{
		Issuer:      a.Issuer,
		RequireType: token.TypeAccessToken,
		AnyAudience: true, // see serveUserinfo
		Keys:        a.KeySource(),
	})
	if err != nil {
		return fmt.Errorf("building the userinfo token verifier: %w", err)
	}
	l.userinfo = v
	return l.setupManagement(a)
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (l *Login) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	switch r.URL.Path {
	case pathToken:
		l.serveToken(w, r)
	case pathRevoke:
		l.serveRevoke(w, r)
	case pathJWKS:
		l.serveJWKS(w, r)
	case pathOpenIDConfig, pathOAuthServerMeta:
		l.serveDiscovery(w, r)
	case pathUserinfo:
		l.serveUserinfo(w, r)
	case pathHealth:
		l.serveHealth(w, r, false)
	case pathHealthReady:
		l.serveHealth(w, r, true)
	case pathSignup:
		if !l.serveSignup(w, r) {
			return next.ServeHTTP(w, r)
		}
	default:
		if l.serveManagement(w, r) {
			return nil
		}
		if l.serveBrowser(w, r) {
			return nil
		}
		return next.ServeHTTP(w, r)
	}
	return nil
}

// answerError logs e (with its cause, never a secret) and writes it.
func (l *Login) answerError(w http.ResponseWriter, r *http.Request, e *oauthError, fields ...zap.Field) {
	level := zapcore.DebugLevel
	switch {
	case e.status >= 500:
		level = zapcore.ErrorLevel
	case e.cause != nil || e.code == codeAccessDenied || e.code == codeTooManyAttempts:
		level = zapcore.InfoLevel
	}
	if c := l.logger.Check(level, "token request refused"); c != nil {
		fields = append(fields,
			zap.String("path", r.URL.Path),
			zap.String("error", e.code),
			zap.Int("status", e.status),
		)
		if e.cause != nil {
			fields = append(fields, zap.NamedError("cause", e.cause))
		}
		c.Write(fields...)
	}
	writeOAuthError(w, e)
}

// requireMethod answers 405 with Allow unless r uses one of methods.
func requireMethod(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	writeOAuthError(w, errMethodNotAllowed(strings.Join(methods, ", ")))
	return false
}

// readParams reads and parses a token or revocation request body.
func readParams(w http.ResponseWriter, r *http.Request) (map[string]string, *oauthError) {
	body, err := readRequestBody(w, r)
	if err != nil {
		return nil, bodyError(err)
	}
	params, err := parseTokenRequest(r.Header.Get("Content-Type"), body)
	if err != nil {
		return nil, bodyError(err)
	}
	return params, nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Login)(nil)
	_ caddyhttp.MiddlewareHandler = (*Login)(nil)
)
