package login

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/claimgate/claimgate/grant"
)

// The management API answers errors in Auth0's shape,
// {"statusCode","error","message","errorCode"}, which Auth0's SDKs read.
// Messages are fixed text; they may name a field or a directive, never echo
// a value.

// Auth0 Management API error codes.
const (
	mgmtInvalidBody        = "invalid_body"
	mgmtInvalidQuery       = "invalid_query_string"
	mgmtInvalidToken       = "invalid_token"
	mgmtInsufficientScope  = "insufficient_scope"
	mgmtInexistentUser     = "inexistent_user"
	mgmtUserExists         = "auth0_idp_error"
	mgmtNotImplemented     = "not_implemented"
	mgmtUnavailable        = "temporarily_unavailable"
	mgmtInternal           = "internal_error"
	mgmtNotFound           = "not_found"
	mgmtMethodNotAllowed   = "method_not_allowed"
	mgmtPayloadTooLarge    = "payload_too_large"
	maxManagementBodyBytes = 256 << 10
)

// mgmtError is a management API error.
type mgmtError struct {
	status  int
	code    string
	message string
	header  http.Header
	cause   error
}

func (e *mgmtError) Error() string { return e.code + ": " + e.message }

func newMgmtError(status int, code, message string) *mgmtError {
	return &mgmtError{status: status, code: code, message: message}
}

func (e *mgmtError) withHeader(name, value string) *mgmtError {
	if e.header == nil {
		e.header = make(http.Header)
	}
	e.header.Set(name, value)
	return e
}

func (e *mgmtError) withCause(err error) *mgmtError {
	e.cause = err
	return e
}

func errMgmtBody(message string) *mgmtError {
	return newMgmtError(http.StatusBadRequest, mgmtInvalidBody, message)
}

func errMgmtQuery(message string) *mgmtError {
	return newMgmtError(http.StatusBadRequest, mgmtInvalidQuery, message)
}

// errMgmtNoToken and errMgmtBadToken are the 401s, with the Bearer
// challenge (RFC 6750 §3).
func errMgmtNoToken() *mgmtError {
	return newMgmtError(http.StatusUnauthorized, mgmtInvalidToken, "Missing authentication").
		withHeader("WWW-Authenticate", `Bearer realm="claimgate"`)
}

func errMgmtBadToken() *mgmtError {
	return newMgmtError(http.StatusUnauthorized, mgmtInvalidToken, "Invalid token").
		withHeader("WWW-Authenticate", `Bearer realm="claimgate", error="invalid_token"`)
}

// errMgmtScope is Auth0's 403: "Insufficient scope, expected any of: X,Y".
func errMgmtScope(anyOf []string) *mgmtError {
	list := ""
	for i, s := range anyOf {
		if i > 0 {
			list += ","
		}
		list += s
	}
	return newMgmtError(http.StatusForbidden, mgmtInsufficientScope, "Insufficient scope, expected any of: "+list).
		withHeader("WWW-Authenticate", `Bearer realm="claimgate", error="insufficient_scope", scope="`+list+`"`)
}

// writeMgmtError answers e in Auth0's shape.
func writeMgmtError(w http.ResponseWriter, e *mgmtError) {
	for name, values := range e.header {
		w.Header()[name] = values
	}
	writeJSON(w, e.status, struct {
		StatusCode int    `json:"statusCode"`
		Error      string `json:"error"`
		Message    string `json:"message"`
		ErrorCode  string `json:"errorCode"`
	}{e.status, http.StatusText(e.status), e.message, e.code})
}

// fromManagement maps a management flow's domain error to its answer: the
// one place where its outcomes become status codes.
func fromManagement(err error) *mgmtError {
	var (
		missing     *grant.StatementMissingError
		policy      *grant.PasswordPolicyError
		input       *grant.InvalidInputError
		unavailable *grant.UnavailableError
	)
	switch {
	case errors.As(err, &missing):
		where := "the management block"
		if missing.Directive == "user_id_query" || missing.Directive == "roles_query" {
			where = "the database block"
		}
		return newMgmtError(http.StatusNotImplemented, mgmtNotImplemented,
			"This endpoint needs "+missing.Directive+" in "+where+" of the claimgate configuration.").withCause(err)
	case errors.Is(err, grant.ErrNoSuchUser):
		return newMgmtError(http.StatusNotFound, mgmtInexistentUser, "The user does not exist.")
	case errors.Is(err, grant.ErrUserExists):
		return newMgmtError(http.StatusConflict, mgmtUserExists, "The user already exists.").withCause(err)
	case errors.As(err, &policy):
		return errMgmtBody("PasswordStrengthError: " + policy.Message)
	case errors.As(err, &input):
		return errMgmtBody(input.Message).withCause(err)
	case errors.As(err, &unavailable):
		return newMgmtError(http.StatusServiceUnavailable, mgmtUnavailable, unavailable.Description).
			withHeader("Retry-After", strconv.Itoa(int(unavailable.RetryAfter.Seconds()))).withCause(err)
	case errors.Is(err, grant.ErrMisconfigured):
		return newMgmtError(http.StatusInternalServerError, mgmtInternal, "The user store is misconfigured.").withCause(err)
	default:
		return newMgmtError(http.StatusInternalServerError, mgmtInternal, "The request could not be completed.").withCause(err)
	}
}
