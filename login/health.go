package login

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/claimgate/claimgate/internal/ratelog"
)

// Health endpoints: no authentication, and nothing in the body beyond the
// three fields, so that they can be open to a load balancer.
const (
	// pathHealth is liveness: 200 whenever the process serves requests,
	// even with the database down (restarting would not bring it back).
	pathHealth = "/health"
	// pathHealthReady is readiness: 503 while logins cannot be served.
	pathHealthReady = "/health/ready"
)

// healthBody is the body of both endpoints.
type healthBody struct {
	Status     string `json:"status"`
	Database   string `json:"database"`    // ok, unavailable, misconfigured
	SigningKey string `json:"signing_key"` // ok, missing
}

// serveHealth answers /health and /health/ready from the app's health as
// kept in memory: a probe never costs a database round trip.
func (l *Login) serveHealth(w http.ResponseWriter, r *http.Request, ready bool) {
	if !requireMethod(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	h := l.app.Health()
	status := http.StatusOK
	if ready && !h.Ready() {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, healthBody{Status: "ok", Database: h.Database, SigningKey: h.SigningKey})
}

// configRefusalLogInterval bounds how often a refusal that points at the
// configuration is logged at INFO (it is at DEBUG on every request).
const configRefusalLogInterval = time.Minute

// refusalLogs are the rate limits of the refusals that point at the
// configuration, one per kind.
type refusalLogs struct {
	audience *ratelog.Limiter
}

func newRefusalLogs() *refusalLogs {
	return &refusalLogs{audience: ratelog.New(configRefusalLogInterval)}
}

// maxLoggedAudience bounds the audience as logged: it is client input.
const maxLoggedAudience = 256

// logAudienceRefused logs, at INFO and at most once a minute, a client
// asking for an audience it is not configured for: most often the
// client's audience list lacks an API, which only the operator can fix.
func (l *Login) logAudienceRefused(clientID, audience string) {
	if l.refusals == nil || !l.refusals.audience.Allow() {
		return
	}
	if len(audience) > maxLoggedAudience {
		audience = audience[:maxLoggedAudience] + "…"
	}
	l.logger.Info("client asked for an audience it is not configured for (invalid_target); "+
		"add it to the client's audience list if it should be allowed (logged at most once a minute)",
		zap.String("client_id", clientID), zap.String("audience", audience))
}
