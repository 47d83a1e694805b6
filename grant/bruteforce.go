package caddymodule

import (
	"context"
	"fmt"

	"github.com/claimgate/claimgate/store"
)

// Brute-force protection (SPEC §5), on the claimgate_ state tables so that
// every instance sharing the database sees the same counts and blocks.
//
// passwordGrant looks the user up first, so that a known user is counted by
// user_id (a respelled login name cannot escape a block) and an unknown name
// by its folded form (store.LoginSubject); then checkBruteForceBlock answers
// 429 before any password hash is spent; then the credentials are checked,
// and recordLoginFailure / recordLoginSuccess update the counts. Only
// bad-credentials answers (invalid_grant) count: deny rules, organization
// membership, 429s and 503s do not.
//
// A failure of the state store fails closed: 503 temporarily_unavailable,
// never a login that skipped the check or went uncounted.

// loginSubject is whose failures a login counts: the user found (nil: no
// such user) or else the name as sent.
func loginSubject(req *passwordRequest, user *store.User) string {
	if user != nil {
		return store.LoginSubject(user.ID, true, req.username)
	}
	return store.LoginSubject("", false, req.username)
}

// checkBruteForceBlock refuses a login from a blocked user+IP pair, an IP
// over its daily budget, or (account_lockout) a blocked user.
func (l *Login) checkBruteForceBlock(ctx context.Context, req *passwordRequest) *oauthError {
	if err := l.app.stateReady(ctx); err != nil {
		return errStateUnavailable(err)
	}
	block, err := l.app.state.CheckBlocked(ctx, req.subject, req.ip, l.app.now(), l.app.protection())
	if err != nil {
		return errStateUnavailable(err)
	}
	if !block.Blocked {
		return nil
	}
	return errTooManyAttempts(block.RetryAfter).withCause(fmt.Errorf("login blocked (%s)", block.Reason))
}

// recordLoginFailure counts a bad-credentials answer against the user+IP
// pair, the user (for account_lockout) and the IP's budget. It returns a
// 503 when the count could not be stored: answering invalid_grant without
// counting would give an attacker unlimited guesses while writes fail.
func (l *Login) recordLoginFailure(ctx context.Context, req *passwordRequest) *oauthError {
	if err := l.app.state.RecordFailure(ctx, req.subject, req.ip, l.app.now(), l.app.protection()); err != nil {
		return errStateUnavailable(fmt.Errorf("counting a failed login: %w", err))
	}
	return nil
}

// recordLoginSuccess resets the user's failure counts from this IP (and
// account-wide). A failure to do so is a 503 too, so that a login answer
// never tells a right password from a wrong one while the state store
// fails.
func (l *Login) recordLoginSuccess(ctx context.Context, req *passwordRequest, user *store.User) *oauthError {
	if err := l.app.state.RecordSuccess(ctx, req.subject, req.ip); err != nil {
		return errStateUnavailable(fmt.Errorf("resetting failure counts of user %s: %w", user.ID, err))
	}
	return nil
}

// errStateUnavailable is the fail-closed answer when claimgate's own tables
// cannot be read or written.
func errStateUnavailable(err error) *oauthError {
	return errUnavailable("The login service is temporarily unavailable.", retryAfterUnavailable).withCause(err)
}
