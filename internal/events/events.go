// Package events writes claimgate's authentication events: one structured
// INFO entry per login, refresh or revocation on the logger
// `claimgate.events`, with Auth0's log event type codes, so that Caddy's own
// `log` configuration can route them to a file or a collector, and an
// operator who leaves Auth0 keeps the audit trail and the dashboards built
// on its codes.
//
// An event carries exactly the fields of Event. It never holds a password,
// a client secret, an authorization code or a token, and a login name that
// matched no user appears only as its keyed fingerprint (in the
// description): users type passwords into the username field.
package events

import (
	"unicode/utf8"

	"go.uber.org/zap"
)

// LoggerName is the name the events are logged under, below the app's
// logger ("claimgate"): a Caddyfile routes them with
// `log { include claimgate.events … }`.
const LoggerName = "events"

// Auth0's log event type codes that claimgate emits.
const (
	// TypeSuccessLogin is a password grant that issued tokens.
	TypeSuccessLogin = "s"
	// TypeWrongPassword is a known user's wrong password.
	TypeWrongPassword = "fp"
	// TypeUnknownUser is a login name that matched no user.
	TypeUnknownUser = "fu"
	// TypeFailedLogin is a login refused after the user was looked up for
	// another reason: the user is blocked, a deny rule, not a member of the
	// organization, a stored hash that cannot be checked.
	TypeFailedLogin = "f"
	// TypeBlockedAccount is a login refused because the user had too many
	// failures from this IP (or, with account_lockout, from anywhere).
	TypeBlockedAccount = "limit_wc"
	// TypeBlockedIP is a request refused because its IP spent its daily
	// failure budget.
	TypeBlockedIP = "limit_mu"
	// TypeFailedPasswordExchange is a password grant refused before the
	// credentials were judged: a malformed request, a client that failed to
	// authenticate or may not use the grant, a scope or audience it may not
	// have, the database or the hashing slots unavailable.
	TypeFailedPasswordExchange = "fepft"
	// TypeSuccessCodeExchange is an authorization code exchanged for
	// tokens.
	TypeSuccessCodeExchange = "seacft"
	// TypeFailedCodeExchange is a refused authorization_code grant.
	TypeFailedCodeExchange = "feacft"
	// TypeSuccessRefreshExchange is a refresh token exchanged for new
	// tokens.
	TypeSuccessRefreshExchange = "sertft"
	// TypeFailedRefreshExchange is a refused refresh grant, reuse aside.
	TypeFailedRefreshExchange = "fertft"
	// TypeRefreshReuse is an already rotated refresh token presented again:
	// its family was revoked.
	TypeRefreshReuse = "ferrt"
	// TypeRevocation is a refresh token revoked at /oauth/revoke.
	TypeRevocation = "srrt"
	// TypeSuccessAPIOperation is a management API write that succeeded
	// (create, update, roles, members, unblock).
	TypeSuccessAPIOperation = "sapi"
	// TypeFailedAPIOperation is a refused management API write.
	TypeFailedAPIOperation = "fapi"
	// TypeDeletedUser is a user deleted through the management API.
	TypeDeletedUser = "du"
	// TypeSuccessClientCredentials is a client_credentials grant that
	// issued an access token.
	TypeSuccessClientCredentials = "seccft"
	// TypeFailedClientCredentials is a refused client_credentials grant.
	TypeFailedClientCredentials = "feccft"
	// TypeSuccessSignup is a user created at /dbconnections/signup.
	TypeSuccessSignup = "ss"
	// TypeFailedSignup is a refused sign-up.
	TypeFailedSignup = "fs"
)

// maxUserAgent bounds the user agent kept in an event: enough for any real
// browser's, not a place to store a client's essay.
const maxUserAgent = 512

// Event is one authentication event.
type Event struct {
	// Type is one of the Type* codes.
	Type string
	// Description is fixed text (never client input, apart from the
	// keyed fingerprint of an unknown login name).
	Description string
	// ClientID is the client that made the request, when it is a
	// configured client (an unknown client_id could be anything, a secret
	// pasted into the wrong field included, so it is left out).
	ClientID string
	// UserID is the user's user_id, when known.
	UserID string
	// IP is the end user's address as brute-force protection counts it.
	IP string
	// UserAgent is the request's User-Agent.
	UserAgent string
}

// Emitter writes events. A nil *Emitter writes nothing.
type Emitter struct {
	logger     *zap.Logger
	connection string
}

// New returns an Emitter that logs below parent (the app's logger) as
// LoggerName, naming connection (the database block's `name`) in every
// event.
func New(parent *zap.Logger, connection string) *Emitter {
	if parent == nil {
		parent = zap.NewNop()
	}
	return &Emitter{logger: parent.Named(LoggerName), connection: connection}
}

// Emit writes ev at INFO.
func (e *Emitter) Emit(ev Event) {
	if e == nil {
		return
	}
	c := e.logger.Check(zap.InfoLevel, "authentication event")
	if c == nil {
		return
	}
	fields := make([]zap.Field, 0, 7)
	fields = append(fields,
		zap.String("type", ev.Type),
		zap.String("description", ev.Description),
		zap.String("client_id", ev.ClientID),
	)
	if ev.UserID != "" {
		fields = append(fields, zap.String("user_id", ev.UserID))
	}
	fields = append(fields,
		zap.String("ip", ev.IP),
		zap.String("user_agent", truncate(ev.UserAgent, maxUserAgent)),
		zap.String("connection", e.connection),
	)
	c.Write(fields...)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
