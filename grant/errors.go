package grant

import (
	"errors"
	"fmt"
	"time"

	"github.com/claimgate/claimgate/enrich"
	"github.com/claimgate/claimgate/store"
)

// The outcomes of a grant that are not tokens. The HTTP layer maps each to
// its OAuth error once; the flows never think in status codes.
var (
	// ErrBadCredentials is every bad-credentials case alike: unknown user,
	// wrong password, blocked account, a password bcrypt cannot check, an
	// unknown hash format. Which one it was is logged, never answered.
	ErrBadCredentials = errors.New("wrong username or password")
	// ErrNotMember is a login for an organization the user is not in.
	ErrNotMember = errors.New("the user is not a member of the organization")
	// ErrInvalidRefresh is every refusal of a refresh token: unknown,
	// expired, idle, revoked, reused, another client's, or its user may no
	// longer have tokens.
	ErrInvalidRefresh = errors.New("unknown or invalid refresh token")
	// ErrRefreshReused is a refresh token presented again after it was
	// rotated: its family is revoked (a stolen copy is in use, or a client
	// raced itself). It is also an ErrInvalidRefresh.
	ErrRefreshReused = store.ErrRefreshReused
	// ErrInvalidScope is a requested scope the client may not have.
	ErrInvalidScope = errors.New("scope not allowed")
	// ErrClaimsTooLarge is a token whose custom claims exceed the limit.
	ErrClaimsTooLarge = enrich.ErrClaimsTooLarge
	// ErrMisconfigured is a grant the user store cannot serve because a
	// configured query does not fit the database (store.ErrMisconfigured):
	// the operator's to fix, so not answered as an outage to retry.
	ErrMisconfigured = errors.New("the user store is misconfigured")
)

// Refusal is a domain error with the fixed text the client is shown.
type Refusal struct {
	// Err is the sentinel (ErrInvalidScope…).
	Err error
	// Description is the text for the client; never client input.
	Description string
}

func (r *Refusal) Error() string { return r.Err.Error() + ": " + r.Description }

func (r *Refusal) Unwrap() error { return r.Err }

// DeniedError is a login a deny rule refused. Message is the rule's text,
// shown to the client; when Cause is set the rule failed to evaluate and
// the login is refused all the same (fail closed) with a generic message.
type DeniedError struct {
	Message string
	Cause   error
}

func (e *DeniedError) Error() string {
	if e.Cause != nil {
		return "access denied: " + e.Cause.Error()
	}
	return "access denied: " + e.Message
}

func (e *DeniedError) Unwrap() error { return e.Cause }

// BlockedError is a login refused by brute-force protection.
type BlockedError struct {
	// RetryAfter is when the block ends (at least one second).
	RetryAfter time.Duration
	// Reason says which limit, as store.Block names it: "user_ip" (the
	// user's failures from this IP), "account" (account_lockout: from every
	// IP) or "ip" (the IP's daily budget).
	Reason string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("too many failed attempts (%s); retry after %s", e.Reason, e.RetryAfter)
}

// UnavailableError is a grant that cannot be answered now: the database is
// down, the hashing guard is saturated, no signing key exists yet.
type UnavailableError struct {
	// Description is the text for the client.
	Description string
	// RetryAfter is the suggested wait.
	RetryAfter time.Duration
	// Err is the cause, for the log.
	Err error
}

func (e *UnavailableError) Error() string {
	if e.Err != nil {
		return e.Description + ": " + e.Err.Error()
	}
	return e.Description
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Retry-After values: a database outage tends to last longer than a burst
// that saturates the hashing guard.
const (
	retryAfterUnavailable = 5 * time.Second
	retryAfterSaturated   = 2 * time.Second
)

// unavailable is the answer while the user database cannot be used, or
// ErrMisconfigured when it is up but a configured query does not fit it.
func unavailable(err error) error {
	if errors.Is(err, store.ErrMisconfigured) {
		return fmt.Errorf("%w: %w", ErrMisconfigured, err)
	}
	return &UnavailableError{Description: "The user database is unavailable.", RetryAfter: retryAfterUnavailable, Err: err}
}

// stateUnavailable is the fail-closed answer when claimgate's own tables
// cannot be read or written.
func stateUnavailable(err error) error {
	return &UnavailableError{Description: "The login service is temporarily unavailable.", RetryAfter: retryAfterUnavailable, Err: err}
}

// mintUnavailable is the answer when a token cannot be made right now.
func mintUnavailable(description string, err error) error {
	return &UnavailableError{Description: description, RetryAfter: retryAfterUnavailable, Err: err}
}

// CredentialsFailure says which bad-credentials case a CredentialsError
// is: for the log and the audit events, never for the client.
type CredentialsFailure uint8

// The bad-credentials cases.
const (
	// UnknownUser: the login name matched no user.
	UnknownUser CredentialsFailure = iota + 1
	// WrongPassword: the password does not match (or is too long for the
	// user's bcrypt hash).
	WrongPassword
	// UserBlocked: the password matched, and the user's blocked column is
	// set.
	UserBlocked
	// UncheckableHash: the stored hash is in no format claimgate checks.
	UncheckableHash
)

// CredentialsError is a bad-credentials answer with its case. errors.Is
// finds ErrBadCredentials and the reason.
type CredentialsError struct {
	Failure CredentialsFailure
	Reason  error
}

func (e *CredentialsError) Error() string { return ErrBadCredentials.Error() + ": " + e.Reason.Error() }

func (e *CredentialsError) Unwrap() []error { return []error{ErrBadCredentials, e.Reason} }

// badCredentials is the bad-credentials answer of failure, with its logged
// reason.
func badCredentials(failure CredentialsFailure, reason error) error {
	return &CredentialsError{Failure: failure, Reason: reason}
}

// UserError is a refusal of a grant whose user is known, or at least named:
// the error it wraps decides the answer, the rest is for the audit events
// only (errors.As finds it; the client never sees it).
type UserError struct {
	// UserID is the user's user_id, when known.
	UserID string
	// NameFingerprint is the keyed fingerprint of a login name that
	// matched no user (never the name itself: users type passwords there).
	NameFingerprint string
	Err             error
}

func (e *UserError) Error() string { return e.Err.Error() }

func (e *UserError) Unwrap() error { return e.Err }

// withUser wraps a refusal of a grant for userID (nil stays nil).
func withUser(userID string, err error) error {
	if err == nil || userID == "" {
		return err
	}
	return &UserError{UserID: userID, Err: err}
}

// invalidRefresh wraps the logged reason of a refused refresh token.
func invalidRefresh(reason error) error {
	return fmt.Errorf("%w: %w", ErrInvalidRefresh, reason)
}
