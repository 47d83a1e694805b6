package login

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/claimgate/claimgate/grant"
)

// OAuth 2.0 error codes (RFC 6749 §5.2, RFC 8707 §2, Auth0).
const (
	codeInvalidRequest         = "invalid_request"
	codeInvalidClient          = "invalid_client"
	codeInvalidGrant           = "invalid_grant"
	codeUnauthorizedClient     = "unauthorized_client"
	codeUnsupportedGrantType   = "unsupported_grant_type"
	codeInvalidScope           = "invalid_scope"
	codeInvalidTarget          = "invalid_target"
	codeAccessDenied           = "access_denied"
	codeTooManyAttempts        = "too_many_attempts"
	codeTemporarilyUnavailable = "temporarily_unavailable"
	codeServerError            = "server_error"
)

// wrongCredentials is the one description of every bad-credentials case, so
// that unknown users, wrong passwords and blocked accounts look alike.
const wrongCredentials = "Wrong email or password."

// retryAfterUnavailable is the Retry-After of the handler's own 503s.
const retryAfterUnavailable = 5 * time.Second

// oauthError is an error answered as RFC 6749 §5.2 JSON. Its description
// is fixed text (never client input: RFC 6749 limits its characters, and
// echoing input invites injection); cause is logged, never sent.
type oauthError struct {
	status      int
	code        string
	description string
	header      http.Header // extra response headers (Allow, Retry-After, WWW-Authenticate)
	cause       error
}

func (e *oauthError) Error() string {
	if e.cause != nil {
		return e.code + ": " + e.description + ": " + e.cause.Error()
	}
	return e.code + ": " + e.description
}

func (e *oauthError) Unwrap() error { return e.cause }

// withHeader sets an extra response header and returns e.
func (e *oauthError) withHeader(name, value string) *oauthError {
	if e.header == nil {
		e.header = make(http.Header)
	}
	e.header.Set(name, value)
	return e
}

// withCause attaches an error to log and returns e.
func (e *oauthError) withCause(err error) *oauthError {
	e.cause = err
	return e
}

func newOAuthError(status int, code, description string) *oauthError {
	return &oauthError{status: status, code: code, description: description}
}

func errInvalidRequest(description string) *oauthError {
	return newOAuthError(http.StatusBadRequest, codeInvalidRequest, description)
}

func errMethodNotAllowed(allow string) *oauthError {
	return newOAuthError(http.StatusMethodNotAllowed, codeInvalidRequest, "Method not allowed.").
		withHeader("Allow", allow)
}

// errInvalidClient is RFC 6749's 401; a client that tried Basic is told
// which scheme to use again (RFC 6749 §5.2 requires it).
func errInvalidClient(basic bool) *oauthError {
	e := newOAuthError(http.StatusUnauthorized, codeInvalidClient, "Client authentication failed.")
	if basic {
		e.withHeader("WWW-Authenticate", `Basic realm="claimgate"`)
	}
	return e
}

// errWrongCredentials is the uniform bad-credentials answer: 400 by RFC
// 6749, or Auth0's 403 with `errors auth0`.
func errWrongCredentials(auth0 bool) *oauthError {
	status := http.StatusBadRequest
	if auth0 {
		status = http.StatusForbidden
	}
	return newOAuthError(status, codeInvalidGrant, wrongCredentials)
}

func errAccessDenied(description string) *oauthError {
	return newOAuthError(http.StatusForbidden, codeAccessDenied, description)
}

// errUnavailable is a 503 with Retry-After.
func errUnavailable(description string, retryAfter time.Duration) *oauthError {
	return newOAuthError(http.StatusServiceUnavailable, codeTemporarilyUnavailable, description).
		withHeader("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
}

// errTooManyAttempts is a brute-force block: 429 with Retry-After.
func errTooManyAttempts(retryAfter time.Duration) *oauthError {
	secs := int((retryAfter + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return newOAuthError(http.StatusTooManyRequests, codeTooManyAttempts,
		"Too many failed login attempts. Try again later.").
		withHeader("Retry-After", strconv.Itoa(secs))
}

func errServer(description string) *oauthError {
	return newOAuthError(http.StatusInternalServerError, codeServerError, description)
}

// setNoStore sets the headers RFC 6749 §5.1 requires on token responses.
func setNoStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// writeJSON answers status with v as JSON and no caching.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own response types are marshalled; they always encode.
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	setNoStore(h)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// writeOAuthError answers e as RFC 6749 §5.2 JSON.
func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	for name, values := range e.header {
		w.Header()[name] = values
	}
	writeJSON(w, e.status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.code, e.description})
}

// fromGrant maps a grant flow's domain error to its OAuth error: the one
// place where outcomes become status codes. auth0 selects Auth0's 403 for
// bad credentials.
func fromGrant(err error, auth0 bool) *oauthError {
	var (
		refusal     *grant.Refusal
		denied      *grant.DeniedError
		blocked     *grant.BlockedError
		unavailable *grant.UnavailableError
	)
	switch {
	case errors.Is(err, grant.ErrBadCredentials):
		return errWrongCredentials(auth0).withCause(err)
	case errors.As(err, &blocked):
		return errTooManyAttempts(blocked.RetryAfter).withCause(err)
	case errors.Is(err, grant.ErrInvalidCode):
		return newOAuthError(http.StatusBadRequest, codeInvalidGrant, "Invalid authorization code.").withCause(err)
	case errors.Is(err, grant.ErrInvalidRefresh):
		return newOAuthError(http.StatusBadRequest, codeInvalidGrant, "Unknown or invalid refresh token.").withCause(err)
	case errors.As(err, &refusal) && errors.Is(err, grant.ErrInvalidScope):
		return newOAuthError(http.StatusBadRequest, codeInvalidScope, refusal.Description)
	case errors.Is(err, grant.ErrNotMember):
		return errAccessDenied("The user is not a member of the organization.")
	case errors.As(err, &denied) && denied.Cause == nil:
		return errAccessDenied(denied.Message).withCause(err)
	case errors.As(err, &denied):
		// A rule failed to evaluate: refused all the same (fail closed),
		// with a generic message; the cause goes to the log.
		return errAccessDenied("Access denied.").withCause(err)
	case errors.Is(err, grant.ErrMisconfigured):
		// Not a 503: retrying cannot help until the operator fixes the
		// query (the log and /health/ready say which).
		return errServer("The user store is misconfigured.").withCause(err)
	case errors.Is(err, grant.ErrClaimsTooLarge):
		return errServer("The token's claims are too large.").withCause(err)
	case errors.As(err, &unavailable):
		return errUnavailable(unavailable.Description, unavailable.RetryAfter).withCause(err)
	default:
		return errServer("The request could not be completed.").withCause(err)
	}
}
