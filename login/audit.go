package login

import (
	"errors"
	"net/http"

	"github.com/claimgate/claimgate/grant"
	"github.com/claimgate/claimgate/internal/events"
	"github.com/claimgate/claimgate/internal/metrics"
)

// The token endpoint's outcome is known here, once, after the request was
// answered: claimgate_logins_total counts it and one authentication event
// says it (recordExchange). The grant flows measure the rest (hash times,
// blocks, refresh-token reuse) where it happens; the HTTP fields of an event
// (IP, user agent, client) are only known here.

// exchange is what one token request did, filled in as it is handled.
type exchange struct {
	// counted is set once the grant type is one claimgate runs: requests
	// without one are no authentication event.
	counted bool
	grant   metrics.Grant
	// auth is the authenticated client (zero until authentication
	// succeeded).
	auth clientAuth
	// clientID is the request's client_id parameter, named in the event
	// only when it is a configured client.
	clientID string
	// userID is whose tokens were issued.
	userID string
	// err is the grant flow's error, which names the user (grant.UserError)
	// and the case (grant.CredentialsError, grant.BlockedError).
	err error
}

// grantOf is the metrics' grant of a token request's grant_type; ok is
// false for one claimgate does not run.
func grantOf(grantType string) (metrics.Grant, bool) {
	switch grantType {
	case grant.TypePassword, grant.TypePasswordRealm:
		return metrics.GrantPassword, true
	case grant.TypeRefreshToken:
		return metrics.GrantRefreshToken, true
	case grant.TypeAuthorizationCode:
		return metrics.GrantAuthorizationCode, true
	case grant.TypeClientCredentials:
		return metrics.GrantClientCredentials, true
	}
	return 0, false
}

// outcomeOf is the claimgate_logins_total outcome of an answer: by its
// OAuth error, so that every refusal is counted however it arose (a grant's
// domain error, a parameter check, client authentication).
func outcomeOf(e *oauthError) metrics.Outcome {
	switch {
	case e == nil:
		return metrics.OutcomeSuccess
	case e.code == codeInvalidGrant:
		return metrics.OutcomeWrongCredentials
	case e.code == codeTooManyAttempts:
		return metrics.OutcomeBlocked
	case e.code == codeAccessDenied:
		return metrics.OutcomeDenied
	case e.code == codeInvalidClient, e.code == codeUnauthorizedClient:
		return metrics.OutcomeInvalidClient
	case e.status >= http.StatusInternalServerError:
		return metrics.OutcomeUnavailable
	default:
		return metrics.OutcomeInvalidRequest
	}
}

// Event descriptions: fixed text, never client input.
const (
	descLogin            = "Successful login."
	descWrongPassword    = "Wrong password."
	descUnknownUser      = "Unknown user."
	descUserBlocked      = "The user is blocked."
	descUncheckableHash  = "The stored password hash is in a format claimgate cannot check."
	descBlockedUserIP    = "Too many failed logins for this user from this IP."
	descBlockedAccount   = "Too many failed logins for this user (account lockout)."
	descBlockedIP        = "Too many failed logins from this IP."
	descRefreshExchanged = "Refresh token exchanged for new tokens."
	descCodeExchanged    = "Authorization code exchanged for tokens."
	descRefreshReused    = "A rotated refresh token was presented again; its family is revoked."
	descRevoked          = "Refresh token revoked."
	descMachineToken     = "Client credentials exchanged for an access token."
)

// describe is the event type and description of a token request's answer
// e, given the grant's own error err (nil when the request failed before
// the grant ran, or succeeded).
func describe(g metrics.Grant, e *oauthError, err error) (typ, description string) {
	if g == metrics.GrantAuthorizationCode {
		if e == nil {
			return events.TypeSuccessCodeExchange, descCodeExchanged
		}
		return events.TypeFailedCodeExchange, e.description
	}
	if g == metrics.GrantClientCredentials {
		if e == nil {
			return events.TypeSuccessClientCredentials, descMachineToken
		}
		if e.code == codeTooManyAttempts {
			return events.TypeBlockedIP, descBlockedIP
		}
		return events.TypeFailedClientCredentials, e.description
	}
	if g == metrics.GrantRefreshToken {
		switch {
		case e == nil:
			return events.TypeSuccessRefreshExchange, descRefreshExchanged
		case errors.Is(err, grant.ErrRefreshReused):
			return events.TypeRefreshReuse, descRefreshReused
		default:
			return events.TypeFailedRefreshExchange, e.description
		}
	}
	if e == nil {
		return events.TypeSuccessLogin, descLogin
	}
	var (
		creds   *grant.CredentialsError
		blocked *grant.BlockedError
	)
	switch {
	case errors.As(err, &creds):
		switch creds.Failure {
		case grant.UnknownUser:
			return events.TypeUnknownUser, withName(descUnknownUser, err)
		case grant.UserBlocked:
			return events.TypeFailedLogin, descUserBlocked
		case grant.UncheckableHash:
			return events.TypeFailedLogin, descUncheckableHash
		default:
			return events.TypeWrongPassword, descWrongPassword
		}
	case errors.As(err, &blocked):
		switch blocked.Reason {
		case metrics.BlockIP:
			return events.TypeBlockedIP, descBlockedIP
		case metrics.BlockAccount:
			return events.TypeBlockedAccount, withName(descBlockedAccount, err)
		default:
			return events.TypeBlockedAccount, withName(descBlockedUserIP, err)
		}
	case e.code == codeTooManyAttempts:
		// Client authentication past the IP's budget (no grant error).
		return events.TypeBlockedIP, descBlockedIP
	case e.code == codeAccessDenied:
		// A deny rule's message or the membership refusal: configured or
		// fixed text.
		return events.TypeFailedLogin, e.description
	default:
		return events.TypeFailedPasswordExchange, e.description
	}
}

// withName adds to description the keyed fingerprint of a login name that
// matched no user, when err carries one, so that repeated attempts on one
// name can be correlated without the log holding the name (users type
// passwords there). The event has no field of its own for it: its fields
// are Auth0's.
func withName(description string, err error) string {
	var ue *grant.UserError
	if errors.As(err, &ue) && ue.NameFingerprint != "" {
		return description + " Name fingerprint: " + ue.NameFingerprint + "."
	}
	return description
}

// userOf is the user_id a refusal names, if any.
func userOf(err error) string {
	var ue *grant.UserError
	if errors.As(err, &ue) {
		return ue.UserID
	}
	return ""
}

// recordExchange counts a token request's outcome and emits its event.
func (l *Login) recordExchange(r *http.Request, x *exchange, e *oauthError) {
	if !x.counted {
		return
	}
	l.app.Metrics().Login(x.grant, outcomeOf(e))
	ev := events.Event{
		ClientID:  l.knownClientID(x),
		UserID:    x.userID,
		IP:        clientIP(r, x.auth),
		UserAgent: r.UserAgent(),
	}
	ev.Type, ev.Description = describe(x.grant, e, x.err)
	if ev.UserID == "" {
		ev.UserID = userOf(x.err)
	}
	l.app.Events().Emit(ev)
}

// recordLoginPage counts a sign-in through the login page and emits its
// event, as recordExchange does for the password grant (the page is the
// other way in to the same credential check, so its events read alike).
func (l *Login) recordLoginPage(r *http.Request, clientID string, signed *grant.SignedIn, err error) {
	x := &exchange{counted: true, grant: metrics.GrantLoginPage, clientID: clientID, err: err}
	var e *oauthError
	if err != nil {
		e = l.fromGrant(err)
	} else if signed != nil && signed.Session != nil && signed.Session.User != nil {
		x.userID = signed.Session.User.ID
	}
	l.recordExchange(r, x, e)
}

// recordRevocation emits the event of a revoked refresh token.
func (l *Login) recordRevocation(r *http.Request, auth clientAuth) {
	l.app.Events().Emit(events.Event{
		Type:        events.TypeRevocation,
		Description: descRevoked,
		ClientID:    auth.client.ID,
		IP:          clientIP(r, auth),
		UserAgent:   r.UserAgent(),
	})
}

// knownClientID is the client an event names: the authenticated one, or
// the client_id parameter when it names a configured client (an unknown
// value could be anything, a secret pasted into the wrong field included).
func (l *Login) knownClientID(x *exchange) string {
	if x.auth.client != nil {
		return x.auth.client.ID
	}
	if _, ok := l.app.Client(x.clientID); ok {
		return x.clientID
	}
	return ""
}
