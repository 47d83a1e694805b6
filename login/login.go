package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

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
// discovery and JWKS endpoints of the `claimgate` app. Other paths go to the
// next handler.
type Login struct {
	app      *App
	logger   *zap.Logger
	userinfo *token.Verifier
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
	app, ok := appIface.(*App)
	if !ok {
		return fmt.Errorf("the claimgate app has an unexpected type %T", appIface)
	}
	return l.setup(app, logger)
}

// setup wires the handler to a provisioned app (Provision, and tests).
func (l *Login) setup(app *App, logger *zap.Logger) error {
	l.app = app
	l.logger = logger
	v, err := token.NewVerifier(token.VerifierConfig{
		Issuer:      app.Issuer,
		RequireType: jwtTypeAccess,
		AnyAudience: true, // see serveUserinfo
		Leeway:      userinfoLeeway,
		Keys:        app.KeySource(),
	})
	if err != nil {
		return fmt.Errorf("building the userinfo token verifier: %w", err)
	}
	l.userinfo = v
	return nil
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
	default:
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
	case e.cause != nil || e.code == codeInvalidGrant || e.code == codeAccessDenied || e.code == codeTooManyAttempts:
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
	for _, m := range methods {
		if r.Method == m {
			return true
		}
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

// clientIP is the end user's IP for brute-force accounting: the header a
// confidential client is trusted to set (trust_forwarded_for), else Caddy's
// client IP (which honours trusted_proxies), else the peer address.
func clientIP(r *http.Request, auth clientAuth) string {
	if auth.secret && auth.client.forwardedFor != "" {
		v, _, _ := strings.Cut(r.Header.Get(auth.client.forwardedFor), ",")
		if ip := net.ParseIP(strings.TrimSpace(v)); ip != nil {
			return ip.String()
		}
	}
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// logUsername is how a username appears in logs: a short hash, so that
// failures can be correlated without writing what may be a mistyped
// password (users do type passwords into the username field).
func logUsername(username string) zap.Field {
	sum := sha256.Sum256([]byte(username))
	return zap.String("username_sha256", hex.EncodeToString(sum[:6]))
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Login)(nil)
	_ caddyhttp.MiddlewareHandler = (*Login)(nil)
)
